"""connectors.http (timeouts, bounded safe retries) and the connectors' error mapping/parsing.

`responses` patches HTTPAdapter.send and emulates urllib3's retry decisions without sleeping,
so the retry *decisions* are tested with it; the real retry loop (sleeps, Retry-After, read
timeouts) runs against a tiny http.server on 127.0.0.1.
"""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import responses
import urllib3.util.retry
from redminelib import exceptions as rex
from zenpy.lib.exception import (
    APIException,
    RatelimitBudgetExceeded,
    RecordNotFoundException,
    ZenpyException,
)

from connectors.base import ConnectorError, NotFound
from connectors.http import RETRY_STATUSES, CappedRetry, TimeoutSession, make_session
from connectors.redmine import RedmineConnector, _hours, _time
from connectors.zendesk import ZendeskConnector
from connectors.zendesk import _time as zd_time

URL = "http://api.test/thing"


def fast_session(**kw: Any) -> TimeoutSession:
    return make_session(timeout=kw.pop("timeout", 5.0), backoff=kw.pop("backoff", 0), **kw)


# ---------------------------------------------------------------------- session setup
def test_make_session_mounts_capped_retry() -> None:
    s = make_session(timeout=30, retries=4, retry_after_cap=7.5)
    for scheme in ("http://x", "https://x"):
        retry = s.get_adapter(scheme).max_retries
        assert isinstance(retry, CappedRetry)
        assert (retry.total, retry.connect, retry.read, retry.status) == (4, 4, 4, 4)
        assert retry.retry_after_cap == 7.5
        assert set(retry.status_forcelist) == set(RETRY_STATUSES)
        assert retry.allowed_methods == frozenset({"GET", "HEAD"})
        assert retry.raise_on_status is False
    assert s.timeout == (10.0, 30)
    assert make_session(timeout=3).timeout == (3, 3)


# ---------------------------------------------------------------------- retry decisions
@responses.activate
def test_get_retried_on_503_then_succeeds() -> None:
    responses.get(URL, status=503)
    responses.get(URL, status=503)
    responses.get(URL, status=200, json={"ok": True})
    r = fast_session().get(URL)
    assert r.status_code == 200
    assert r.json() == {"ok": True}
    assert len(responses.calls) == 3


@responses.activate
def test_get_gives_up_after_the_retries() -> None:
    responses.get(URL, status=502)
    r = fast_session(retries=2).get(URL)
    assert r.status_code == 502  # raise_on_status=False: the connector maps the status
    assert len(responses.calls) == 3


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@responses.activate
def test_writes_not_retried_on_503(method: str) -> None:
    responses.add(method, URL, status=503)
    responses.add(method, URL, status=200)
    r = fast_session().request(method, URL, json={"issue": {}})
    assert r.status_code == 503
    assert len(responses.calls) == 1


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
@responses.activate
def test_429_retried_for_any_method(method: str) -> None:
    responses.add(method, URL, status=429, headers={"Retry-After": "0"})
    responses.add(method, URL, status=201)
    r = fast_session().request(method, URL, data="x")
    assert r.status_code == 201
    assert len(responses.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@responses.activate
def test_4xx_not_retried(status: int) -> None:
    responses.get(URL, status=status)
    responses.get(URL, status=200)
    assert fast_session().get(URL).status_code == status
    assert len(responses.calls) == 1


# ---------------------------------------------------------------------- default timeout
@responses.activate
def test_default_timeout_applied_when_none_given() -> None:
    responses.get(URL, status=200)
    responses.post(URL, status=201)
    s = make_session(timeout=30)
    s.get(URL)
    s.post(URL, json={})
    s.request("GET", URL, timeout=None)
    assert [c.request.req_kwargs["timeout"] for c in responses.calls] == [(10.0, 30)] * 3


@responses.activate
def test_explicit_timeout_is_kept() -> None:
    responses.get(URL, status=200)
    make_session(timeout=30).get(URL, timeout=2.5)
    assert responses.calls[0].request.req_kwargs["timeout"] == 2.5


# ---------------------------------------------------------------------- CappedRetry itself
def retry(**kw: Any) -> CappedRetry:
    r = CappedRetry(
        total=kw.pop("total", 3),
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        **kw,
    )
    r.retry_after_cap = 0.01
    return r


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("GET", 503, True),
        ("HEAD", 500, True),
        ("GET", 429, True),
        ("POST", 429, True),
        ("PUT", 429, True),
        ("POST", 503, False),
        ("POST", 500, False),
        ("PUT", 502, False),
        ("GET", 404, False),
        ("POST", 404, False),
        ("GET", 200, False),
    ],
)
def test_is_retry(method: str, status: int, expected: bool) -> None:
    assert retry().is_retry(method, status) is expected


def test_post_503_with_retry_after_is_still_not_retried() -> None:
    assert retry().is_retry("POST", 503, has_retry_after=True) is False


def test_no_429_retry_when_exhausted() -> None:
    assert retry(total=0).is_retry("POST", 429) is False


def _resp(retry_after: str | None) -> SimpleNamespace:
    return SimpleNamespace(headers={} if retry_after is None else {"Retry-After": retry_after})


def test_get_retry_after_is_capped() -> None:
    r = retry()
    assert r.get_retry_after(_resp("3600")) == 0.01
    future = email.utils.formatdate(time.time() + 7200, usegmt=True)
    assert r.get_retry_after(_resp(future)) == 0.01
    assert r.get_retry_after(_resp(None)) is None
    assert r.get_retry_after(_resp("0")) == 0
    r.retry_after_cap = 60.0
    assert r.get_retry_after(_resp("5")) == 5


def test_new_keeps_the_cap() -> None:
    r = retry()
    r.retry_after_cap = 1.25
    n = r.new(total=1)
    assert isinstance(n, CappedRetry)
    assert n.retry_after_cap == 1.25
    assert n.total == 1
    # increment() goes through new(): the cap survives every retry
    after = r.increment(method="GET", url="/x", response=SimpleNamespace(status=503, **_hdr()))
    assert isinstance(after, CappedRetry) and after.retry_after_cap == 1.25
    assert after.total == 2


def _hdr() -> dict[str, Any]:
    return {"headers": {}, "get_redirect_location": lambda: None}


def test_sleep_for_retry_sleeps_the_capped_value(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", slept.append)
    r = retry()
    r.retry_after_cap = 0.01
    assert r.sleep_for_retry(_resp("3600")) is True
    assert slept == [0.01]


# ---------------------------------------------------------------------- a real server
class Script:
    """Answers each request with the next (status, headers, delay) in the list; the last
    answer repeats. Records (method, path) of every request."""

    def __init__(self, answers: list[tuple[int, dict[str, str], float]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def next(self, method: str, path: str) -> tuple[int, dict[str, str], float]:
        with self.lock:
            self.seen.append((method, path))
            i = min(len(self.seen) - 1, len(self.answers) - 1)
            return self.answers[i]


class Server:
    def __init__(self) -> None:
        self.script = Script([(200, {}, 0.0)])
        script_of = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                script = script_of.script
                status, headers, delay = script.next(self.command, self.path)
                if delay:
                    script.release.wait(delay)
                body = f'{{"status": {status}}}'.encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (read timeout)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def answer(self, *answers: tuple[int, dict[str, str], float] | int) -> Script:
        self.script = Script([(a, {}, 0.0) if isinstance(a, int) else a for a in answers])
        return self.script

    def stop(self) -> None:
        self.script.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3's sleeps, recorded instead of slept (the server waits on Events, not sleep)."""
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", slept.append)
    return slept


def test_real_get_503_503_200(server: Server, sleeps: list[float]) -> None:
    script = server.answer(503, 503, 200)
    r = make_session(timeout=5, backoff=0.5).get(server.url + "/issues.json")
    assert r.status_code == 200
    assert script.seen == [("GET", "/issues.json")] * 3
    assert sleeps == [1.0]  # no wait after the first failure, then backoff 0.5 * 2


def test_real_post_503_not_retried(server: Server, sleeps: list[float]) -> None:
    script = server.answer(503, 200)
    r = make_session(timeout=5).post(server.url + "/issues.json", json={"issue": {}})
    assert r.status_code == 503
    assert script.seen == [("POST", "/issues.json")]
    assert sleeps == []


def test_real_post_429_retried_after_retry_after(server: Server, sleeps: list[float]) -> None:
    script = server.answer((429, {"Retry-After": "2"}, 0.0), 201)
    r = make_session(timeout=5).post(server.url + "/tickets", json={})
    assert r.status_code == 201
    assert len(script.seen) == 2
    assert sleeps == [2]


def test_real_retry_after_is_capped(server: Server, sleeps: list[float]) -> None:
    script = server.answer((429, {"Retry-After": "3600"}, 0.0), 200)
    started = time.monotonic()
    r = make_session(timeout=5, retry_after_cap=0.01).put(server.url + "/t", json={})
    assert r.status_code == 200
    assert len(script.seen) == 2
    assert sleeps == [0.01]
    assert time.monotonic() - started < 5


def test_real_404_not_retried(server: Server, sleeps: list[float]) -> None:
    script = server.answer(404, 200)
    assert make_session(timeout=5).get(server.url + "/x").status_code == 404
    assert len(script.seen) == 1


def test_real_read_timeout_retried_for_get(server: Server, sleeps: list[float]) -> None:
    script = server.answer((200, {}, 2.0), (200, {}, 0.0))
    r = make_session(timeout=0.3).get(server.url + "/slow")
    assert r.status_code == 200
    assert len(script.seen) == 2


def test_real_read_timeout_not_retried_for_post(server: Server, sleeps: list[float]) -> None:
    script = server.answer((201, {}, 2.0), (201, {}, 0.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        make_session(timeout=0.3).post(server.url + "/issues.json", json={})
    assert script.seen == [("POST", "/issues.json")]


def test_real_default_timeout_is_enforced(server: Server, sleeps: list[float]) -> None:
    server.answer((200, {}, 2.0))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(timeout=0.2, retries=0).get(server.url + "/slow")
    assert time.monotonic() - started < 1.5


# ---------------------------------------------------------------------- Redmine error mapping
@pytest.fixture(scope="module")
def redmine() -> RedmineConnector:
    return RedmineConnector("http://127.0.0.1:9/", "key")


def raising(exc: BaseException):
    def fn() -> Any:
        raise exc

    return fn


def _redmine_json_error() -> rex.JSONDecodeError:
    return rex.JSONDecodeError(SimpleNamespace(text="<html>502</html>"))


@pytest.mark.parametrize(
    ("exc", "retryable", "status"),
    [
        (rex.AuthError(), False, 401),
        (rex.ForbiddenError(), False, 403),
        (rex.ValidationError("Subject cannot be blank"), False, 422),
        (rex.ServerError(), True, 500),
        (rex.UnknownError(429), True, 429),
        (rex.UnknownError(502), True, 502),
        (rex.UnknownError(503), True, 503),
        (rex.UnknownError(504), True, 504),
        (rex.UnknownError(400), False, 400),
        (rex.UnknownError(418), False, 418),
        (rex.UnknownError("weird"), False, None),
        (_redmine_json_error(), True, None),
        (requests.ConnectionError("refused"), True, None),
        (requests.ReadTimeout("slow"), True, None),
        (requests.exceptions.ChunkedEncodingError("cut"), True, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_redmine_call_maps_errors(
    redmine: RedmineConnector, exc: BaseException, retryable: bool, status: int | None
) -> None:
    with pytest.raises(ConnectorError) as info:
        redmine._call(raising(exc))
    assert info.value.retryable is retryable
    assert info.value.status == status
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, BaseException)
    assert str(info.value).startswith("Redmine")


def test_redmine_not_found(redmine: RedmineConnector) -> None:
    with pytest.raises(NotFound) as info:
        redmine._call(raising(rex.ResourceNotFoundError()))
    assert (info.value.status, info.value.retryable) == (404, False)


def test_redmine_validation_message_is_kept(redmine: RedmineConnector) -> None:
    with pytest.raises(ConnectorError, match="Subject cannot be blank"):
        redmine._call(raising(rex.ValidationError("Subject cannot be blank")))


def test_redmine_call_passes_results_and_other_errors(redmine: RedmineConnector) -> None:
    assert redmine._call(lambda: {"issue": 1}) == {"issue": 1}
    with pytest.raises(KeyError):  # a programming error is not a connector error
        redmine._call(raising(KeyError("x")))


@pytest.mark.parametrize(
    "exc",
    [
        rex.ConflictError(),
        rex.ImpersonateError(),
        rex.RequestEntityTooLargeError(),
        rex.HTTPProtocolError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_redmine_unmapped_library_errors(redmine: RedmineConnector, exc: Exception) -> None:
    with pytest.raises(ConnectorError) as info:
        redmine._call(raising(exc))
    assert info.value.retryable is False


# ---------------------------------------------------------------------- Zendesk error mapping
@pytest.fixture(scope="module")
def zendesk() -> ZendeskConnector:
    return ZendeskConnector("https://acme.zendesk.com", "agent@acme.example", "tok")


def _status(code: int) -> requests.Response:
    r = requests.Response()
    r.status_code = code
    return r


@pytest.mark.parametrize(
    ("exc", "retryable", "status"),
    [
        (RatelimitBudgetExceeded("budget"), True, 429),
        (APIException("boom", response=_status(500)), True, 500),
        (APIException("boom", response=_status(503)), True, 503),
        (APIException("slow down", response=_status(429)), True, 429),
        (APIException("closed ticket", response=_status(422)), False, 422),
        (APIException("bad creds", response=_status(401)), False, 401),
        (APIException("no response"), False, None),
        (requests.HTTPError("bad gateway", response=_status(502)), True, 502),
        (requests.HTTPError("teapot", response=_status(400)), False, 400),
        (requests.HTTPError("nothing"), True, None),
        (requests.ConnectionError("refused"), True, None),
        (requests.ReadTimeout("slow"), True, None),
        (ValueError("Expecting value: line 1 column 1"), True, None),
        (ZenpyException("bad argument"), False, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_zendesk_call_maps_errors(
    zendesk: ZendeskConnector, exc: BaseException, retryable: bool, status: int | None
) -> None:
    with pytest.raises(ConnectorError) as info:
        zendesk._call(raising(exc))
    assert info.value.retryable is retryable
    assert info.value.status == status
    assert str(info.value).startswith("Zendesk")


def test_zendesk_not_found(zendesk: ZendeskConnector) -> None:
    with pytest.raises(NotFound) as info:
        zendesk._call(raising(RecordNotFoundException("gone", response=_status(404))))
    assert (info.value.status, info.value.retryable) == (404, False)


def test_zendesk_long_messages_are_shortened(zendesk: ZendeskConnector) -> None:
    with pytest.raises(ConnectorError) as info:
        zendesk._call(raising(APIException("x\n" * 1000, response=_status(500))))
    assert len(str(info.value)) < 400
    assert "\n" not in str(info.value)


def test_zendesk_call_passes_results(zendesk: ZendeskConnector) -> None:
    assert zendesk._call(lambda: 5) == 5


# ---------------------------------------------------------------------- record parsing
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.5, "2.50"),
        (0.1, "0.10"),
        (0.33333, "0.33"),
        (1, "1.00"),
        ("1.5", "1.50"),
        (0, "0.00"),
        (1234.567, "1234.57"),
    ],
)
def test_redmine_hours(value: Any, expected: str) -> None:
    got = _hours(value)
    assert isinstance(got, Decimal)
    assert str(got) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_redmine_hours_missing(value: Any) -> None:
    assert _hours(value) is None


def test_redmine_hours_sum_exactly() -> None:
    assert _hours(0.1) + _hours(0.2) == Decimal("0.30")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05T09:12:00Z", datetime(2026, 10, 5, 9, 12, tzinfo=UTC)),
        ("2026-10-05T12:12:00+03:00", datetime(2026, 10, 5, 9, 12, tzinfo=UTC)),
    ],
)
def test_redmine_time_is_utc(text: str, expected: datetime) -> None:
    got = _time(text)
    assert got == expected
    assert got.utcoffset() == timedelta(0)
    assert got.tzinfo is UTC


def test_redmine_issue_record(redmine: RedmineConnector) -> None:
    redmine._identifiers = {3: "acme-site"}
    raw = {
        "id": 42,
        "project": {"id": 3, "name": "ACME site"},
        "tracker": {"id": 1, "name": "Bug"},
        "status": {"id": 2, "name": "In Progress"},
        "priority": {"id": 4, "name": "High"},
        "subject": "Fix it",
        "parent": {"id": 40},
        "estimated_hours": 2.5,
        "due_date": "2026-10-31",
        "created_on": "2026-10-05T09:12:00Z",
        "updated_on": "2026-10-05T10:00:00Z",
        "closed_on": None,
        "custom_fields": [
            {"id": 1, "name": "Zendesk ticket", "value": "4711"},
            {"id": 2, "name": "Tags", "multiple": True, "value": ["a", "b"]},
            {"id": 3, "name": "Empty", "value": None},
        ],
    }
    i = redmine._issue(raw)
    assert (i.id, i.project, i.tracker, i.status, i.priority) == (
        42,
        "acme-site",
        "Bug",
        "In Progress",
        "High",
    )
    assert i.description == ""
    assert i.parent_id == 40
    assert i.estimated_hours == Decimal("2.50")
    assert i.due_date == date(2026, 10, 31)
    assert i.closed_on is None
    assert i.created_on == datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    assert i.custom_fields == {1: "4711", 2: "a,b", 3: ""}
    assert i.url == "http://127.0.0.1:9/issues/42"


def test_redmine_time_entry_record(redmine: RedmineConnector) -> None:
    redmine._identifiers = {3: "acme-site"}
    raw = {
        "id": 900,
        "project": {"id": 3, "name": "ACME site"},
        "issue": {"id": 42},
        "user": {"id": 5, "name": "Dev One"},
        "activity": {"id": 9, "name": "Development"},
        "hours": 0.1,
        "comments": None,
        "spent_on": "2026-10-05",
        "created_on": "2026-10-05T09:12:00Z",
        "updated_on": "2026-10-05T12:12:00+03:00",
    }
    e = redmine._time_entry(raw)
    assert (e.id, e.project, e.issue_id, e.user, e.user_id, e.activity) == (
        900,
        "acme-site",
        42,
        "Dev One",
        5,
        "Development",
    )
    assert e.hours == Decimal("0.10") and str(e.hours) == "0.10"
    assert e.spent_on == date(2026, 10, 5)
    assert e.comments == ""
    assert e.updated_on == datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    assert e.custom_fields == {}


def test_redmine_time_entry_without_issue(redmine: RedmineConnector) -> None:
    redmine._identifiers = {3: "acme-site"}
    e = redmine._time_entry(
        {
            "id": 1,
            "project": {"id": 3},
            "hours": 2,
            "spent_on": "2026-10-05",
            "created_on": "2026-10-05T09:12:00Z",
            "updated_on": "2026-10-05T09:12:00Z",
        }
    )
    assert (e.issue_id, e.user, e.user_id, e.activity) == (None, "", None, "")
    assert e.hours == Decimal("2.00")


def test_zendesk_ticket_record(zendesk: ZendeskConnector) -> None:
    raw = {
        "id": 4711,
        "subject": None,
        "raw_subject": "Raw subject",
        "description": "Body",
        "status": "open",
        "type": "incident",
        "priority": None,
        "tags": ["redmine", "vip"],
        "organization_id": 361,
        "requester_id": 1,
        "assignee_id": None,
        "created_at": "2026-10-05T09:12:00Z",
        "updated_at": "2026-10-05T10:00:00Z",
        "due_at": None,
        "custom_fields": [{"id": 360001, "value": "42"}, {"id": 360003, "value": None}],
    }
    t = zendesk._ticket(raw)
    assert (t.id, t.subject, t.description, t.status, t.type, t.priority) == (
        4711,
        "Raw subject",
        "Body",
        "open",
        "incident",
        None,
    )
    assert t.tags == ("redmine", "vip")
    assert t.custom_fields == {360001: "42", 360003: None}
    assert t.created_at == datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    assert t.due_at is None
    assert t.url == "https://acme.zendesk.com/agent/tickets/4711"


def test_zendesk_ticket_record_defaults(zendesk: ZendeskConnector) -> None:
    t = zendesk._ticket(
        {"id": 1, "created_at": "2026-10-05T09:12:00Z", "updated_at": "2026-10-05T09:12:00Z"}
    )
    assert (t.subject, t.description, t.status, t.tags, t.custom_fields) == ("", "", "new", (), {})


def test_zendesk_time() -> None:
    assert zd_time("2026-10-05T09:12:00Z") == datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    naive = zd_time(datetime(2026, 10, 5, 9, 12))
    assert naive.tzinfo is not None and naive == datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    msk = datetime(2026, 10, 5, 12, 12, tzinfo=UTC).astimezone()
    assert zd_time(msk).utcoffset() == timedelta(0)


def test_a_session_can_leave_429_to_its_caller() -> None:
    """Zendesk's: zenpy waits 429s out within ratelimit_budget, so a transport retry under it
    would multiply the requests and the wait (tests/test_reliability_faults.py counts them)."""
    retry = make_session(timeout=5, retry_429=False).get_adapter("http://x").max_retries
    assert 429 not in retry.status_forcelist
    for method in ("GET", "POST"):
        assert retry.is_retry(method, 429, has_retry_after=True) is False
        assert retry.new(total=1).is_retry(method, 429, has_retry_after=True) is False
    assert retry.is_retry("GET", 503) is True
    zendesk = ZendeskConnector("https://acme.zendesk.com", "agent@acme.example", "tok")
    assert zendesk.api.tickets.session.get_adapter("https://x").max_retries.retry_429 is False
    redmine = RedmineConnector("http://127.0.0.1:9/", "key")
    assert redmine.api.engine.session.get_adapter("http://x").max_retries.retry_429 is True


def test_transport_fault_names_what_happened(server: Server, sleeps: list[float]) -> None:
    """requests says "ConnectionError" for most wire faults; the log must say which."""
    from connectors.http import transport_fault

    server.answer((200, {}, 2.0))
    with pytest.raises(requests.RequestException) as slow:
        make_session(timeout=0.2, retries=0).get(server.url + "/slow")
    assert transport_fault(slow.value) == "timed out waiting for the answer"
    with pytest.raises(requests.RequestException) as slow_post:
        make_session(timeout=0.2).post(server.url + "/slow", json={})
    assert transport_fault(slow_post.value) == "timed out waiting for the answer"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # bound once, never listened on: connections to it are refused
    with pytest.raises(requests.RequestException) as refused:
        make_session(timeout=1, retries=1).get(f"http://127.0.0.1:{port}/")
    assert transport_fault(refused.value) == "connection refused"
    assert transport_fault(ValueError("odd")) == "ValueError"
