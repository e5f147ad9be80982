"""syncd as cron runs it: real processes, kill -9, the lock, exit codes, `check`."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from studio import ROOT, ZENDESK_TOKEN, Studio

from syncd.lock import CycleLock

pytestmark = pytest.mark.redmine


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _pending_effects(studio: Studio) -> list[str]:
    if not studio.state_path.exists():
        return []
    db = sqlite3.connect(f"file:{studio.state_path}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in db.execute("SELECT key FROM effects WHERE status = 'pending'")]
    except sqlite3.OperationalError:  # schema not there yet
        return []
    finally:
        db.close()


@pytest.mark.parametrize(
    "stall",
    [
        # Killed while the link note is on its way: the emulator applies it *after* the kill
        # (the request was in flight), the way a real server would.
        "PUT /api/v2/tickets/",
        # Killed before anything was written.
        "GET /api/v2/incremental/",
    ],
)
def test_kill_9_mid_cycle_then_a_clean_recovery(studio: Studio, stall: str):
    tickets = [studio.ticket(f"Crash test {n}") for n in range(3)]
    studio.emu.advance(61)
    method, path = stall.split(" ", 1)
    studio.emu.inject_fault(match=f"^{method} {path}", delay=2, times=1)
    proc = studio.popen("sync")
    if method == "PUT":
        _wait_for(lambda: any(k.startswith("ticket_linked:") for k in _pending_effects(studio)))
        time.sleep(0.5)  # inside the stalled request
    else:
        time.sleep(1.5)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    studio.emu.clear_faults()

    studio.sync()  # may defer an interrupted write until it can no longer be in flight
    time.sleep(5.5)  # the studio's Zendesk timeout: after it, a write in flight has landed
    studio.sync()
    studio.sync()

    for t in tickets:
        assert len(studio.issue_for(t)) == 1, f"ticket {t}"
        replies = [c for c in studio.comments(t, public=True) if "in work" in c["body"]]
        notes = studio.comments(t, public=False)
        assert len(replies) == 1, f"ticket {t}: {replies}"
        assert len(notes) == 1, f"ticket {t}: {notes}"
    assert len(studio.issues()) == 3
    store = studio.store()
    assert store.pending_effects() == []
    assert store.failures() == []
    store.close()


def test_a_second_sync_while_one_runs_exits_75_at_once(studio: Studio):
    studio.state_path.parent.mkdir(parents=True, exist_ok=True)
    with CycleLock(studio.state_path):
        started = time.monotonic()
        proc = studio.popen("sync")
        _out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    assert proc.returncode == 75, err
    assert "another syncd is running" in err
    assert elapsed < 10


def test_broken_config_exits_78_naming_file_and_key(tmp_path):
    bad = tmp_path / "syncd.toml"
    bad.write_text('[zendesk]\nurl = "acme.zendesk.com"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "--config", str(bad), "sync"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 78
    assert str(bad) in proc.stderr and "[zendesk] url" in proc.stderr
    assert "http://" in proc.stderr


def test_check_passes_on_a_good_setup_and_names_each_problem(studio: Studio):
    code, out = studio.syncd("check")
    assert code == 0, out
    assert "all checks passed" in out

    studio.write_config(issue_field_id=999999)
    code, out = studio.syncd("check")
    assert code == 69
    assert "[zendesk] issue_field_id = 999999: no such ticket field" in out


def test_secrets_never_reach_the_output(studio: Studio):
    studio.ticket("Secret keeper")
    studio.emu.advance(61)
    proc = studio.popen("sync")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    for secret in (ZENDESK_TOKEN, studio.redmine.api_key):
        assert secret not in out and secret not in err
    assert studio.config_path.read_text().count(ZENDESK_TOKEN) == 0
    assert oct(studio.state_path.stat().st_mode & 0o777) == "0o600"
    # Logs are JSON lines under cron (stderr is not a terminal).
    first = next(line for line in err.splitlines() if line.strip())
    assert first.startswith("{") and '"event"' in first


def test_daemon_runs_cycles_and_stops_cleanly_on_sigterm(studio: Studio):
    ticket = studio.ticket("Daemon work")
    studio.emu.advance(61)
    log = studio.tmp / "daemon.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "--config", str(studio.config_path), "run"],
            cwd=ROOT,
            env=studio.env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
        try:
            _wait_for(lambda: '"cycle_finished"' in log.read_text(), timeout=60)
            assert len(studio.issue_for(ticket)) == 1
            # Between ticks the lock is free: a manual cycle runs and duplicates nothing.
            code, out = studio.syncd("sync")
            assert code == 0, out
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()
    events = [
        json.loads(line)["event"] for line in log.read_text().splitlines() if line.startswith("{")
    ]
    assert events[0] == "daemon_started" and "daemon_stopping" in events
    assert len(studio.issue_for(ticket)) == 1
    assert len([c for c in studio.comments(ticket, public=True) if "in work" in c["body"]]) == 1


def test_check_names_wrong_credentials_on_each_side(studio: Studio, monkeypatch):
    monkeypatch.setenv("SYNCD_TEST_ZENDESK_TOKEN", "wrong-token")
    monkeypatch.setenv("SYNCD_TEST_REDMINE_KEY", "0" * 40)
    from syncd import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["--config", str(studio.config_path), "check"])
    text = out.getvalue()
    assert code == 69, text
    assert "FAIL  zendesk: Zendesk answered HTTP 401" in text
    assert "FAIL  redmine: Redmine: the API key was refused (401)" in text
    assert "wrong-token" not in text
