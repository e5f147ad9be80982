"""A small HTTP-aware TCP fault proxy for the reliability tests (issue 5).

It listens on 127.0.0.1:<free port> and forwards to an upstream host:port (the real Redmine, or
the Zendesk emulator), and a test switches what it does at runtime:

- ``pass``: forward and relay the answer (the default when no rule matches);
- ``reset``: read the request, then close with RST (SO_LINGER 0);
- ``hang``: accept the request and never answer (the client's read timeout fires);
- ``html``: answer an nginx-style HTML error page (502 unless ``status`` says otherwise);
- ``status``: answer ``status`` with a small JSON body (500, 429 with ``retry_after``, …);
- ``truncate``: forward, then send the upstream answer cut in half. With ``length="full"`` the
  headers announce the whole body and the connection drops half way (a transport error); with
  ``length="cut"`` the headers announce the cut body, so the client gets a "complete" answer
  whose JSON is cut short (a broken buffering proxy);
- ``refuse()`` / ``accept()``: stop listening (connections are refused by the kernel) and open
  again on the same port.

Rules apply to requests whose request line ("METHOD /path?query") matches ``match``, for the
next ``times`` such requests (None: until cleared); the first matching rule wins. With
``forward=True`` a ``reset``/``hang``/``html``/``status`` rule sends the request upstream
first, so a write lands and only its answer is lost: what a retry after a gateway timeout has to
cope with. Every request is logged with what was done to it.

Keep-alive: clients (requests/urllib3) reuse connections, so the proxy parses request
boundaries on the client side (Content-Length or chunked bodies) and keeps the client connection
open; upstream it opens one connection per request with ``Connection: close`` and relays the
answer re-framed with a Content-Length. A fault therefore hits exactly one request, never the
next one that happens to share the TCP connection.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

MODES = frozenset({"pass", "reset", "hang", "html", "status", "truncate"})
# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing we redo ourselves.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MAX_LINE = 65536


@dataclass
class Rule:
    mode: str
    match: str = ".*"
    times: int | None = 1
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    retry_after: float | None = None
    forward: bool = False
    length: str = "full"  # truncate: "full" (drop half way) or "cut" (short, valid framing)
    hits: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {sorted(MODES)}")
        if self.length not in ("full", "cut"):
            raise ValueError("length is 'full' or 'cut'")
        re.compile(self.match)  # fail when injected, not on the request that matches


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def line(self) -> str:
        return f"{self.method} {self.target}"

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def keep_alive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class FaultProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 60.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host, self.port = host, port
        self.upstream_timeout = upstream_timeout
        self._rules: list[Rule] = []
        self._log: list[dict] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._clients: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.connections = 0  # accepted TCP connections, for keep-alive checks

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultProxy:
        self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        self._close_listener()
        self._drop_clients()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ test controls
    def inject(self, mode: str, match: str = ".*", **options: object) -> Rule:
        rule = Rule(mode=mode, match=match, **options)  # type: ignore[arg-type]
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forget all rules and let hung requests go (their connections are closed)."""
        with self._lock:
            self._rules.clear()
        self._release.set()
        self._release = threading.Event()

    def refuse(self) -> None:
        """Stop listening: new connections are refused, open ones are reset (a dead host)."""
        self._close_listener()
        self._drop_clients()

    def accept(self) -> None:
        """Listen again on the same port."""
        if not self._accepting.is_set():
            self._listen()

    def log(self, match: str | None = None) -> list[dict]:
        """Every request so far: line, action, status sent, whether it reached upstream."""
        with self._lock:
            entries = [dict(e) for e in self._log]
        return [e for e in entries if match is None or re.search(match, e["line"])]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------------ listening
    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.settimeout(0.05)  # the accept loop looks at refuse()/stop() this often
        self.port = sock.getsockname()[1]  # the same port when reopened
        with self._lock:
            self._listener = sock
        self._accepting.set()

    def _close_listener(self) -> None:
        self._accepting.clear()
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()

    def _drop_clients(self) -> None:
        # shutdown() wakes the thread blocked reading the connection (close() would not); it
        # sees the end of the stream and closes. Pooled client connections find them closed.
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            if not self._accepting.wait(0.05):
                continue
            with self._lock:
                sock = self._listener
            if sock is None:
                continue
            try:
                conn, _addr = sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed under us by refuse()/stop()
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.add(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # ------------------------------------------------------------------ one client connection
    def _serve(self, conn: socket.socket) -> None:
        # Not conn.makefile(): a socket with an open file object is not really closed by
        # close(), and the RST of a reset must go out when we say so.
        rfile = SocketReader(conn)
        try:
            while not self._stopping.is_set():
                request = read_request(rfile)
                if request is None:
                    return
                if not self._handle(conn, request) or not request.keep_alive():
                    return
        except (OSError, ValueError, http.client.HTTPException):
            return  # the client went away or sent garbage: drop the connection
        finally:
            with self._lock:
                self._clients.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _take(self, line: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if re.search(rule.match, line):
                    rule.hits += 1
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
                    return rule
            return None

    def _record(self, request: Request, action: str, status: int | None, forwarded: bool) -> None:
        with self._lock:
            self._log.append(
                {
                    "line": request.line,
                    "action": action,
                    "status": status,
                    "forwarded": forwarded,
                    "at": time.time(),
                }
            )

    def _handle(self, conn: socket.socket, request: Request) -> bool:
        """Serve one request; False when the connection must not be reused."""
        rule = self._take(request.line)
        mode = rule.mode if rule else "pass"
        forwarded = mode in ("pass", "truncate") or bool(rule and rule.forward)
        upstream: Answer | None = None
        if forwarded:
            try:
                upstream = self._forward(request)
            except (OSError, http.client.HTTPException):
                # The upstream itself is down: answer like a gateway would.
                self._record(request, "upstream_failed", 502, False)
                self._send(conn, request, _html_answer(502), keep=False)
                return False
        if mode == "pass":
            assert upstream is not None
            self._record(request, "pass", upstream.status, True)
            return self._send(conn, request, upstream, keep=request.keep_alive())
        assert rule is not None
        if mode == "reset":
            # Logged before acting: the client may look at the log as soon as it sees the RST.
            self._record(request, "reset", None, forwarded)
            _rst(conn)
            return False
        if mode == "hang":
            self._record(request, "hang", None, forwarded)
            self._hang(conn)
            return False
        if mode == "truncate":
            assert upstream is not None
            self._record(request, f"truncate:{rule.length}", upstream.status, True)
            self._send_truncated(conn, upstream, rule.length)
            return False
        answer = _html_answer(rule.status or 502) if mode == "html" else _status_answer(rule)
        if rule.body is not None:
            answer.body = rule.body.encode()
        if rule.content_type:
            answer.headers = [(k, v) for k, v in answer.headers if k.lower() != "content-type"]
            answer.headers.append(("Content-Type", rule.content_type))
        if rule.retry_after is not None:
            answer.headers.append(("Retry-After", str(int(rule.retry_after))))
        self._record(request, mode, answer.status, forwarded)
        return self._send(conn, request, answer, keep=request.keep_alive())

    def _forward(self, request: Request) -> Answer:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=self.upstream_timeout)
        try:
            upstream.putrequest(
                request.method, request.target, skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers:
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(request.body)))
            # One request per upstream connection: its answer ends where the connection does,
            # so a stale or half-read upstream connection can never leak into the next request.
            upstream.putheader("Connection", "close")
            upstream.endheaders(request.body or None)
            response = upstream.getresponse()
            body = response.read()  # de-chunked, whatever the upstream framing was
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return Answer(response.status, response.reason, headers, body)
        finally:
            upstream.close()

    def _send(self, conn: socket.socket, request: Request, answer: Answer, *, keep: bool) -> bool:
        head = [f"HTTP/1.1 {answer.status} {answer.reason}"]
        head += [f"{k}: {v}" for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
        if request.method != "HEAD" and answer.status not in (204, 304):
            head.append(f"Content-Length: {len(answer.body)}")
        head.append("Connection: " + ("keep-alive" if keep else "close"))
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if request.method != "HEAD":
            payload += answer.body
        conn.sendall(payload)
        return keep

    def _send_truncated(self, conn: socket.socket, answer: Answer, length: str) -> None:
        half = answer.body[: len(answer.body) // 2]
        declared = len(answer.body) if length == "full" else len(half)
        head = [f"HTTP/1.1 {answer.status} {answer.reason}"]
        head += [f"{k}: {v}" for k, v in answer.headers]
        head += [f"Content-Length: {declared}", "Connection: close"]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + half)
        if length == "full":
            _rst(conn)  # the rest never comes: the connection drops mid-body

    def _hang(self, conn: socket.socket) -> None:
        """Say nothing until the client gives up (closes), the test releases, or we stop."""
        release = self._release
        conn.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            while not release.is_set() and not self._stopping.is_set():
                if sel.select(0.05):
                    try:
                        if not conn.recv(65536):
                            return  # the client timed out and closed
                    except BlockingIOError:
                        continue
                    except OSError:
                        return


# ---------------------------------------------------------------------- HTTP/1.1 framing
class SocketReader:
    """readline()/read() over recv(), with its own buffer (see FaultProxy._serve)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.conn.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def readline(self, limit: int = MAX_LINE) -> bytes:
        while b"\n" not in self.buffer and len(self.buffer) < limit and self._fill():
            pass
        end = self.buffer.find(b"\n")
        cut = min(limit, len(self.buffer)) if end < 0 else min(end + 1, limit)
        line, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return line

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size and self._fill():
            pass
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def read_request(rfile: SocketReader) -> Request | None:
    """One request from a keep-alive stream; None at a clean end of stream."""
    line = rfile.readline(MAX_LINE)
    while line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 §2.2)
        line = rfile.readline(MAX_LINE)
    if not line:
        return None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3:
        raise ValueError(f"bad request line {line!r}")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(MAX_LINE)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    request = Request(method, target, version, headers, b"")
    if "chunked" in (request.header("Transfer-Encoding") or "").lower():
        request.body = _read_chunked(rfile)
    else:
        length = int(request.header("Content-Length") or 0)
        request.body = rfile.read(length) if length else b""
        if len(request.body) != length:
            raise ValueError("request body cut short")
    return request


def _read_chunked(rfile: SocketReader) -> bytes:
    body = b""
    while True:
        size = int(rfile.readline(MAX_LINE).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return body
        body += rfile.read(size)
        rfile.readline(MAX_LINE)


def nginx_page(status: int) -> str:
    """The error page nginx serves when its upstream fails (also used with the emulator)."""
    return NGINX_PAGE.format(status=status, phrase=http.client.responses.get(status, "Error"))


def _html_answer(status: int) -> Answer:
    phrase = http.client.responses.get(status, "Error")
    body = nginx_page(status).encode()
    return Answer(status, phrase, [("Server", "nginx/1.22.1"), ("Content-Type", "text/html")], body)


def _status_answer(rule: Rule) -> Answer:
    status = rule.status or 500
    phrase = http.client.responses.get(status, "Error")
    body = json.dumps({"error": phrase}).encode()
    return Answer(status, phrase, [("Content-Type", "application/json")], body)


def _rst(conn: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a reset, not a clean close."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass
