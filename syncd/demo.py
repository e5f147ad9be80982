"""`syncd demo` (what `make demo` runs): a small web studio, end to end, on this machine.

Starts the Zendesk emulator, seeds three clients' tickets in it and their projects in the real
local Redmine (`make redmine`), runs syncd's sync cycles in between a simulated two months of
work, and prints what happened and where everything is. A re-run starts over: the previous
demo's emulator is stopped, its Redmine projects deleted and its files removed.

Pieces: syncd/demo_env.py (settings, REST clients, the emulator process, files),
syncd/demo_seed.py (the studio's data and the simulated work).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import structlog

from syncd import app
from syncd.config import Config, load_config
from syncd.demo_env import (
    DemoError,
    DemoFiles,
    Emulator,
    Redmine,
    Zendesk,
    forget_previous_demo,
    load_redmine_settings,
    open_private,
    shown,
    start_emulator,
    stop_emulator,
    write_manifest,
    write_secret,
)
from syncd.demo_reports import (
    billing_toml,
    client_billing_lines,
    close_and_correct,
    write_reports,
)
from syncd.demo_seed import (
    AGENT_EMAIL,
    BOT,
    CLIENTS,
    DEVS,
    STRANGER,
    WORK_TAG,
    Seeded,
    WorkDone,
    client_reopens,
    issue_owner,
    log_time,
    make_issues_by_hand,
    seed_redmine,
    seed_zendesk,
    set_status,
    simulate_month,
    window_start,
)
from syncd.engine import Stats
from syncd.lock import CycleLock, Locked
from syncd.logging import configure
from syncd.reporting import Written
from syncd.state import Store

MAX_QUIET_CYCLES = 4  # "until nothing changes" gives up after this many extra cycles
ACTIONS_SHOWN = 6  # per cycle; all of them go to actions.log


def out(line: str = "") -> None:
    print(line, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    files = DemoFiles(Path(args.dir))
    try:
        demo = Demo(files)
        demo.run()
    except DemoError as e:
        print(f"syncd demo: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        print("\nsyncd demo: interrupted; `make demo` starts over", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(
            f"syncd demo: failed unexpectedly (traceback above); syncd's log: "
            f"{shown(files.syncd_log)}; `make demo` starts over",
            file=sys.stderr,
        )
        return 1
    out(f"\nThe demo took {time.monotonic() - started:.0f} s.")
    if not demo.ok:
        print(
            "syncd demo: finished, but not everything went as planned (see PROBLEM / NO ISSUE "
            "above, and `syncd status`)",
            file=sys.stderr,
        )
        return 1
    return 0


@dataclass
class Demo:
    files: DemoFiles
    redmine: Redmine | None = None
    zendesk: Zendesk | None = None
    emulator: Emulator | None = None
    seeded: Seeded | None = None
    config: Config | None = None
    cycles: int = 0
    ok: bool = True
    reports: Written | None = None
    _actions: TextIO | None = None

    # ------------------------------------------------------------------ the story
    def run(self) -> None:
        out("syncd demo: a small web studio, its clients' Zendesk tickets and its Redmine")
        self.prepare()
        try:
            with _LogToFile(self.files):
                self.seed()
                self.write_config()
                self.check()
                self.story()
                self.billing()
                self.table()
        except BaseException:
            # Half a demo is no use: don't leave its emulator running.
            stop_emulator(self.files)
            raise
        finally:
            if self._actions:
                self._actions.close()
        self.where()

    def prepare(self) -> None:
        out("\n== Getting ready")
        settings = load_redmine_settings()
        rm = Redmine(settings)
        rm.connect()
        self.redmine = rm
        out(f"  Redmine   {rm.url} (settings from {settings.source})")
        self.files.root.mkdir(parents=True, exist_ok=True)
        self._refuse_if_syncd_runs()
        for line in forget_previous_demo(self.files, rm):
            out(f"  re-run: {line}")
        token = secrets.token_urlsafe(24)
        write_secret(self.files.zendesk_token, token)
        self.emulator = start_emulator(self.files, token=token, email=AGENT_EMAIL)
        self.zendesk = Zendesk(self.emulator.url, AGENT_EMAIL, token)
        out(
            f"  Zendesk   {self.emulator.url} (the emulator, pid {self.emulator.pid}, "
            f"log {shown(self.files.emulator_log)})"
        )

    def _refuse_if_syncd_runs(self) -> None:
        if not self.files.state.exists():
            return
        try:
            with CycleLock(self.files.state):
                pass
        except Locked as e:
            raise DemoError(
                f"{e}: a syncd is using this demo; stop it before starting the demo over", 75
            ) from None

    def seed(self) -> None:
        rm, zd = self._clients()
        today = date.today()
        seeded = Seeded(suffix=secrets.token_hex(2), start=window_start(today), today=today)
        self.seeded = seeded
        out("\n== Seeding the studio")
        seed_zendesk(zd, seeded)
        seed_redmine(rm, seeded)
        write_secret(self.files.redmine_key, seeded.bot_key)
        write_manifest(
            self.files,
            {
                "projects": list(seeded.projects.values()),
                "emulator": self.emulator.url if self.emulator else None,
                "redmine": rm.url,
            },
        )
        make_issues_by_hand(rm, zd.url, seeded)

        tickets = seeded.tickets
        tagged = [t for t in tickets if t.spec.tagged and t.client.is_client]
        untagged = [t for t in tickets if not t.spec.tagged]
        stray = [t for t in tickets if t.spec.tagged and not t.client.is_client]
        first = min(t.created_at for t in tickets).date()
        last = max(t.created_at for t in tickets).date()
        out(f"  Zendesk  clients {', '.join(c.org for c in CLIENTS)}; also {STRANGER.org}")
        out("           (an organization that is no client); an end-user in each")
        out(f"           ticket fields {_fields_text(seeded)}")
        span = f"#{tickets[0].id}–#{tickets[-1].id}"
        out(f"           {len(tickets)} tickets {span}, created {first} … {last}:")
        out(
            f"             {len(tagged)} tagged {WORK_TAG!r} by clients: each needs a Redmine issue"
        )
        out(f"             {len(untagged)} untagged questions: no issue")
        for t in stray:
            out(f"             #{t.id} tagged, but from {t.client.org}: will show as unassigned")
        out(f"  Redmine  projects {', '.join(seeded.projects.values())}, one per client")
        devs = ", ".join(f"{d.login} (user #{seeded.dev_ids[d.login]})" for d in DEVS)
        again = "" if seeded.devs_created else " (kept from an earlier demo)"
        out(f"           developers {devs}{again}")
        bot = f"{BOT.login} (user #{seeded.dev_ids[BOT.login]})"
        out(f"           syncd's own user {bot}: a project member, not an admin")
        out("           issues made by hand before syncd ran, each naming a ticket:")
        how = {
            "field": "in the 'Zendesk ticket' field",
            "subject": "as 'Zendesk #N' in the subject",
            "url": "by its URL in the description",
        }
        for issue_id, t in seeded.hand_issues:
            untagged_note = " (untagged)" if not t.spec.tagged else ""
            out(
                f"             #{issue_id} names ticket #{t.id}{untagged_note} "
                f"{how[t.spec.hand or '']}"
            )

    def write_config(self) -> None:
        seeded, rm = self.seeded, self.redmine
        assert seeded and rm and self.emulator
        lines = [
            "# Written by `syncd demo`: the demo studio (Zendesk emulator + the local Redmine).",
            "# Relative paths are relative to this file. No secrets in here: they are in",
            "# zendesk.token and redmine.key beside it (mode 0600).",
            "",
            "[state]",
            'path = "syncd.db"',
            "",
            "[zendesk]",
            f'url = "{self.emulator.url}"',
            f'email = "{AGENT_EMAIL}"',
            'token_file = "zendesk.token"',
            f'work_tag = "{WORK_TAG}"',
            f"issue_field_id = {seeded.field_ids['issue']}          # Redmine issue",
            f"hours_field_id = {seeded.field_ids['hours']}          # Hours spent",
            f"estimate_field_id = {seeded.field_ids['estimate']}       # Estimate, h",
            "notify_client = true",
            "timeout = 10",
            "ratelimit_budget = 30",
            "",
            "[redmine]",
            f'url = "{rm.url}"',
            'key_file = "redmine.key"',
            f"ticket_field_id = {rm.ticket_field_id}         # Zendesk ticket",
            'done_statuses = ["Resolved", "Closed"]',
            'reopen_status = "In Progress"',
            'default_tracker = "Support"',
            "timeout = 20",
            "",
            "[sync]",
            "interval_minutes = 1",
            'language = "ru"',
            *billing_toml(),
        ]
        for client in CLIENTS:
            lines += [
                "",
                "[[clients]]",
                f'id = "{client.id}"',
                f'name = "{client.org}"',
                f"zendesk_organization_id = {seeded.org_ids[client.id]}",
                f'redmine_projects = ["{seeded.projects[client.id]}"]',
                f'language = "{client.language}"',
                *client_billing_lines(client.id, seeded.today),
            ]
        self.files.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.config = load_config(self.files.config)
        out(f"\n== Config: {shown(self.files.config)}")
        for c in self.config.clients:
            out(f"  client {c.id:<7} organization {c.zendesk_organization_id} → {c.issue_project}")
        out(f"  {STRANGER.org} (organization {seeded.org_ids[STRANGER.id]}) is left out on purpose")

    def check(self) -> None:
        from syncd.check import run_checks

        assert self.config
        out(f"\n== syncd --config {shown(self.files.config)} check")
        problems = run_checks(self.config, out=lambda line: out("  " + line))
        if problems:
            raise DemoError(f"`syncd check` found {len(problems)} problem(s), see above", 1)

    def story(self) -> None:
        rm, zd = self._clients()
        seeded = self.seeded
        assert seeded
        self.cycle("the first one: adopt hand-made links, create the other issues")

        out("\n== Meanwhile, two months of work in Redmine")
        work = simulate_month(rm, seeded, self.links())
        _print_work(work)
        self.cycle("statuses and hours go back to the tickets")

        reopen = next(t for t in seeded.tickets if t.spec.fate == "reopen")
        text = client_reopens(zd, seeded, reopen)
        out(f"\n== {reopen.client.requester[0]} ({reopen.client.org}) answers the 'done' reply")
        out(f"  on ticket #{reopen.id}: “{text}” — Zendesk reopens the ticket")
        self.cycle("the client's answer reopens the issue")

        issue_id = self.links()[reopen.id]
        dev = issue_owner(rm, seeded, issue_id)
        log_time(rm, seeded, WorkDone(), issue_id, dev, seeded.today, 1.5, "Development")
        set_status(rm, issue_id, "Resolved", "Fixed on iOS Safari as well.", seeded, dev)
        out(f"\n== {dev.name} fixes issue #{issue_id} again: +1.5 h, Resolved")
        self.cycle("done again: a second 'done' reply")

        for _ in range(MAX_QUIET_CYCLES):
            stats = self.cycle("once more, until nothing changes")
            if _quiet(stats):
                break
        else:
            out("  (still changing after several cycles; see `syncd status`)")
            self.ok = False

    def billing(self) -> None:
        rm, _ = self._clients()
        assert self.config and self.seeded
        issue_id = min(self.links().values())
        month = close_and_correct(self.config, rm, self.seeded, issue_id, out)
        self.cycle("the forgotten hour goes back to its ticket")
        self.reports = write_reports(self.config, month, self.files.root / "reports", out)

    # ------------------------------------------------------------------ one sync cycle
    def cycle(self, why: str) -> Stats:
        _, zd = self._clients()
        assert self.config
        self.cycles += 1
        n = self.cycles
        # The export hides the last minute: move the emulator's clock instead of sleeping.
        zd.advance(61)
        actions: list[str] = []
        t0 = time.monotonic()
        stats = app.run_command(self.config, "sync", dry_run=False, announce=actions.append)
        took = time.monotonic() - t0
        out(f"\n== Sync cycle {n} ({took:.1f} s): {why}")
        out(
            f"  read  {_n(stats.tickets, 'ticket')}, {_n(stats.issues, 'changed issue')}, "
            f"{_n(stats.time_entries, 'new time entry', 'new time entries')}"
        )
        did = _did(stats) or ["nothing: everything is in sync"]
        for k, line in enumerate(did):
            out(f"  {'did' if k == 0 else '':<5} {line}")
        for k, line in enumerate(actions[:ACTIONS_SHOWN]):
            out(f"  {'e.g.' if k == 0 else '':<5} {line}")
        if len(actions) > ACTIONS_SHOWN:
            rest = len(actions) - ACTIONS_SHOWN
            out(f"        … {rest} more, all in {shown(self.files.actions_log)}")
        self._log_actions(n, why, actions)
        if not stats.ok:
            self.ok = False
            out(
                f"  PROBLEM: {stats.failures} failed item(s), failed sources "
                f"{stats.sources_failed or 'none'}; they are retried next cycle "
                f"(details: syncd status, {shown(self.files.syncd_log)})"
            )
        return stats

    def _log_actions(self, n: int, why: str, actions: list[str]) -> None:
        if self._actions is None:
            self._actions = open_private(self.files.actions_log)
        self._actions.write(f"# sync cycle {n}: {why}\n")
        self._actions.writelines(f"{line}\n" for line in actions)
        self._actions.flush()

    def links(self) -> dict[int, int]:
        store = Store(self.files.state)
        try:
            return {x["ticket_id"]: x["issue_id"] for x in store.links()}
        finally:
            store.close()

    # ------------------------------------------------------------------ the results
    def table(self) -> None:
        rm, zd = self._clients()
        seeded = self.seeded
        assert seeded
        store = Store(self.files.state)
        try:
            links = {x["ticket_id"]: x for x in store.links()}
            unassigned = {x["id"] for x in store.unassigned_tickets()}
        finally:
            store.close()
        tickets = zd.tickets([t.id for t in seeded.tickets])
        issues, hours = _redmine_issues_and_hours(rm, list(seeded.projects.values()))
        hours_field = seeded.field_ids["hours"]

        out("\n== Where every ticket ended up")
        head = (
            f"  {'ticket':<7}{'client':<8}{'subject':<31}{'status':<8}"
            f"{'issue':<13}{'status':<12}{'hours':>6}{'Redmine':>8}"
        )
        out(head)
        out("  " + "─" * (len(head) - 2))
        for t in seeded.tickets:
            zt = tickets.get(t.id, {})
            client = t.client.id if t.client.is_client else "—"
            subject = _cut(t.spec.subject, 29)
            first = f"  #{t.id:<6}{client:<8}{subject:<31}{zt.get('status', '?'):<8}"
            link = links.get(t.id)
            if link is None:
                if t.id in unassigned:
                    why = f"tagged, but {t.client.org} is no client: unassigned"
                elif not t.spec.tagged:
                    why = "not tagged: no issue"
                else:
                    why = "NO ISSUE (unexpected)"
                    self.ok = False
                out(first + why)
                continue
            issue_id = link["issue_id"]
            origin = "made" if link["origin"] == "created" else "adopted"
            status = issues.get(issue_id, {}).get("status", {}).get("name", "?")
            on_ticket = _field(zt, hours_field)
            in_redmine = _tree_hours(issue_id, issues, hours)
            mark = "" if _same_hours(on_ticket, in_redmine) else " ≠"
            out(
                first
                + f"{f'#{issue_id} {origin}':<13}{status:<12}"
                + f"{(on_ticket or '—'):>6}{_hours(in_redmine):>8}{mark}"
            )
        out("  status: the ticket's in Zendesk, then the issue's in Redmine")
        out("  made / adopted: the issue was created by syncd / made by hand and found by syncd")
        out("  hours: what syncd wrote into the ticket's 'Hours spent' field")
        out("  Redmine: the sum of the issue's time entries (with its subtasks'), to compare")

    def where(self) -> None:
        seeded, rm = self.seeded, self.redmine
        assert seeded and rm and self.emulator and self.config
        cfg = shown(self.files.config)
        syncd = _syncd_command()
        reopened = next(t for t in seeded.tickets if t.spec.fate == "reopen")
        out("\n== Where things are")
        out(f"  config   {cfg} (no secrets in it: zendesk.token, redmine.key beside it, 0600;")
        out(f"           redmine.key is {BOT.login}'s API key, not the admin's)")
        out(f"  state    {shown(self.files.state)} (SQLite: tickets, issues, time entries, links)")
        out(
            f"  logs     {shown(self.files.syncd_log)} (syncd's JSON log), "
            f"{shown(self.files.actions_log)} (every write)"
        )
        out(
            f"  Zendesk  {self.emulator.url}, the emulator (pid {self.emulator.pid}, still running)"
        )
        out(
            f"           ticket #{reopened.id}'s whole conversation, syncd's notes and replies too:"
        )
        out(f"           curl -u {AGENT_EMAIL}/token:$(cat {shown(self.files.zendesk_token)}) \\")
        out(f"             {self.emulator.url}/api/v2/tickets/{reopened.id}/comments.json")
        first, *others = (seeded.projects[c.id] for c in CLIENTS)
        out(f"  Redmine  {rm.url}/projects/{first}/issues?set_filter=1&status_id=*")
        out(f"           (and {', '.join(others)}: public projects, no login needed)")
        out("\n== Try next")
        out(f"  {syncd} --config {cfg} status           # what syncd knows (reads the state only)")
        out(f"  {syncd} --config {cfg} sync --dry-run   # what a cycle would do now: nothing")
        out(f"  {syncd} --config {cfg} check            # the config against both services")
        out(
            f"  kill $(cat {shown(self.files.emulator_pid)})   "
            "# stop the emulator; `make demo` starts over anyway"
        )
        out("\n== Reports")
        assert self.reports
        for path in self.reports.paths:
            out(f"  {shown(path)}")
        month = self.reports.report.month
        out(f"  again: {syncd} --config {cfg} report billing --month {month}")

    # ------------------------------------------------------------------ helpers
    def _clients(self) -> tuple[Redmine, Zendesk]:
        assert self.redmine and self.zendesk
        return self.redmine, self.zendesk


class _LogToFile:
    """syncd's structured log goes to syncd.log: the terminal is for the story."""

    def __init__(self, files: DemoFiles) -> None:
        self.files = files
        self.old: dict[str, Any] = {}
        self.handle: TextIO | None = None

    def __enter__(self) -> None:
        self.old = structlog.get_config()
        self.files.root.mkdir(parents=True, exist_ok=True)
        self.handle = open_private(self.files.syncd_log)
        configure(json=True, stream=self.handle)

    def __exit__(self, *exc: object) -> None:
        structlog.configure(**self.old)
        if self.handle:
            self.handle.close()


# ====================================================================== formatting
def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _did(stats: Stats) -> list[str]:
    w = stats.writes
    parts: list[tuple[int, Callable[[int], str]]] = [
        (stats.created, lambda n: f"created {_n(n, 'Redmine issue')}"),
        (stats.adopted, lambda n: f"adopted {_n(n, 'link')} made by hand"),
        (
            w.get("ticket_linked", 0),
            lambda n: f"wrote the issue number + an internal note into {_n(n, 'ticket')}",
        ),
        (
            w.get("reply_in_work", 0),
            lambda n: "sent " + _n(n, "'in work' reply", "'in work' replies"),
        ),
        (w.get("status_note", 0), lambda n: f"added {_n(n, 'internal status note')}"),
        (
            w.get("reply_done", 0),
            lambda n: "sent " + _n(n, "'done' reply", "'done' replies") + ", solved the tickets",
        ),
        (w.get("reopen_issue", 0), lambda n: f"reopened {_n(n, 'Redmine issue')}"),
        (stats.hours_pushed, lambda n: f"put spent hours on {_n(n, 'ticket')}"),
        (
            stats.time_entries_deleted,
            lambda n: f"noticed {_n(n, 'deleted time entry', 'deleted time entries')}",
        ),
    ]
    return [text(n) for n, text in parts if n]


def _quiet(stats: Stats) -> bool:
    return stats.ok and not _did(stats)


def _print_work(work: WorkDone) -> None:
    out(
        f"  {work.entries} time entries, {_hours(work.hours)} h, spent {work.first_day} … "
        f"{work.last_day}"
    )
    out(f"  by {', '.join(sorted(work.users))}")
    out(f"  as {', '.join(sorted(work.activities))} (Internal: marked not billable)")
    moved = ", ".join(f"{len(ids)} → {status}" for status, ids in sorted(work.by_status.items()))
    out(f"  issues moved: {moved}; the rest stay New")
    if work.subtasks:
        out(f"  subtask #{work.subtasks[0]} has hours too: they count for its parent's ticket")
    out("  a monthly call per client, logged on the project: no ticket, for the reports only")


def _fields_text(seeded: Seeded) -> str:
    names = {"issue": "Redmine issue", "hours": "Hours spent", "estimate": "Estimate, h"}
    return ", ".join(f"'{names[k]}' #{v}" for k, v in seeded.field_ids.items())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _field(ticket: dict[str, Any], field_id: int) -> str | None:
    for f in ticket.get("custom_fields") or []:
        if f.get("id") == field_id and f.get("value") not in (None, ""):
            return str(f["value"])
    return None


def _hours(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _same_hours(on_ticket: str | None, in_redmine: Decimal) -> bool:
    if on_ticket is None:
        return in_redmine == 0
    return Decimal(on_ticket) == in_redmine


def _redmine_issues_and_hours(
    rm: Redmine, projects: list[str]
) -> tuple[dict[int, dict[str, Any]], dict[int, Decimal]]:
    issues: dict[int, dict[str, Any]] = {}
    hours: dict[int, Decimal] = defaultdict(Decimal)
    for project in projects:
        for path, key in (("/issues.json", "issues"), ("/time_entries.json", "time_entries")):
            offset = 0
            while True:
                params: dict[str, Any] = {"project_id": project, "limit": 100, "offset": offset}
                if key == "issues":
                    params["status_id"] = "*"
                page = rm.get(path, **params)
                for x in page[key]:
                    if key == "issues":
                        issues[int(x["id"])] = x
                    elif x.get("issue"):
                        hours[int(x["issue"]["id"])] += Decimal(str(x["hours"]))
                offset += len(page[key])
                if not page[key] or offset >= int(page.get("total_count", 0)):
                    break
    return issues, hours


def _tree_hours(root: int, issues: dict[int, dict[str, Any]], hours: dict[int, Decimal]) -> Decimal:
    children: dict[int, list[int]] = defaultdict(list)
    for issue in issues.values():
        if issue.get("parent"):
            children[int(issue["parent"]["id"])].append(int(issue["id"]))
    total, todo = Decimal(0), [root]
    while todo:
        current = todo.pop()
        total += hours.get(current, Decimal(0))
        todo.extend(children.get(current, []))
    return total


def _count(state: Path, table: str) -> int:
    store = Store(state)
    try:
        return store.count(table)
    finally:
        store.close()


def _syncd_command() -> str:
    """How to call syncd from here: `syncd` when that is on PATH, else the venv's script."""
    script = Path(sys.executable).parent / "syncd"
    on_path = shutil.which("syncd")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "syncd"
    return shown(script) if script.exists() else f"{sys.executable} -m syncd.cli"
