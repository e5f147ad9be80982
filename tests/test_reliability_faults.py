"""Faults on the wire and on disk (issue 5, "Faults").

Zendesk's faults come from the emulator's knobs, Redmine's from tests/fault_proxy.py in front
of the real Redmine (the studio's [redmine] url points at the proxy), and a full disk is a real
tmpfs under the state file. For each fault: `syncd sync` exits with a documented code and no
traceback, a structured event names the side and the fault, the transport's retries stay within
CappedRetry's bound (counted in the emulator's or the proxy's request log), the cursor of the
failed feed stays put, and once the fault clears every ticket has exactly one issue and one
"in work" reply, every status change one note, and the hours equal Redmine's.

tests/test_sync_faults.py and tests/test_http_policy.py already cover a Zendesk export that
fails for a cycle, Redmine on a closed port, one bad ticket, and the retry decisions on a toy
server; this module adds the fault kinds they miss, writes whose answer is lost, the request
counts, the Redmine side through a proxy, Zendesk down under the daemon, and the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fault_proxy import FaultProxy, nginx_page
from reliability import FULL, figure, patiently, size
from studio import ROOT

from connectors.http import make_session
from syncd.engine import ISSUES_CURSOR, ZENDESK_CURSOR
from syncd.hours import REREAD_CURSOR

pytestmark = [pytest.mark.reliability, pytest.mark.redmine]

# A GET and its retries: what connectors/http.py's CappedRetry allows for one request.
BOUND = make_session(timeout=1).get_adapter("http://x").max_retries.total + 1
REDMINE_TIMEOUT = 2.0  # short, so a hung request costs seconds, not minutes
ZENDESK_TIMEOUT = 2.0
ZENDESK_BUDGET = 3  # [zendesk] ratelimit_budget here: seconds of 429 waiting per call
EXPORT = r"incremental/tickets/cursor"


# ---------------------------------------------------------------------- running cycles
@dataclass
class Cycle:
    code: int
    out: str
    events: list[dict[str, Any]]
    seconds: float

    def named(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
        ]


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                out.append(event)
    return out


def run_cycle(studio, capsys) -> Cycle:
    """One `syncd sync` in this process, after the export's one-minute lag."""
    studio.emu.advance(61)
    capsys.readouterr()
    started = time.monotonic()
    code, out = studio.syncd("sync")
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert "Traceback" not in err + out, err
    return Cycle(code, out, _events(err), seconds)


def recover(studio, capsys, *, limit: int = 3) -> tuple[Cycle, int]:
    """Cycles until one ends clean; failed items are made due at once (their backoff is
    minutes of wall time) after anything interrupted has settled. Returns the clean cycle and
    how many cycles it took."""
    for n in range(1, limit + 1):
        settle(studio)
        due_now(studio)
        cycle = run_cycle(studio, capsys)
        if cycle.code == 0:
            return cycle, n
    raise AssertionError(f"not recovered after {limit} cycles: {cycle.events}")


def settle(studio) -> None:
    """Wait until every interrupted write is older than its side's timeout: only then does
    syncd look whether it landed (before, it may still be in flight)."""
    store = studio.store()
    row = store.db.execute("SELECT max(created_at) FROM effects WHERE status = 'pending'")
    newest = row.fetchone()[0]
    store.close()
    if newest:
        age = (datetime.now(UTC) - datetime.fromisoformat(newest)).total_seconds()
        time.sleep(max(0.0, max(REDMINE_TIMEOUT, ZENDESK_TIMEOUT) - age + 0.1))


def due_now(studio) -> None:
    store = studio.store()
    with store.atomic():
        store.db.execute("UPDATE failures SET next_at = '2000-01-01T00:00:00+00:00'")
    store.close()


def cursor(studio, name: str) -> str | None:
    store = studio.store()
    try:
        return store.cursor(name)
    finally:
        store.close()


def failed_event(cycle: Cycle, event: str, **fields: Any) -> dict[str, Any]:
    found = cycle.named(event, **fields)
    assert found, f"no {event} {fields} in {[e.get('event') for e in cycle.events]}"
    return found[0]


# ---------------------------------------------------------------------- what the studio holds
def issue_for(studio, ticket: int) -> list[dict[str, Any]]:
    """The ticket's issues in our project (through `patiently`: Redmine is shared and busy)."""
    return patiently(studio.issue_for, ticket)


def replies(studio, ticket: int) -> int:
    return sum("is now in work" in c["body"] for c in studio.comments(ticket, public=True))


def notes(studio, ticket: int, text: str) -> int:
    return sum(text in c["body"] for c in studio.comments(ticket, public=False))


def assert_one_of_each(studio, tickets: list[int]) -> None:
    """Nothing lost, nothing duplicated: one issue, one link note, one reply per ticket, and
    the ticket names that issue (not another one with the same ticket number)."""
    for t in tickets:
        issues = issue_for(studio, t)
        assert len(issues) == 1, f"ticket {t}: {len(issues)} issues"
        assert str(studio.field(t, studio.issue_field)) == str(issues[0]["id"]), f"ticket {t}"
        assert notes(studio, t, "created (") == 1, f"ticket {t}: link notes"
        assert replies(studio, t) == 1, f"ticket {t}: {replies(studio, t)} replies"


# ---------------------------------------------------------------------- proxies
def _proxy_for(url: str) -> FaultProxy:
    parts = urlsplit(url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80).start()


@pytest.fixture
def redmine_proxy(studio) -> Iterator[FaultProxy]:
    proxy = _proxy_for(studio.redmine.url)
    studio.write_config(redmine_url=proxy.url, redmine_timeout=REDMINE_TIMEOUT)
    yield proxy
    proxy.stop()


@pytest.fixture
def zendesk_proxy(studio) -> Iterator[FaultProxy]:
    proxy = _proxy_for(studio.emu.url)
    studio.write_config(zendesk_url=proxy.url, zendesk_timeout=ZENDESK_TIMEOUT)
    yield proxy
    proxy.stop()


def exports(studio, since: int) -> list[dict[str, Any]]:
    return [r for r in studio.emu.requests()[since:] if "incremental/tickets/cursor" in r["path"]]


# ====================================================================== Zendesk reads
# name -> (emulator fault, requests expected in the failed cycle, words the event must say)
ZENDESK_READ_FAULTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "zendesk connection reset": ({"reset": True}, BOUND, "connection reset"),
    "zendesk truncated JSON": ({"truncate": True}, 1, "cut short"),
    # Zenpy waits out 429s itself, within ratelimit_budget: one request per second of budget.
    "zendesk 429 storm (Retry-After 1)": (
        {"status": 429, "retry_after": 1},
        1 + ZENDESK_BUDGET,
        "rate limited",
    ),
}
if FULL:
    ZENDESK_READ_FAULTS |= {
        "zendesk 500": ({"status": 500}, BOUND, "HTTP 500"),
        "zendesk 502 nginx page": (
            {"status": 502, "body": nginx_page(502), "content_type": "text/html"},
            BOUND,
            "HTTP 502",
        ),
        "zendesk 503 nginx page": (
            {"status": 503, "body": nginx_page(503), "content_type": "text/html"},
            BOUND,
            "HTTP 503",
        ),
        "zendesk timeout": ({"delay": ZENDESK_TIMEOUT + 0.5}, BOUND, "timed out"),
    }


def test_zendesk_export_faults_keep_the_cursor_and_lose_nothing(studio, capsys):
    studio.write_config(zendesk_timeout=ZENDESK_TIMEOUT, zendesk_ratelimit_budget=ZENDESK_BUDGET)
    first = studio.ticket("Before the faults")
    assert run_cycle(studio, capsys).code == 0
    tickets = [first]
    for name, (fault, expected, words) in ZENDESK_READ_FAULTS.items():
        ticket = studio.ticket(f"During {name}")
        tickets.append(ticket)
        before, seen = cursor(studio, ZENDESK_CURSOR), len(studio.emu.requests())
        studio.emu.inject_fault(match=EXPORT, times=None, **fault)
        failed = run_cycle(studio, capsys)
        studio.emu.clear_faults()
        # A delayed request is logged when the emulator answers, after the client gave up.
        time.sleep(max(0.0, fault.get("delay", 0) - ZENDESK_TIMEOUT + 0.3))

        assert failed.code == 1, (name, failed.out)
        event = failed_event(failed, "source_failed", source="zendesk_tickets")
        assert event["error"].startswith("Zendesk") and words in event["error"], (name, event)
        count = len(exports(studio, seen))
        assert count <= expected, f"{name}: {count} export requests, bound {expected}"
        if "429" not in name:  # the 429 count depends on how the budget's seconds fall
            assert count == expected, f"{name}: {count} export requests, expected {expected}"
        else:
            assert failed.seconds < ZENDESK_BUDGET + ZENDESK_TIMEOUT + 3, failed.seconds
        assert cursor(studio, ZENDESK_CURSOR) == before, name  # the failed page is not passed
        assert issue_for(studio, ticket) == [], name

        _cycle, cycles = recover(studio, capsys)
        assert cursor(studio, ZENDESK_CURSOR) != before, name
        assert_one_of_each(studio, tickets)
        figure(
            "faults",
            f"{name}: requests {count} (bound {expected if '429' in name else BOUND}), "
            f"lost 0, duplicated 0, recovered after {cycles} cycle(s)",
        )


def test_zendesk_export_timeout_is_retried_within_the_cycle(studio, capsys):
    """A read that times out once is asked again (a GET is safe to repeat): no cycle lost."""
    studio.write_config(zendesk_timeout=ZENDESK_TIMEOUT)
    ticket = studio.ticket("Slow export")
    seen = len(studio.emu.requests())
    studio.emu.inject_fault(match=EXPORT, delay=ZENDESK_TIMEOUT + 0.5, times=1)
    cycle = run_cycle(studio, capsys)
    assert cycle.code == 0, cycle.out
    time.sleep(0.8)  # the delayed request is logged when the emulator answers it, at 2.5 s
    count = len(exports(studio, seen))
    assert count == 2 <= BOUND
    assert_one_of_each(studio, [ticket])
    figure(
        "faults",
        f"zendesk timeout once: requests {count} (bound {BOUND}), lost 0, duplicated 0, "
        "recovered after 0 cycle(s)",
    )


# ====================================================================== Zendesk writes
# The "in work" reply is the write a client sees twice if a lost answer makes us repeat it.
# name -> (emulator fault on the reply's PUT, whether the write lands, words in the event)
ZENDESK_WRITE_FAULTS: dict[str, tuple[dict[str, Any], bool, str]] = {
    "zendesk reply 500, write landed": ({"status": 500, "process": True}, True, "HTTP 500"),
    "zendesk reply 502 nginx page, write landed": (
        {"status": 502, "body": nginx_page(502), "content_type": "text/html", "process": True},
        True,
        "HTTP 502",
    ),
    "zendesk reply 503 nginx page, not landed": (
        {"status": 503, "body": nginx_page(503), "content_type": "text/html"},
        False,
        "HTTP 503",
    ),
    "zendesk reply connection reset, write landed": (
        {"reset": True, "process": True},
        True,
        "connection reset",
    ),
    "zendesk reply truncated answer, write landed": ({"truncate": True}, True, "cut short"),
    "zendesk reply timeout, write landed": (
        {"delay": ZENDESK_TIMEOUT + 0.5},
        True,
        "timed out",
    ),
}


def test_zendesk_write_faults_never_duplicate_a_reply(studio, capsys):
    studio.write_config(zendesk_timeout=ZENDESK_TIMEOUT, zendesk_ratelimit_budget=ZENDESK_BUDGET)
    tickets = {name: studio.ticket(f"Reply under {name}") for name in ZENDESK_WRITE_FAULTS}
    storm = studio.ticket("Reply under a 429")
    for name, (fault, _landed, _words) in ZENDESK_WRITE_FAULTS.items():
        put = rf"^PUT /api/v2/tickets/{tickets[name]}\.json"
        studio.emu.inject_fault(match=put, times=1)  # the link note passes ...
        studio.emu.inject_fault(match=put, times=1, **fault)  # ... the reply meets the fault
    put = rf"^PUT /api/v2/tickets/{storm}\.json"
    studio.emu.inject_fault(match=put, times=1)
    studio.emu.inject_fault(match=put, times=2, status=429, retry_after=1)
    seen = len(studio.emu.requests())

    failed = run_cycle(studio, capsys)
    assert failed.code == 1, failed.out
    puts = _puts(studio, seen)
    for name, (_fault, _landed, words) in ZENDESK_WRITE_FAULTS.items():
        ticket = tickets[name]
        # A write that may have landed is never repeated by the transport: note + reply.
        assert puts.get(ticket) == 2, (name, puts.get(ticket))
        event = failed_event(failed, "item_failed", item=f"ticket:{ticket}")
        assert event["reason"].startswith("Zendesk") and words in event["reason"], (name, event)
    # A 429 is the server saying "not done": waited for and repeated, and it lands once.
    assert puts.get(storm) == 1 + 3
    assert replies(studio, storm) == 1

    _cycle, cycles = recover(studio, capsys)
    later = _puts(studio, seen)
    for name, (_fault, landed, _words) in ZENDESK_WRITE_FAULTS.items():
        ticket = tickets[name]
        # Landed: verified by its tag, not written again. Not landed: written once more.
        assert later.get(ticket) == 2 + (0 if landed else 1), (name, later.get(ticket))
        figure(
            "faults",
            f"{name}: requests {puts[ticket] - 1} (bound 1), lost 0, duplicated 0, "
            f"recovered after {cycles} cycle(s) once its backoff was due",
        )
    assert_one_of_each(studio, [*tickets.values(), storm])
    figure(
        "faults",
        f"zendesk reply 429 twice (Retry-After 1): requests {puts[storm] - 1} (bound "
        f"{1 + ZENDESK_BUDGET}), lost 0, duplicated 0, recovered after 0 cycle(s)",
    )


def _puts(studio, since: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in studio.emu.requests()[since:]:
        if r["method"] == "PUT" and r["path"].startswith("/api/v2/tickets/"):
            ticket = int(r["path"].rsplit("/", 1)[1].split(".")[0])
            counts[ticket] = counts.get(ticket, 0) + 1
    return counts


# ====================================================================== Redmine reads
ISSUES_GET = r"^GET /issues\.json\?set_filter"  # the issue feed, not a lookup by ticket field
# name -> (proxy rule, requests expected in the failed cycle, words the event must say)
REDMINE_READ_FAULTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "redmine 429 storm (Retry-After 1)": (
        {"mode": "status", "status": 429, "retry_after": 1},
        BOUND,
        "HTTP 429",
    ),
    "redmine connection reset": ({"mode": "reset"}, BOUND, "connection reset"),
    "redmine truncated JSON, connection dropped": (
        {"mode": "truncate", "length": "full"},
        1,
        "cut short",
    ),
    "redmine truncated JSON, framing intact": (
        {"mode": "truncate", "length": "cut"},
        1,
        "not JSON",
    ),
}
if FULL:
    REDMINE_READ_FAULTS |= {
        "redmine 500": ({"mode": "status", "status": 500}, BOUND, "500"),
        "redmine 502 nginx page": ({"mode": "html", "status": 502}, BOUND, "HTTP 502"),
        "redmine 503 nginx page": ({"mode": "html", "status": 503}, BOUND, "HTTP 503"),
        "redmine timeout": ({"mode": "hang"}, BOUND, "timed out"),
    }


def test_redmine_issue_feed_faults_keep_the_cursor_and_relay_once(studio, redmine_proxy, capsys):
    ticket = studio.ticket("Status changes under faults")
    assert run_cycle(studio, capsys).code == 0
    issue = issue_for(studio, ticket)[0]["id"]
    statuses = ["In Progress", "Feedback"]
    for n, (name, (rule, expected, words)) in enumerate(REDMINE_READ_FAULTS.items()):
        status = statuses[n % 2]
        patiently(studio.redmine.update_issue, issue, status_id=studio.redmine.statuses[status])
        before = cursor(studio, ISSUES_CURSOR)
        relayed = notes(studio, ticket, f'→ "{status}"')
        redmine_proxy.clear_log()
        redmine_proxy.inject(match=ISSUES_GET, times=None, **rule)
        failed = run_cycle(studio, capsys)
        redmine_proxy.clear()

        assert failed.code == 1, (name, failed.out)
        event = failed_event(failed, "source_failed", source="redmine_issues")
        assert event["error"].startswith("Redmine") and words in event["error"], (name, event)
        count = len(redmine_proxy.log(ISSUES_GET))
        assert count == expected, f"{name}: {count} requests, expected {expected}"
        assert cursor(studio, ISSUES_CURSOR) == before, name
        assert notes(studio, ticket, f'→ "{status}"') == relayed, name
        # The other Redmine feed went on: a failing source stops its own step only.
        assert not failed.named("source_failed", source="redmine_time_entries"), name

        _cycle, cycles = recover(studio, capsys)
        # The cursor now covers the change (updated_on has whole seconds: it may equal before).
        updated = patiently(studio.redmine.issue, issue)["updated_on"].replace("Z", "+00:00")
        assert datetime.fromisoformat(cursor(studio, ISSUES_CURSOR) or "") == (
            datetime.fromisoformat(updated)
        ), name
        assert notes(studio, ticket, f'→ "{status}"') == relayed + 1, name
        assert sum(notes(studio, ticket, f'→ "{s}"') for s in statuses) == n + 1, name
        figure(
            "faults",
            f"{name}: requests {count} (bound {BOUND}), lost 0, duplicated 0, "
            f"recovered after {cycles} cycle(s)",
        )
    assert_one_of_each(studio, [ticket])


def test_redmine_read_timeout_once_is_retried_within_the_cycle(studio, redmine_proxy, capsys):
    ticket = studio.ticket("Slow Redmine")
    redmine_proxy.inject("hang", match=ISSUES_GET, times=1)
    cycle = run_cycle(studio, capsys)
    assert cycle.code == 0, cycle.out
    count = len(redmine_proxy.log(ISSUES_GET))
    assert count == 2 <= BOUND
    assert_one_of_each(studio, [ticket])
    figure(
        "faults",
        f"redmine timeout once: requests {count} (bound {BOUND}), lost 0, duplicated 0, "
        "recovered after 0 cycle(s)",
    )


# ====================================================================== Redmine writes
# Each new ticket's POST /issues.json meets one rule, in the order the tickets are handled.
# name -> (proxy rule, whether the issue is created, words in the event)
REDMINE_WRITE_FAULTS: dict[str, tuple[dict[str, Any], bool, str]] = {
    "redmine create 502 nginx page, write landed": (
        {"mode": "html", "status": 502, "forward": True},
        True,
        "HTTP 502",
    ),
    "redmine create 503 nginx page, not landed": (
        {"mode": "html", "status": 503},
        False,
        "HTTP 503",
    ),
    "redmine create 500, not landed": ({"mode": "status", "status": 500}, False, "500"),
    "redmine create connection reset, write landed": (
        {"mode": "reset", "forward": True},
        True,
        "connection reset",
    ),
    "redmine create timeout, write landed": (
        {"mode": "hang", "forward": True},
        True,
        "timed out",
    ),
    "redmine create truncated JSON, write landed": (
        {"mode": "truncate", "length": "cut"},
        True,
        "not JSON",
    ),
    "redmine create answer cut mid-body, write landed": (
        {"mode": "truncate", "length": "full"},
        True,
        "cut short",
    ),
}
CREATE = r"^POST /issues\.json"


@pytest.fixture
def stranger(redmine_env) -> Iterator[Any]:
    """A project syncd is not configured for, in the same Redmine."""
    project = patiently(redmine_env.create_project, name="another studio's project")
    yield project
    with contextlib.suppress(Exception):
        redmine_env.delete_project(project)


def test_redmine_create_faults_never_duplicate_an_issue(studio, redmine_proxy, stranger, capsys):
    names = list(REDMINE_WRITE_FAULTS)
    tickets = {name: studio.ticket(f"Issue under {name}") for name in names}
    storm = studio.ticket("Issue under a 429")
    # Another studio's issues carry the same ticket numbers: checking whether an interrupted
    # create landed must look in our projects only.
    for ticket in [*tickets.values(), storm]:
        patiently(studio.redmine.create_issue, stranger, f"Not ours {ticket}", ticket=ticket)
    for name in names:
        redmine_proxy.inject(match=CREATE, times=1, **REDMINE_WRITE_FAULTS[name][0])
    redmine_proxy.inject("status", match=CREATE, times=1, status=429, retry_after=1)

    failed = run_cycle(studio, capsys)
    assert failed.code == 1, failed.out
    posts = redmine_proxy.log(CREATE)
    # Tickets are handled in the order they were made: the i-th POST met the i-th rule.
    assert [p["action"] for p in posts][: len(names)] == [
        _action(REDMINE_WRITE_FAULTS[n][0]) for n in names
    ]
    assert len(posts) == len(names) + 2  # one POST each; the 429 was repeated, once
    for name in names:
        ticket = tickets[name]
        _rule, landed, words = REDMINE_WRITE_FAULTS[name]
        assert len(issue_for(studio, ticket)) == (1 if landed else 0), name
        event = failed_event(failed, "item_failed", item=f"ticket:{ticket}")
        assert event["reason"].startswith("Redmine") and words in event["reason"], (name, event)
    assert len(issue_for(studio, storm)) == 1

    cycle, cycles = recover(studio, capsys)
    again = redmine_proxy.log(CREATE)[len(posts) :]
    not_landed = [n for n in names if not REDMINE_WRITE_FAULTS[n][1]]

    assert len(again) == len(not_landed), ([p["action"] for p in again], cycle.events)
    assert len(cycle.named("effect_recovered", kind="create_issue")) + len(
        failed.named("effect_recovered", kind="create_issue")
    ) >= len(names) - len(not_landed)
    assert_one_of_each(studio, [*tickets.values(), storm])
    for name in names:
        figure(
            "faults",
            f"{name}: requests 1 (bound 1), lost 0, duplicated 0, "
            f"recovered after {cycles} cycle(s) once its backoff was due",
        )
    figure(
        "faults",
        f"redmine create 429 once (Retry-After 1): requests 2 (bound {BOUND}), lost 0, "
        "duplicated 0, recovered after 0 cycle(s)",
    )


def _action(rule: dict[str, Any]) -> str:
    return f"truncate:{rule['length']}" if rule["mode"] == "truncate" else rule["mode"]


# ====================================================================== a side down
def test_redmine_down_for_a_whole_cycle(studio, redmine_proxy, redmine_user, capsys, caplog):
    ticket = studio.ticket("Redmine goes away")
    assert run_cycle(studio, capsys).code == 0
    issue = issue_for(studio, ticket)[0]["id"]
    # While Redmine is unreachable for syncd, work goes on in it and a new request arrives.
    patiently(studio.redmine.log_time, 1.5, issue_id=issue, user_id=redmine_user.id)
    patiently(studio.redmine.update_issue, issue, status_id=studio.redmine.statuses["In Progress"])
    newcomer = studio.ticket("Arrives during the outage")
    issues_before, reread_before = cursor(studio, ISSUES_CURSOR), cursor(studio, REREAD_CURSOR)

    redmine_proxy.refuse()
    caplog.clear()
    failed = run_cycle(studio, capsys)
    assert failed.code == 1, failed.out
    for source in ("redmine_issues", "redmine_time_entries"):
        event = failed_event(failed, "source_failed", source=source)
        assert "Redmine" in event["error"] and "connection refused" in event["error"], event
    event = failed_event(failed, "item_failed", item=f"ticket:{newcomer}")
    assert "connection refused" in event["reason"], event
    assert cursor(studio, ISSUES_CURSOR) == issues_before
    assert cursor(studio, REREAD_CURSOR) == reread_before
    assert studio.field(ticket, studio.hours_field) in (None, "", "0.00")
    # Refused connections never reach the proxy: count urllib3's retries instead.
    calls = len(failed.named("source_failed")) + len(failed.named("item_failed"))
    attempts = calls + sum("Retrying" in r.getMessage() for r in caplog.records)
    assert attempts <= BOUND * calls, (attempts, calls)
    assert failed.seconds < 60

    redmine_proxy.accept()
    _cycle, cycles = recover(studio, capsys)
    assert_one_of_each(studio, [ticket, newcomer])
    assert str(studio.field(ticket, studio.hours_field)) == "1.50"
    store = studio.store()
    assert store.hours_for_issues([issue]) == sum(
        float(e["hours"]) for e in patiently(studio.redmine.time_entries, issue_id=issue)
    )
    store.close()
    assert notes(studio, ticket, '→ "In Progress"') == 1
    figure(
        "faults",
        f"redmine down (connection refused) for a cycle: requests {attempts} "
        f"(bound {BOUND * calls}: {calls} calls), lost 0, duplicated 0, "
        f"recovered after {cycles} cycle(s)",
    )


def test_zendesk_down_for_a_whole_cycle_under_the_daemon(studio, zendesk_proxy, capsys):
    """`syncd run` lives through a cycle with Zendesk refusing connections and does the
    owed work in its next cycle (the interval is a minute: this test waits for it)."""
    ticket = studio.ticket("Zendesk goes away")
    assert run_cycle(studio, capsys).code == 0
    zendesk_proxy.refuse()
    newcomer = studio.ticket("Arrives during the outage")
    export_before = cursor(studio, ZENDESK_CURSOR)
    studio.emu.advance(61)

    daemon = studio.popen("run")
    try:
        first = _wait_for_cycles(studio, daemon, 1, timeout=45)
        assert first[-1]["status"] == "partial", first
        assert cursor(studio, ZENDESK_CURSOR) == export_before
        assert issue_for(studio, newcomer) == []
        zendesk_proxy.accept()
        studio.emu.advance(61)
        second = _wait_for_cycles(studio, daemon, 2, timeout=90)
        assert second[-1]["status"] == "ok", second
        assert daemon.poll() is None, "the daemon stopped"
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    events = _events(err)
    failed = [e for e in events if e.get("event") == "source_failed"]
    assert {e["source"] for e in failed} >= {"zendesk_tickets", "zendesk_events"}, failed
    assert all("Zendesk" in e["error"] and "connection refused" in e["error"] for e in failed)
    retries = sum("Retrying" in line for line in err.splitlines())
    attempts = len(failed) + retries
    assert attempts <= BOUND * len(failed), (attempts, len(failed))
    assert [e["event"] for e in events if e.get("event", "").startswith("daemon_")] == [
        "daemon_started",
        "daemon_stopping",
    ]
    assert cursor(studio, ZENDESK_CURSOR) != export_before
    assert_one_of_each(studio, [ticket, newcomer])
    figure(
        "faults",
        f"zendesk down (connection refused) for a daemon cycle: requests {attempts} "
        f"(bound {BOUND * len(failed)}: {len(failed)} calls), lost 0, duplicated 0, "
        "recovered after 1 cycle(s); the daemon ran on",
    )


def _wait_for_cycles(studio, daemon, n: int, *, timeout: float) -> list[dict[str, Any]]:
    """Polls `syncd status --json` (what an operator would run beside the daemon) until the
    daemon has finished n cycles."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, daemon.communicate()
        code, out = studio.syncd("status", "--json")
        assert code == 0, out
        status = json.loads(out)
        cycles = [c for c in reversed(status.get("cycles") or []) if c["command"] == "run"]
        if len(cycles) >= n and all(c["finished_at"] for c in cycles[:n]):
            return cycles[:n]
        time.sleep(0.2)
    raise AssertionError(f"the daemon did not finish {n} cycle(s) in {timeout} s")


# ====================================================================== the disk
def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _fill(directory: Path, leave: int) -> Path:
    """Fill the file system up, then give back `leave` bytes."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096):
            with contextlib.suppress(OSError):
                while os.write(fd, chunk):
                    pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


# Bytes left free when the cycle starts: none (the store can't even be opened), or enough for
# the cycle to fail part way through its writes (measured: at 128 KiB after creating an issue,
# at 192 KiB after the issue, its link note and reply). The full size tries more instants.
DISK_HEADROOM = (
    [0, 131072]
    if not FULL
    else [0, 36864, 45056, 65536, 98304, 131072, 163840, 196608, 229376, 262144]
)


@pytest.mark.parametrize("leave", DISK_HEADROOM)
def test_state_disk_full_fails_the_cycle_cleanly_and_loses_nothing(
    studio, redmine_user, capsys, leave
):
    var = studio.state_path.parent
    # A real full disk: a small tmpfs under the state file (root). Where mounting is not
    # allowed (an unprivileged container), the kernel's file size limit on a real `syncd sync`
    # process refuses the writes instead (EFBIG rather than ENOSPC).
    on_tmpfs = os.environ.get("SYNCD_FAULTS_DISK") != "rlimit" and _mount_tmpfs(var, "2m")
    try:
        studio.write_config(redmine_timeout=REDMINE_TIMEOUT, zendesk_timeout=ZENDESK_TIMEOUT)
        first = studio.ticket("Before the disk fills")
        assert run_cycle(studio, capsys).code == 0
        issue = issue_for(studio, first)[0]["id"]
        patiently(studio.redmine.log_time, 2.25, issue_id=issue, user_id=redmine_user.id)
        later = [studio.ticket(f"While the disk is full {n}") for n in range(3)]
        export_before = cursor(studio, ZENDESK_CURSOR)
        if on_tmpfs:
            filler = _fill(var, leave)
            failed = run_cycle(studio, capsys)
            filler.unlink()
        else:
            failed = _process_cycle(studio, file_size_limit=leave)

        assert failed.code == 74, failed.out  # EX_IOERR: the state can't be written
        event = failed_event(failed, "state_unwritable")
        assert event["path"] == str(studio.state_path)
        assert "full" in event["error"] or "I/O" in event["error"] or "large" in event["error"]
        assert failed.seconds < 30
        writes = len(failed.named("effect_done")) + len(failed.named("write_done"))

        _cycle, cycles = recover(studio, capsys)
        assert_one_of_each(studio, [first, *later])
        assert str(studio.field(first, studio.hours_field)) == "2.25"
        assert cursor(studio, ZENDESK_CURSOR) != export_before
        how = "full tmpfs" if on_tmpfs else "file size limit"
        figure(
            "faults",
            f"state disk full ({how}, {leave // 1024} KiB left, failed after {writes} write(s) "
            f"to the trackers): exit 74, lost 0, duplicated 0, recovered after {cycles} cycle(s)",
        )
    finally:
        if on_tmpfs:
            subprocess.run(["umount", "-l", str(var)], check=False, capture_output=True)


def _process_cycle(studio, *, file_size_limit: int) -> Cycle:
    """`syncd sync` as a real process whose files can't grow past the limit."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    studio.emu.advance(61)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "--config", str(studio.config_path), "sync"],
        cwd=ROOT,
        env=studio.env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,  # only setrlimit between fork and exec
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Cycle(done.returncode, done.stdout, _events(done.stderr), time.monotonic() - started)


# ====================================================================== a busy store
def test_opening_the_store_beside_a_writing_cycle_waits_instead_of_failing(tmp_path):
    """`syncd status` (or a report) opens the store while the daemon's cycle commits. Opening
    writes (schema check); it must wait for the writer, not fail with "database is locked"."""
    from syncd.state import Store

    path = tmp_path / "syncd.db"
    Store(path).close()
    stop, errors = threading.Event(), []

    def cycle_writes() -> None:
        store = Store(path)
        n = 0
        while not stop.is_set():
            with store.atomic():
                store.set_cursor("busy", str(n))
            n += 1
            time.sleep(0.001)
        store.close()

    writer = threading.Thread(target=cycle_writes)
    writer.start()
    opened = 0
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                store = Store(path)
                store.cursors()
                store.close()
                opened += 1
            except sqlite3.OperationalError as e:
                errors.append(str(e))
    finally:
        stop.set()
        writer.join()
    assert errors == [], f"{len(errors)} of {opened + len(errors)} opens failed: {errors[0]}"
    assert opened > 10
    figure("faults", f"store opened beside a writing cycle: {opened} opens, 0 refused")


# ====================================================================== two changes in a second
def test_two_status_changes_within_one_second_are_both_relayed(studio, capsys):
    """Redmine's updated_on has whole seconds. A status relayed, then changed again within the
    same second (a workflow plugin, a quick correction; here: a fault's retry that is fast)
    must still be relayed: found by the feed-fault rounds above, which change the status
    between fast cycles."""
    ticket = studio.ticket("Quick corrections")
    assert run_cycle(studio, capsys).code == 0
    issue = issue_for(studio, ticket)[0]["id"]
    statuses = studio.redmine.statuses
    same_second = 0
    for attempt in range(8):
        first, second = "Feedback", "In Progress"  # each differs from the status before it
        while time.time() % 1 > 0.05:  # start just after a second begins
            time.sleep(0.01)
        patiently(studio.redmine.update_issue, issue, status_id=statuses[first])
        at_first = patiently(studio.redmine.issue, issue)["updated_on"]
        told_first = notes(studio, ticket, f'→ "{first}"')
        assert run_cycle(studio, capsys).code == 0
        assert notes(studio, ticket, f'→ "{first}"') == told_first + 1
        patiently(studio.redmine.update_issue, issue, status_id=statuses[second])
        same_second += patiently(studio.redmine.issue, issue)["updated_on"] == at_first
        told_second = notes(studio, ticket, f'→ "{second}"')
        assert run_cycle(studio, capsys).code == 0
        assert notes(studio, ticket, f'→ "{second}"') == told_second + 1, attempt
        if same_second >= size(1, 3):
            break
    assert same_second, "no two changes landed within one second: the case was not tried"
