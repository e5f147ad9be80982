"""HTTP wire layer: keep-alive handler, fault injection, request log, admin endpoints."""

from __future__ import annotations

import json
import socket
import struct
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .api import Response
from .faults import Fault

if TYPE_CHECKING:
    from .zendesk import ZendeskEmulator

ADMIN_PREFIX = "/_emulator/"


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: ZendeskEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts) or connections we reset on purpose are not errors.
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, like the real API; every answer carries a Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log at /_emulator/requests is the record."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # -- dispatch ---------------------------------------------------------------------------

    def _serve(self) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        raw = self._read_body()
        if split.path.startswith(ADMIN_PREFIX):
            self._send(emulator.admin(self.command, split.path, split.query, raw))
            return
        line = f"{self.command} {split.path}" + (f"?{split.query}" if split.query else "")
        fault = emulator.faults.take(line)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        response = None
        faked = fault is not None and bool(fault.status or fault.reset)
        if not faked or (fault is not None and fault.process):
            response = emulator.api.handle(self.command, split.path, split.query, raw, self.headers)
        if fault is not None and fault.status:
            response = fault_response(fault)
        status = None if fault is not None and fault.reset else response and response.status
        # Log before answering: a client may act on the answer before this thread goes on.
        emulator.log_request(self.command, split.path, split.query, raw, status, fault)
        if response is None or (fault is not None and fault.reset):
            self._reset()
        else:
            self._send(response, truncate=fault is not None and fault.truncate)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- output -----------------------------------------------------------------------------

    def _send(self, response: Response, truncate: bool = False) -> None:
        payload = getattr(response, "raw", None) or response.encoded()
        content_type = response.headers.pop("Content-Type", "application/json; charset=utf-8")
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if truncate:
                # Valid headers, half a body, then the connection drops.
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self._reset()
            else:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0) so the client sees a reset, not a clean close."""
        self.close_connection = True
        try:
            self.wfile.flush()
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
        except OSError:
            pass


class RawResponse(Response):
    """A response whose body is sent verbatim (e.g. an HTML error page from a proxy)."""

    def __init__(self, status: int, raw: bytes, headers: dict[str, str]) -> None:
        super().__init__(status, None, headers)
        self.raw = raw


def fault_response(fault: Fault) -> Response:
    status = int(fault.status or 500)
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(int(fault.retry_after))
    if fault.body is not None:
        looks_json = fault.body.lstrip().startswith(("{", "["))
        default_type = "application/json; charset=utf-8" if looks_json else "text/html"
        headers["Content-Type"] = fault.content_type or default_type
        return RawResponse(status, fault.body.encode(), headers)
    if fault.content_type:
        headers["Content-Type"] = fault.content_type
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    error = "APIRateLimitExceeded" if status == 429 else phrase
    return Response(status, {"error": error}, headers)


def admin_params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


def admin_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
