"""Crash-consistency harness (issue 5): a studio's workload advances while `syncd sync` runs as
a real process that is killed with SIGKILL at chosen instants and started again.

Ways to choose the instant (the `aim` of a kill point):

- ``random``: a uniform delay within the measured length of a clean run (process start
  included, as cron sees it);
- ``zendesk``: the emulator holds the run's first ticket write (a ``delay`` fault) and the kill
  lands while it is held; the emulator applies the held write *after* the kill, as a server
  does with a request already on the wire;
- ``redmine``: a proxy in front of the real Redmine (tests/fault_proxy.py) forwards the run's
  first issue write (the POST creating an issue, the PUT reopening one) and holds back the
  answer; the kill lands while syncd waits for it, so the issue exists (or is reopened) and
  the store doesn't know;
- ``create``: the kill lands a random few hundred milliseconds after the journal shows a
  pending ``create_issue`` of this run: before, during or just after the POST;
- ``entries``: after a burst of time entries (more than a page), the proxy holds back the
  second page of the list and the kill lands while syncd waits for it.

The end state is judged against what the workload did (never against what syncd says it did):
see `tally`.
"""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from fault_proxy import FaultProxy
from reliability import patiently
from studio import Studio

# The harness config shortens both request timeouts: an interrupted write is verified only
# once it is older than the timeout, and every such wait is wall time of the test.
ZENDESK_TIMEOUT = 3.0
# Redmine on SQLite can stall a request for 10-20 s when another process holds the database
# (other suites share the server): a shorter timeout would let a slow POST land after syncd
# verified it, which is not the crash this harness is about.
REDMINE_TIMEOUT = 15.0
# How long the emulator holds an aimed write: shorter than the Zendesk timeout, so a write in
# flight has landed by the time syncd may verify it (the assumption behind `settle`).
HOLD = 1.0

ENTRIES_PAGE_2 = r"^GET /time_entries\.json\?.*offset=100(&|$)"
IN_WORK = "is now in work as task #"
DONE = "The work on your request"
LINKED_NOTE = re.compile(r"^Redmine issue #\d+ created")
STATUS_NOTE = re.compile(r'^Redmine #\d+: status "')
REOPEN_NOTE = "reopened Zendesk #"


# ---------------------------------------------------------------------- the journal, read-only
def read_journal(studio: Studio) -> tuple[dict[str, str], set[int]]:
    """Pending effects (key -> when begun) and linked ticket ids, as the (possibly killed)
    process left them."""
    if not studio.state_path.exists():
        return {}, set()
    db = sqlite3.connect(f"file:{studio.state_path}?mode=ro", uri=True, timeout=5)
    try:
        pending = dict(
            db.execute("SELECT key, created_at FROM effects WHERE status = 'pending'").fetchall()
        )
        linked = {r[0] for r in db.execute("SELECT ticket_id FROM links")}
        return pending, linked
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}, set()
    finally:
        db.close()


def issues_by_ticket(studio: Studio) -> dict[int, list[dict[str, Any]]]:
    """Redmine's issues of the project, by the ticket in their "Zendesk ticket" field."""
    out: dict[int, list[dict[str, Any]]] = {}
    cf = studio.redmine.ticket_field_id
    offset = 0
    while True:
        params = {
            "project_id": studio.project.id,
            "status_id": "*",
            "limit": 100,
            "offset": offset,
            "sort": "id",
        }
        page = patiently(lambda p=params: studio.redmine.get("/issues.json", p))
        for issue in page["issues"]:
            value = next(
                (c.get("value") for c in issue.get("custom_fields", []) if c["id"] == cf), None
            )
            if value and str(value).isdigit():
                out.setdefault(int(value), []).append(issue)
        offset += len(page["issues"])
        if not page["issues"] or offset >= page["total_count"]:
            return out


# ---------------------------------------------------------------------- the workload
BURST = 104  # entries logged at once: more than Redmine's page of 100


@dataclass
class TicketPlan:
    """One tagged ticket's life, advanced one step whenever what it waits for is visible."""

    id: int
    subtask: bool
    reopen: bool
    stage: str = "new"
    issue_id: int | None = None
    sub_id: int | None = None
    in_progress_set: bool = False
    done_rounds: int = 0  # times the workload made the issue done
    reopened: bool = False


class Workload:
    """New tagged tickets arrive over the first rounds; each then goes In Progress (an internal
    note is owed), gets time logged (some on a subtask), is resolved (the "done" reply and the
    ticket solved are owed); some are reopened by the client (the issue is reopened), worked on
    and closed again (a second "done" reply). Now and then a burst of more entries than one
    page of Redmine's list holds (a week logged at once), so a scan can be cut between pages."""

    def __init__(
        self,
        studio: Studio,
        user_id: int,
        rng: random.Random,
        *,
        tickets: int,
        spread: int,
        bursts: int = 1,
    ):
        self.studio, self.user_id, self.rng = studio, user_id, rng
        self.statuses = studio.redmine.statuses
        # Two tickets at once to start with, the rest spread over the first `spread` rounds.
        self.arrivals = sorted(
            [0, 0, *(rng.randrange(1, max(2, spread)) for _ in range(tickets - 2))]
        )
        self.bursts = sorted(rng.randrange(1, max(2, spread)) for _ in range(bursts))
        self.burst_waiting = False  # logged, not yet read by a run
        self.plans: list[TicketPlan] = []
        self.untagged: list[int] = []
        self.hours_logged = 0

    @property
    def done(self) -> bool:
        return not self.arrivals and all(p.stage == "finished" for p in self.plans)

    def step(self, round_no: int) -> None:
        while self.arrivals and self.arrivals[0] <= round_no:
            self.arrivals.pop(0)
            self._new_ticket()
        issues = issues_by_ticket(self.studio)
        for plan in self.plans:
            self._advance(plan, issues)
        working = [p.issue_id for p in self.plans if p.issue_id and p.stage != "finished"]
        if self.bursts and self.bursts[0] <= round_no and working:
            self.bursts.pop(0)
            issue_id = self.rng.choice(working)
            for _ in range(BURST):
                self._log(issue_id)
            self.burst_waiting = True

    def _new_ticket(self) -> None:
        n = len(self.plans) + 1
        ticket = self.studio.ticket(f"Crash workload request {n}", body=f"Please fix thing {n}.")
        self.plans.append(
            TicketPlan(ticket, subtask=self.rng.random() < 0.5, reopen=self.rng.random() < 0.4)
        )
        if n % 4 == 0:  # now and then a ticket nobody tagged: it must get no issue
            self.untagged.append(self.studio.ticket(f"Just a question {n}", tags=()))

    def _log(self, issue_id: int) -> None:
        hours = self.rng.choice([0.25, 0.5, 0.75, 1, 1.5, 2.25])
        patiently(
            lambda: self.studio.redmine.log_time(hours, issue_id=issue_id, user_id=self.user_id)
        )
        self.hours_logged += 1

    def _status(self, issue_id: int, name: str) -> None:
        patiently(lambda: self.studio.redmine.update_issue(issue_id, status_id=self.statuses[name]))

    def _advance(self, plan: TicketPlan, issues: dict[int, list[dict[str, Any]]]) -> None:
        rm = self.studio.redmine
        if plan.stage == "new":
            found = issues.get(plan.id)
            if not found:
                return
            plan.issue_id = min(i["id"] for i in found)
            self._status(plan.issue_id, "In Progress")
            plan.in_progress_set = True
            self._log(plan.issue_id)
            plan.stage = "in_progress"
        elif plan.stage == "in_progress":
            notes = [c["body"] for c in self.studio.comments(plan.id, public=False)]
            if not any('→ "In Progress"' in n for n in notes):
                return
            if plan.subtask:
                sub = patiently(
                    lambda: rm.create_issue(
                        self.studio.project,
                        f"Subtask of request {plan.id % 1000}",
                        parent_issue_id=plan.issue_id,
                    )
                )
                plan.sub_id = sub["id"]
                self._log(sub["id"])
            self._log(plan.issue_id)
            plan.stage = "worked"
        elif plan.stage == "worked":
            self._status(plan.issue_id, "Resolved")
            plan.done_rounds += 1
            plan.stage = "resolved"
        elif plan.stage == "resolved":
            if self.studio.zd(plan.id)["status"] != "solved":
                return
            if plan.reopen and not plan.reopened:
                self.studio.emu.add_comment(
                    plan.id, "Still broken on mobile", True, self.studio.requester_id
                )
                self.studio.emu.set_status(plan.id, "open")
                plan.reopened = True
                plan.stage = "reopened"
            else:
                plan.stage = "finished"
        elif plan.stage == "reopened":
            issue = patiently(lambda: rm.issue(plan.issue_id))
            if issue["status"]["name"] != "In Progress":
                return
            self._log(plan.issue_id)
            if plan.sub_id:
                self._log(plan.sub_id)
                self._status(plan.sub_id, "Closed")  # a parent with open subtasks can't close
            self._status(plan.issue_id, "Closed")
            plan.done_rounds += 1
            plan.stage = "resolved"


# ---------------------------------------------------------------------- running and killing
@dataclass
class KillPoint:
    round: int
    aim: str
    after_s: float
    pending: list[str]  # effects this run began and left pending when it died
    write_held: bool  # a ticket write was on the wire (held by the emulator) at the kill
    unlinked_issue: bool = False  # Redmine had the issue, the store had no link to it


@dataclass
class Runner:
    studio: Studio
    rng: random.Random
    proxy: FaultProxy  # in front of the real Redmine
    cycle_s: float = 2.0
    clean_runs: list[float] = field(default_factory=list)
    kills: list[KillPoint] = field(default_factory=list)
    last_output: str = ""
    runs: int = 0

    @property
    def log_path(self) -> Path:
        """Every run's output, in order: what to read when a tally goes wrong."""
        return self.studio.tmp / "runs.log"

    def _record(self, what: str, proc: subprocess.Popen[str], out: str, err: str) -> None:
        self.runs += 1
        self.last_output = f"exit {proc.returncode}\n{out}\n{err[-4000:]}"
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(f"===== run {self.runs}: {what}, exit {proc.returncode}\n{out}\n{err}\n")

    def clean(self) -> float:
        """One run to the end; its wall time refines the cycle length random kills aim at."""
        started = time.monotonic()
        proc = self.studio.popen("sync")
        out, err = proc.communicate(timeout=300)
        elapsed = time.monotonic() - started
        self._record("clean", proc, out, err)
        # 1: some item failed and will be retried (e.g. a write of a killed run still
        # settling is not a failure, but a timeout under load may be); anything else is a bug.
        assert proc.returncode in (0, 1), self.last_output
        self.clean_runs.append(elapsed)
        recent = sorted(self.clean_runs[-7:])
        self.cycle_s = recent[len(recent) // 2]
        return elapsed

    def kill(self, round_no: int, aim: str) -> KillPoint | None:
        """One run killed as `aim` says; None when it ended before the kill could land."""
        emu, proxy = self.studio.emu, self.proxy
        before, _ = read_journal(self.studio)

        def begun(prefix: str) -> bool:
            # An effect begun by this run (one a killed run left pending doesn't count).
            pending, _ = read_journal(self.studio)
            return any(k.startswith(prefix) and before.get(k) != at for k, at in pending.items())

        if aim == "zendesk":
            emu.inject_fault(match=r"^(PUT|POST) /api/v2/tickets", delay=HOLD, times=1)
        elif aim == "redmine":
            proxy.inject("hang", match=r"^(POST|PUT) /issues", forward=True, times=1)
        elif aim == "entries":
            proxy.inject("hang", match=ENTRIES_PAGE_2, times=1)
        started = time.monotonic()
        proc = self.studio.popen("sync")
        try:
            if aim == "random":
                time.sleep(self.rng.uniform(0.0, self.cycle_s))
            elif aim == "zendesk":
                # The fault leaves the queue when the request reaches the emulator.
                if not _wait(lambda: not emu.faults.pending(), proc, 60):
                    return self._finished(proc)
                time.sleep(self.rng.uniform(0.0, HOLD * 0.9))
            elif aim == "redmine":
                # Logged once Redmine has answered the proxy: the write has landed.
                if not _wait(lambda: proxy.log(r"^(POST|PUT) /issues"), proc, 60):
                    return self._finished(proc)
                time.sleep(self.rng.uniform(0.0, 0.2))
            elif aim == "entries":
                # The first page of new entries is stored; the second never comes.
                if not _wait(lambda: proxy.log(ENTRIES_PAGE_2), proc, 60):
                    return self._finished(proc)
            else:  # create
                if not _wait(lambda: begun("create_issue:"), proc, 60, poll=0.005):
                    return self._finished(proc)
                time.sleep(self.rng.uniform(0.0, 0.4))
            if proc.poll() is not None:
                return self._finished(proc)
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
        finally:
            emu.clear_faults()
            proxy.clear()
            proxy.clear_log()
        after = time.monotonic() - started
        pending, linked = read_journal(self.studio)
        own = sorted(k for k, at in pending.items() if before.get(k) != at)
        point = KillPoint(round_no, aim, after, own, write_held=aim in ("zendesk", "redmine"))
        self._record(f"killed {point}", proc, out, err)
        creating = [int(k.split(":")[1]) for k in own if k.startswith("create_issue:")]
        if creating:
            time.sleep(0.3)  # a POST on the wire is still being processed by Redmine
            issues = issues_by_ticket(self.studio)
            point.unlinked_issue = any(t in issues and t not in linked for t in creating)
        self.kills.append(point)
        return point

    def _finished(self, proc: subprocess.Popen[str]) -> None:
        out, err = proc.communicate(timeout=300)
        self._record("ended before the kill", proc, out, err)
        assert proc.returncode in (0, 1), self.last_output
        return None


def _wait(predicate, proc: subprocess.Popen[str], timeout: float, poll: float = 0.01) -> bool:
    """True once `predicate` holds; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(poll)
    raise AssertionError("syncd neither finished nor reached the aimed point in time")


# ---------------------------------------------------------------------- the end state
@dataclass
class Tally:
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def count(self, what: str, ticket: int, found: int, expected: int) -> None:
        if found > expected:
            self.duplicates += [f"ticket {ticket}: {what} {found}x, expected {expected}"] * (
                found - expected
            )
        elif found < expected:
            self.lost += [f"ticket {ticket}: {what} {found}x, expected {expected}"] * (
                expected - found
            )


def tally(studio: Studio, workload: Workload) -> Tally:
    """Compare both trackers and the store with what the workload did."""
    t = Tally()
    issues = issues_by_ticket(studio)
    rm = studio.redmine
    for plan in workload.plans:
        found = issues.get(plan.id, [])
        t.count("Redmine issue", plan.id, len(found), 1)
        public = [c["body"] for c in studio.comments(plan.id, public=True)]
        internal = [c["body"] for c in studio.comments(plan.id, public=False)]
        t.count("'in work' reply", plan.id, sum(IN_WORK in b for b in public), 1)
        t.count("'done' reply", plan.id, sum(DONE in b for b in public), plan.done_rounds)
        t.count("link note", plan.id, sum(bool(LINKED_NOTE.match(b)) for b in internal), 1)
        t.count(
            "status note",
            plan.id,
            sum(bool(STATUS_NOTE.match(b)) for b in internal),
            int(plan.in_progress_set),
        )
        if not found:
            continue
        first = min(i["id"] for i in found)
        issue = patiently(lambda i=first: rm.issue(i, include="journals"))
        reopens = sum(REOPEN_NOTE in (j.get("notes") or "") for j in issue.get("journals", []))
        t.count("issue reopen", plan.id, reopens, int(plan.reopened))
        spent = Decimal(str(issue.get("total_spent_hours") or 0)).quantize(Decimal("0.01"))
        field_value = studio.field(plan.id, studio.hours_field)
        shown = Decimal(str(field_value)).quantize(Decimal("0.01")) if field_value else Decimal(0)
        if shown != spent:
            t.lost.append(f"ticket {plan.id}: hours field {field_value}, Redmine sum {spent}")
    for ticket in workload.untagged:
        t.count("Redmine issue (untagged ticket)", ticket, len(issues.get(ticket, [])), 0)

    store = studio.store()
    try:
        stored = {r["id"] for r in store._all("SELECT id FROM time_entries")}
        t.pending = [e["key"] for e in store.pending_effects()]
        t.failures = [f"{f['item']}: {f['reason']}" for f in store.failures()]
    finally:
        store.close()
    entries: list[dict[str, Any]] = []
    while True:
        params = {"project_id": studio.project.id, "limit": 100, "offset": len(entries)}
        more = patiently(lambda p=params: rm.get("/time_entries.json", p))["time_entries"]
        if not more:
            break
        entries += more
    t.lost += [f"time entry {e['id']} not in the store" for e in entries if e["id"] not in stored]
    return t


def diagnose(studio: Studio, problems: list[str]) -> str:
    """What the store holds about the tickets a tally complains about, for the failure text."""
    tickets = sorted({int(m) for p in problems for m in re.findall(r"ticket (\d+)", p)})
    if not tickets:
        return ""
    store = studio.store()
    try:
        lines = []
        for t in tickets:
            lines.append(f"ticket {t}: link {store.link_by_ticket(t)}")
            effects = store._all(
                "SELECT key, status, created_at FROM effects WHERE ticket_id = ?", t
            )
            lines += [f"  effect {e}" for e in effects]
            comments = [
                (c["public"], c["body"][:60].replace("\n", " ")) for c in studio.comments(t)
            ]
            lines += [f"  comment {c}" for c in comments]
        lines += [f"failure {f}" for f in store.failures()]
        return "\n".join(lines)
    finally:
        store.close()
