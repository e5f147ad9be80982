"""The fault proxy itself (tests/fault_proxy.py), against a tiny upstream on 127.0.0.1: each mode
shows the client the symptom it promises, rules honour match/times, keep-alive survives, a
forwarded write reaches the upstream even when its answer is spoiled."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from fault_proxy import FaultProxy

pytestmark = pytest.mark.reliability


class Upstream:
    """Answers JSON naming the request; POST bodies are kept; /chunked answers chunked."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = json.dumps({"path": self.path, "items": list(range(50))}).encode()
                if self.path.startswith("/chunked"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (body[:10], body[10:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                upstream.posts.append(self.rfile.read(length))
                body = b'{"created": true}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    upstream = Upstream()
    p = FaultProxy("127.0.0.1", upstream.port).start()
    p.upstream_server = upstream  # type: ignore[attr-defined]
    yield p
    p.stop()
    upstream.stop()


def test_pass_through_keeps_the_client_connection_alive(proxy: FaultProxy) -> None:
    with requests.Session() as s:
        for i in range(3):
            r = s.get(f"{proxy.url}/a?i={i}", timeout=5)
            assert r.json()["path"] == f"/a?i={i}"
        r = s.get(f"{proxy.url}/chunked", timeout=5)  # re-framed with a Content-Length
        assert r.json()["items"] == list(range(50))
        assert r.headers["Content-Length"] == str(len(r.content))
        r = s.post(f"{proxy.url}/p", data=iter([b"ab", b"cd"]), timeout=5)  # chunked upload
        assert r.status_code == 201
    assert proxy.connections == 1
    assert proxy.upstream_server.posts == [b"abcd"]  # type: ignore[attr-defined]
    assert [e["action"] for e in proxy.log()] == ["pass"] * 5


def test_rules_match_a_request_line_for_n_requests(proxy: FaultProxy) -> None:
    proxy.inject("status", match=r"^GET /x", status=503, times=2)
    with requests.Session() as s:
        assert s.get(f"{proxy.url}/y", timeout=5).status_code == 200
        assert [s.get(f"{proxy.url}/x", timeout=5).status_code for _ in range(3)] == [
            503,
            503,
            200,
        ]
    assert [(e["line"], e["action"]) for e in proxy.log()] == [
        ("GET /y", "pass"),
        ("GET /x", "status"),
        ("GET /x", "status"),
        ("GET /x", "pass"),
    ]
    assert proxy.connections == 1  # an error answer keeps the connection usable


def test_html_error_page_like_nginx(proxy: FaultProxy) -> None:
    proxy.inject("html", status=503, retry_after=7)
    r = requests.get(f"{proxy.url}/z", timeout=5)
    assert r.status_code == 503
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["Retry-After"] == "7"
    assert "<h1>503 Service Unavailable</h1>" in r.text and "nginx" in r.text


def test_reset_is_a_connection_reset(proxy: FaultProxy) -> None:
    proxy.inject("reset")
    with pytest.raises(requests.ConnectionError) as info:
        requests.get(f"{proxy.url}/r", timeout=5)
    assert "reset" in str(info.value).lower()
    assert proxy.log()[0]["action"] == "reset"


def test_forwarded_write_lands_though_its_answer_is_lost(proxy: FaultProxy) -> None:
    proxy.inject("reset", match="^POST", forward=True)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{proxy.url}/p", data=b"once", timeout=5)
    assert proxy.upstream_server.posts == [b"once"]  # type: ignore[attr-defined]
    assert proxy.log()[0] == {**proxy.log()[0], "action": "reset", "forwarded": True}


def test_hang_makes_the_client_time_out(proxy: FaultProxy) -> None:
    proxy.inject("hang")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{proxy.url}/h", timeout=0.3)
    assert time.monotonic() - started < 2
    assert requests.get(f"{proxy.url}/h", timeout=5).status_code == 200  # once only


@pytest.mark.parametrize(
    ("length", "error"),
    [("full", requests.exceptions.ChunkedEncodingError), ("cut", json.JSONDecodeError)],
)
def test_truncate_cuts_the_json(proxy: FaultProxy, length: str, error: type) -> None:
    proxy.inject("truncate", length=length)
    with pytest.raises(error):
        requests.get(f"{proxy.url}/t", timeout=5).json()
    assert proxy.log()[0]["action"] == f"truncate:{length}"


def test_refuse_then_accept_on_the_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    with requests.Session() as s:
        assert s.get(f"{proxy.url}/a", timeout=5).status_code == 200
        proxy.refuse()
        with pytest.raises(requests.ConnectionError):
            s.get(f"{proxy.url}/a", timeout=5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        proxy.accept()
        assert proxy.port == port
        assert s.get(f"{proxy.url}/a", timeout=5).status_code == 200


def test_unknown_mode_is_refused_at_injection(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.inject("explode")
    with pytest.raises(ValueError):
        proxy.inject("truncate", length="most")
