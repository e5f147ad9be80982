"""One cycle at a time (issue 5, concurrency): the flock beside the state file, as cron, the
daemon and people use it at once.

- a second `syncd sync` while one is held mid-cycle exits 75 at once, and the first finishes;
- `syncd run` daemons and manual syncs started together never overlap: the cycles the store
  recorded (start and finish times) are disjoint, and every attempt either ran or stepped aside
  (exit 75, or the daemon's `cycle_skipped`);
- a daemon tick while a manual cycle holds the lock skips its turn;
- while a sync holds the store, the report commands and a dry run exit 75 at once (they read a
  consistent store, under the lock), `status` and `check` answer (they need no lock), and the
  same report runs once the cycle is over.

Who holds the lock is read from /proc/locks, never by taking it: a probe that took the lock
would itself make the process under test exit 75.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from reliability import FULL, figure, patiently
from structlog.testing import capture_logs
from studio import ROOT, Studio

from reports.months import month_of
from syncd.config import load_config
from syncd.scheduler import _tick

pytestmark = [pytest.mark.reliability, pytest.mark.redmine]

AT_ONCE = 2.0  # seconds: "exits 75 at once", Python's start-up included
# The report commands import the renderers (Jinja2, xlsxwriter) before they reach the lock.
REPORT_AT_ONCE = 3.0
PLAN = """
[plans.standard]
kind = "hourly"
rate = "1000.00"

[billing]
output_dir = "reports"
"""


def lock_holders(state_path: Path) -> set[int]:
    """The pids holding the flock on the state file's lock, from /proc/locks."""
    lock = state_path.with_name(state_path.name + ".lock")
    try:
        inode = os.stat(lock).st_ino
    except FileNotFoundError:
        return set()
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[1] == "FLOCK" and cols[5].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(cols[4]))
    return holders


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not reached in {timeout} s")


def timed(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[float, str, str]:
    started = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return time.monotonic() - started, out, err


def cycles(state_path: Path) -> list[tuple[str, datetime, datetime | None, str]]:
    db = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT command, started_at, finished_at, status FROM cycles ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [
        (c, datetime.fromisoformat(s), datetime.fromisoformat(f) if f else None, st)
        for c, s, f, st in rows
    ]


def daemon(studio: Studio, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd.cli", "--config", str(studio.config_path), "run"],
        cwd=ROOT,
        env=studio.env(),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )


def events(log: Path) -> list[str]:
    return [json.loads(x)["event"] for x in log.read_text().splitlines() if x.startswith("{")]


def test_a_second_sync_exits_75_at_once_while_the_first_is_held(studio: Studio) -> None:
    studio.write_config(zendesk_timeout=30)  # the hold below is a slow answer, not a timeout
    ticket = studio.ticket("Only one cycle at a time")
    studio.emu.advance(61)
    studio.emu.inject_fault(match="^GET /api/v2/incremental/tickets", delay=6, times=1)
    first = studio.popen("sync")
    wait_for(lambda: first.pid in lock_holders(studio.state_path), what="first sync holds it")

    second = studio.popen("sync")
    elapsed, _out, err = timed(second)
    assert second.returncode == 75, err
    assert f"another syncd is running (pid {first.pid}," in err
    assert elapsed < AT_ONCE, elapsed
    assert first.poll() is None  # still held mid-cycle: the second did not wait for it

    _t, _out, err = timed(first)
    assert first.returncode == 0, err
    assert len(patiently(studio.issue_for, ticket)) == 1
    assert [c[0] for c in cycles(studio.state_path)] == ["sync"]  # the second left no trace
    figure(
        "concurrency",
        f"2nd `syncd sync` while the 1st is held mid-cycle: exit 75 in {elapsed:.2f} s "
        "(1st: exit 0, 1 issue)",
    )


def test_daemons_and_manual_syncs_never_overlap(studio: Studio) -> None:
    for n in range(3):
        studio.ticket(f"Contended {n}")
    studio.emu.advance(61)
    # Every Zendesk read is slowed: each cycle lasts a second or more, so two cycles running
    # at once could not pass for one after the other.
    studio.emu.inject_fault(match="^GET /api/v2/", delay=0.25, times=None)
    # Fifteen cycles within seconds are more than Zendesk's 10 exports a minute: a cycle that
    # waited out its Retry-After budget would end partial (exit 1), which is not what this
    # test is about (test_reliability_faults covers 429s).
    studio.emu.set_export_budget(None)
    daemons = 3 if FULL else 2
    manual_runs = 12 if FULL else 6
    logs = [studio.tmp / f"daemon-{i}.log" for i in range(daemons)]
    procs = [daemon(studio, log) for log in logs]
    try:
        # The daemons' first ticks race each other (one runs, the others skip), then the
        # manual syncs come in every 0.4 s while cycles run.
        wait_for(lambda: lock_holders(studio.state_path), what="a daemon's first cycle")
        manual: list[subprocess.Popen[str]] = []
        for _ in range(manual_runs):
            manual.append(studio.popen("sync"))
            time.sleep(0.4)
        results = [(p.wait(timeout=120), p) for p in manual]
        wait_for(
            lambda: all({"cycle_finished", "cycle_skipped"} & set(events(x)) for x in logs),
            timeout=60,
            what="every daemon's first tick",
        )
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    studio.emu.clear_faults()

    codes = [code for code, _p in results]
    assert set(codes) <= {0, 75}, [(c, p.stderr.read()) for c, p in results if c not in (0, 75)]
    ticks = [events(log) for log in logs]
    ran = sum("cycle_finished" in e for e in ticks) + codes.count(0)
    stepped_aside = sum("cycle_skipped" in e for e in ticks) + codes.count(75)
    assert ran + stepped_aside == daemons + manual_runs
    assert stepped_aside >= daemons - 1  # the daemons' first ticks collided at least

    recorded = cycles(studio.state_path)
    assert len(recorded) == ran, recorded
    assert all(c[2] is not None and c[3] == "ok" for c in recorded), recorded
    ordered = sorted(recorded, key=lambda c: c[1])
    overlaps = [(a, b) for a, b in itertools.pairwise(ordered) if b[1] < a[2]]
    assert overlaps == [], overlaps
    longest = max((c[2] - c[1]).total_seconds() for c in recorded)
    assert longest >= 0.5  # the cycles were long enough for an overlap to show
    assert [p.returncode for p in procs] == [0] * daemons
    assert sorted(c[0] for c in recorded) == sorted(
        ["run"] * sum("cycle_finished" in e for e in ticks) + ["sync"] * codes.count(0)
    )
    figure(
        "concurrency",
        f"{daemons} `syncd run` + {manual_runs} manual `syncd sync` started together: "
        f"{ran} cycles ran (longest {longest:.1f} s), {stepped_aside} stepped aside "
        f"(exit 75 / cycle_skipped), overlapping cycles in the store: {len(overlaps)}",
    )


def test_a_daemon_tick_skips_while_a_manual_cycle_holds_the_lock(studio: Studio) -> None:
    studio.write_config(zendesk_timeout=30)
    studio.ticket("Held by hand")
    studio.emu.advance(61)
    studio.emu.inject_fault(match="^GET /api/v2/incremental/tickets", delay=4, times=1)
    manual = studio.popen("sync")
    wait_for(lambda: manual.pid in lock_holders(studio.state_path), what="manual sync holds it")

    os.environ.update(studio.env())
    config = load_config(studio.config_path)
    started = time.monotonic()
    with capture_logs() as logs:
        _tick(config)  # the daemon's tick, in this process
    elapsed = time.monotonic() - started
    assert manual.poll() is None
    assert [e["event"] for e in logs] == ["cycle_skipped"], logs
    assert "another syncd is running" in logs[0]["reason"]
    assert elapsed < AT_ONCE

    _t, _out, err = timed(manual)
    assert manual.returncode == 0, err
    assert [c[0] for c in cycles(studio.state_path)] == ["sync"]  # no "run" cycle began
    figure("concurrency", f"daemon tick during a manual cycle: cycle_skipped in {elapsed:.2f} s")


def test_commands_while_a_sync_holds_the_store(studio: Studio) -> None:
    studio.write_config(client_toml='plan = "standard"', extra_toml=PLAN, zendesk_timeout=30)
    studio.ticket("Report me later")
    studio.sync()  # the store exists, with a cycle in it
    studio.emu.advance(61)
    studio.emu.inject_fault(match="^GET /api/v2/incremental/tickets", delay=10, times=1)
    holder = studio.popen("sync")
    wait_for(lambda: holder.pid in lock_holders(studio.state_path), what="the sync holds it")

    month = month_of(date.today())
    out = studio.tmp / "out"
    locked = [
        ["report", "billing", "--month", month, "--out", str(out)],
        ["report", "sla", "--month", month, "--out", str(out)],
        ["invoice", "close", "--month", month, "--dry-run"],
        ["sync", "--dry-run"],
        ["adopt"],
    ]
    free = [["status"], ["check"]]
    seen: dict[str, tuple[int, float]] = {}
    for args in locked + free:
        proc = studio.popen(*args)
        elapsed, stdout, err = timed(proc)
        seen[" ".join(args[:2])] = (proc.returncode, elapsed)
        if args in locked:
            assert proc.returncode == 75, (args, stdout, err)
            assert "another syncd is running" in err
            assert elapsed < (REPORT_AT_ONCE if args[0] == "report" else AT_ONCE), (args, elapsed)
        else:
            assert proc.returncode == 0, (args, stdout, err)
            assert elapsed < 5, (args, elapsed)
    assert holder.poll() is None, "all of it happened while the sync held the store"
    assert list(out.glob("*")) == []  # nothing half-written

    _t, _o, err = timed(holder)
    assert holder.returncode == 0, err
    code, text = studio.syncd("report", "billing", "--month", month, "--out", str(out))
    assert code == 0, text
    assert (out / f"billing-{month}-acme.json").exists()
    figure(
        "concurrency",
        "while a sync holds the store: "
        + ", ".join(f"{k} -> {c} ({t:.1f} s)" for k, (c, t) in seen.items()),
    )
