"""syncd.logging: secrets masked everywhere, JSON lines on stderr."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

import syncd.logging as slog

SECRET = "zd-TOKEN-0123456789abcdef"
KEY = "rm-key-fedcba9876543210"


@pytest.fixture(autouse=True)
def isolated_logging(monkeypatch: pytest.MonkeyPatch):
    """Own secret registry; structlog and the root logger restored afterwards."""
    monkeypatch.setattr(slog, "_SECRETS", set())
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def mask(event: dict) -> dict:
    return slog.mask_secrets(None, "info", event)


# ---------------------------------------------------------------------- mask_secrets
def test_base64_forms_are_masked_too() -> None:
    """A server's error page may echo the Authorization header: Zendesk's basic auth is
    base64("email/token:TOKEN"), SMTP AUTH PLAIN base64("\\0user\\0password")."""
    import base64

    slog.register_secret(SECRET)
    header = base64.b64encode(f"agent@studio.example/token:{SECRET}".encode()).decode()
    plain = base64.b64encode(f"\0billing\0{SECRET}".encode()).decode()
    alone = base64.b64encode(SECRET.encode()).decode()
    out = mask({"event": f"500: Authorization: Basic {header}; AUTH PLAIN {plain}; {alone}"})
    for form in (header, plain, alone, SECRET):
        assert form not in out["event"]
    # What is left of the header can't give the token back.
    for left in out["event"].replace("***", " ").split():
        try:
            decoded = base64.b64decode(left + "===", validate=False)
        except ValueError:
            continue
        assert SECRET[:6].encode() not in decoded
    assert slog.scrub(f"x{alone}y") == "x***y"


def test_mask_replaces_secrets_wherever_they_hide() -> None:
    slog.register_secret(SECRET)
    slog.register_secret(KEY)
    event = {
        "event": f"GET https://acme.zendesk.com/api/v2?token={SECRET}",
        "headers": {"Authorization": f"Basic {SECRET}", "nested": {"deep": [KEY, "ok"]}},
        "args": (f"x{KEY}y", 5, None),
        "both": f"{SECRET}/{KEY}/{SECRET}",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
    }
    out = mask(event)
    assert out == {
        "event": "GET https://acme.zendesk.com/api/v2?token=***",
        "headers": {"Authorization": "Basic ***", "nested": {"deep": ["***", "ok"]}},
        "args": ("x***y", 5, None),
        "both": "***/***/***",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
    }
    assert type(out["args"]) is tuple
    assert SECRET not in repr(out) and KEY not in repr(out)
    # the caller's event is not modified in place
    assert event["headers"]["Authorization"] == f"Basic {SECRET}"


def test_nothing_registered_changes_nothing() -> None:
    event = {"event": "hello", "data": {"a": ["b", 1]}}
    assert mask(event) == event


@pytest.mark.parametrize("short", ["", "abc"])
def test_short_or_empty_secrets_are_not_registered(short: str) -> None:
    slog.register_secret(short)
    assert not slog._SECRETS
    assert mask({"event": "abc abc"}) == {"event": "abc abc"}


# ---------------------------------------------------------------------- configure
def _lines(err: str) -> list[dict]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # each line must be one JSON object


def test_json_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    slog.configure(json=True)
    slog.register_secret(SECRET)
    log = structlog.get_logger("syncd.test")
    log.info("first_event", ticket=17, text="line one\nline two", token=SECRET)
    log.warning("second_event", detail={"auth": f"Bearer {SECRET}"}, word="Привет")
    log.debug("not_shown")

    out, err = capsys.readouterr()
    assert out == ""
    records = _lines(err)
    assert len(records) == 2
    first, second = records
    assert first["event"] == "first_event"
    assert first["level"] == "info"
    assert first["ticket"] == 17
    assert first["text"] == "line one\nline two"
    assert first["token"] == "***"
    assert first["timestamp"].endswith("Z")
    assert second["level"] == "warning"
    assert second["detail"] == {"auth": "Bearer ***"}
    assert second["word"] == "Привет"
    assert "Привет" in err  # ensure_ascii=False: readable in journald
    assert SECRET not in err


def test_level_filter(capsys: pytest.CaptureFixture[str]) -> None:
    slog.configure(json=True, level="warning")
    log = structlog.get_logger("syncd.test")
    log.info("quiet")
    log.error("loud")
    records = _lines(capsys.readouterr().err)
    assert [r["event"] for r in records] == ["loud"]
    assert records[0]["level"] == "error"


def test_debug_level_shows_debug(capsys: pytest.CaptureFixture[str]) -> None:
    slog.configure(json=True, level="debug")
    structlog.get_logger().debug("detail")
    assert [r["event"] for r in _lines(capsys.readouterr().err)] == ["detail"]


def test_exception_traceback_is_one_line_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    slog.configure(json=True)
    slog.register_secret(SECRET)
    log = structlog.get_logger()
    try:
        raise RuntimeError(f"401 for token {SECRET}")
    except RuntimeError:
        log.exception("request_failed")
    err = capsys.readouterr().err
    records = _lines(err)
    assert len(records) == 1
    assert records[0]["event"] == "request_failed"
    assert "RuntimeError: 401 for token ***" in records[0]["exception"]
    assert SECRET not in err


def test_console_renderer_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    slog.configure(json=False)
    slog.register_secret(SECRET)
    structlog.get_logger().info("calling", url=f"https://x/?t={SECRET}")
    err = capsys.readouterr().err
    assert "calling" in err
    assert "***" in err
    assert SECRET not in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.strip().splitlines()[0])
