"""A seeded syncd store for the reports benchmark (issue 6, benchmark 4), and its config.

    build_store(path, size)   # creates the store through syncd.state.Store, then bulk-inserts
    write_config(path, size, state_path)

The studio: `size.clients` clients (a mix of hourly, tariff, per-request and subscription
plans, some switching plans, some within a warranty), their Redmine issues (subtasks
included) and the links to their Zendesk tickets, tickets without issues, the tickets' events
the SLA report reads (requester and agent comments, internal notes, status changes, reopens,
ratings), agents and requesters, and `size.entries` time entries (activities, Redmine users,
hours with two decimals, some non-billable through a custom field, some on Bugs within a
warranty, a few on the project without an issue) spread over `MONTHS` months from
`FIRST_DAY`. Client sizes are skewed (a few large clients, many small ones), as in a real
studio. Ids are given in time order, as Redmine and Zendesk give them.

Everything is derived from `size.seed`: the same size gives the same store, row for row.
Rows go in with executemany inside one transaction; `DATA_VERSION` names the generator, so a
cached store (bench/reports_bench.py) is rebuilt when the generator changes.
"""

from __future__ import annotations

import bisect
import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from syncd.state import Store

DATA_VERSION = 2
FIRST_DAY = date(2025, 9, 1)
LAST_DAY = date(2026, 11, 15)  # the data runs into the month after the one reported
MONTH = "2026-10"  # the month reported: the last complete one
TWELVE = [f"2025-{m:02d}" for m in (11, 12)] + [f"2026-{m:02d}" for m in range(1, 11)]
MEAN_ENTRIES_PER_ISSUE = 9
PROJECT_LEVEL_SHARE = 0.03  # entries logged on the project, without an issue
SUBTASK_SHARE = 0.12
TICKET_SHARE = 0.7  # top-level issues that came from a ticket
LOOSE_TICKETS = 0.4  # tickets answered without an issue, per linked ticket

ACTIVITIES = ["Development", "Design", "Testing", "Management", "Internal", "Consulting"]
ACTIVITY_WEIGHTS = [50, 15, 12, 10, 8, 5]
TRACKERS = ["Bug", "Feature", "Support"]
TRACKER_WEIGHTS = [35, 45, 20]
PRIORITIES = ["low", "normal", "high", "urgent"]
PRIORITY_WEIGHTS = [15, 60, 20, 5]
REDMINE_PRIORITY = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
TYPES = ["incident", "problem", "task", "question"]
REASON_TAGS = ["bug", "content", "seo", "design", "integration", "mail", "payments", "hosting"]
REDMINE_USERS = [f"{f} {s}" for f in ("Anna", "Boris", "Vera", "Gleb", "Daria", "Egor")
                 for s in ("Lind", "Orlova", "Petrov", "Sokol", "Zima")]  # fmt: skip
AGENTS = 24  # Zendesk agents (two of them admins)
REQUESTERS_PER_CLIENT = 3
ISSUE_FIELD, HOURS_FIELD, PRICE_FIELD, BILLABLE_FIELD = 360001, 360002, 360010, 2

TARIFF_HOURS = {"premium": 10, "retainer": 80}  # included hours of the tariff plans below
MEAN_ENTRY_HOURS = 1.97  # of the hours `_entry` draws
# plan name -> share of clients
PLAN_MIX = {
    "standard": 35,
    "senior": 15,
    "premium": 15,
    "retainer": 10,
    "fixed": 15,
    "care": 10,
}


@dataclass(frozen=True)
class Size:
    clients: int
    entries: int
    seed: int = 20261101

    @property
    def key(self) -> str:
        return f"v{DATA_VERSION}-c{self.clients}-e{self.entries}-s{self.seed}"


FULL = Size(clients=500, entries=1_000_000)
QUICK = Size(clients=40, entries=40_000)


@dataclass
class _Client:
    index: int
    id: str
    projects: list[str]
    plan: str
    plan_changes: list[tuple[str, str]]
    launched_on: date | None
    warranty_days: int
    language: str | None
    requesters: list[int]
    budget: int  # time entries


def _clients(rng: random.Random, size: Size) -> list[_Client]:
    plans, plan_weights = list(PLAN_MIX), list(PLAN_MIX.values())
    chosen = [rng.choices(plans, plan_weights)[0] for _ in range(size.clients)]
    weights = [rng.lognormvariate(0, 1.0) for _ in range(size.clients)]
    # A tariff client works about its included hours (0.6-1.5 times of them); the other
    # clients share the rest of the entries by their (skewed) weights.
    months = ((LAST_DAY - FIRST_DAY).days + 1) / 30.44
    budgets = [
        max(1, round(TARIFF_HOURS[p] * rng.uniform(0.6, 1.5) * months / MEAN_ENTRY_HOURS))
        if p in TARIFF_HOURS
        else 0
        for p in chosen
    ]
    others = [i for i, p in enumerate(chosen) if p not in TARIFF_HOURS]
    rest = size.entries - sum(budgets)
    total = sum(weights[i] for i in others)
    exact = {i: weights[i] / total * rest for i in others}
    for i in others:
        budgets[i] = int(exact[i])
    # Largest remainders first: the budgets add up to exactly size.entries.
    for i in sorted(others, key=lambda i: budgets[i] - exact[i])[: size.entries - sum(budgets)]:
        budgets[i] += 1
    out = []
    for n in range(size.clients):
        cid = f"c{n + 1:03d}"
        plan = chosen[n]
        changes = []
        if rng.random() < 0.06:  # switched plans during the year
            other = rng.choice([p for p in plans if p != plan])
            changes.append((f"2026-{rng.randint(2, 9):02d}", other))
        launched = None
        if rng.random() < 0.2:
            launched = FIRST_DAY + timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days))
        out.append(
            _Client(
                index=n,
                id=cid,
                projects=[f"{cid}-site"] + ([f"{cid}-app"] if rng.random() < 0.1 else []),
                plan=plan,
                plan_changes=changes,
                launched_on=launched,
                warranty_days=rng.choice([30, 60, 90]) if launched else 0,
                language="en" if rng.random() < 0.2 else None,
                requesters=[
                    1_000_000 + n * REQUESTERS_PER_CLIENT + k for k in range(REQUESTERS_PER_CLIENT)
                ],
                budget=budgets[n],
            )
        )
    return out


def _ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


START_TS, END_TS = _ts(FIRST_DAY), _ts(LAST_DAY + timedelta(days=1))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).isoformat()


def _work_moment(rng: random.Random, lo: int, hi: int) -> int:
    """A moment in [lo, hi), mostly in Moscow's working hours (07:00-16:00 UTC)."""
    ts = rng.randrange(lo, max(lo + 1, hi))
    day = ts - ts % 86400
    if rng.random() < 0.85:
        ts = day + rng.randrange(6 * 3600, 16 * 3600)
    return min(max(ts, lo), hi - 1)


def build_store(path: Path, size: Size) -> dict[str, int]:
    """Create the store at `path` (which must not exist) and fill it; returns row counts."""
    rng = random.Random(size.seed)
    clients = _clients(rng, size)
    store = Store(path)  # the real schema, migrations included
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    counts: dict[str, int] = {}
    try:
        conn.execute("BEGIN")
        counts = _fill(conn, rng, clients)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return counts


def _fill(conn: sqlite3.Connection, rng: random.Random, clients: list[_Client]) -> dict[str, int]:
    days = (LAST_DAY - FIRST_DAY).days + 1
    act_cum = _cum(ACTIVITY_WEIGHTS)
    # ------------------------------------------------------------------ issues and entries
    # (created_ts, client, parent_key, tracker, temp key); entries as compact tuples.
    issues: list[list] = []
    entries: list[tuple] = []  # (day, client, issue temp key or -1, user, activity, cents, flag)
    for c in clients:
        on_issues = round(c.budget * (1 - PROJECT_LEVEL_SHARE))
        for _ in range(c.budget - on_issues):
            entries.append(_entry(rng, c, rng.randrange(days), -1, act_cum))
        recent: list[tuple[int, int]] = []  # (created_ts, key) of this client's top issues
        left = on_issues
        client_issues = []
        while left > 0:
            k = min(left, max(1, min(150, round(rng.expovariate(1 / MEAN_ENTRIES_PER_ISSUE)))))
            left -= k
            client_issues.append((_work_moment(rng, START_TS, END_TS - 86400), k))
        client_issues.sort()
        for created, k in client_issues:
            key = len(issues)
            parent = -1
            fresh = [p for ts, p in recent[-8:] if created - ts < 30 * 86400]
            if fresh and rng.random() < SUBTASK_SHARE:
                parent = rng.choice(fresh)
            else:
                recent.append((created, key))
            tracker = rng.choices(TRACKERS, TRACKER_WEIGHTS)[0]
            issues.append([created, c.index, parent, tracker, key])
            first = (created - START_TS) // 86400
            for _ in range(k):
                day = min(days - 1, first + int(rng.expovariate(1 / 6)))
                entries.append(_entry(rng, c, day, key, act_cum))
    # Redmine numbers issues in the order they were created.
    order = sorted(range(len(issues)), key=lambda k: (issues[k][0], k))
    issue_id = {key: n + 1 for n, key in enumerate(order)}
    # ------------------------------------------------------------------ tickets
    tickets: list[list] = []  # [created_ts, client, issue temp key or -1]
    per_client_linked = [0] * len(clients)
    for key, (created, ci, parent, _tracker, _) in enumerate(issues):
        if parent < 0 and rng.random() < TICKET_SHARE:
            tickets.append([created - rng.randrange(120, 3600), ci, key])
            per_client_linked[ci] += 1
    for c in clients:
        for _ in range(max(2, round(per_client_linked[c.index] * LOOSE_TICKETS))):
            tickets.append([_work_moment(rng, START_TS, END_TS - 3600), c.index, -1])
    tickets.sort(key=lambda t: (t[0], t[1], t[2]))
    ticket_of_issue: dict[int, int] = {}
    events: list[tuple] = []  # (at, ticket id, kind, author, public, value, previous)
    ticket_rows = []
    solved_of_issue: dict[int, int] = {}
    agents = list(range(500, 500 + AGENTS))
    for n, (created, ci, key) in enumerate(tickets):
        tid = 100_001 + n
        c = clients[ci]
        if key >= 0:
            ticket_of_issue[key] = tid
        row, solved = _ticket(rng, tid, created, c, key, issue_id, agents, events)
        ticket_rows.append(row)
        if key >= 0 and solved:
            solved_of_issue[key] = solved
    events.sort(key=lambda e: (e[0], e[1]))
    # ------------------------------------------------------------------ write
    conn.executemany(
        "INSERT INTO users (id, role, name) VALUES (?, ?, ?)",
        [(a, "admin" if a < 502 else "agent", f"Agent {a - 499:02d}") for a in agents]
        + [(r, "end-user", f"Requester {r}") for c in clients for r in c.requesters],
    )
    conn.executemany(
        "INSERT INTO tickets (id, subject, status, type, priority, tags, organization_id, "
        "client, requester_id, assignee_id, created_at, updated_at, due_at, url, wants_issue, "
        "custom_fields, satisfaction, metrics) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ticket_rows,
    )
    conn.executemany(
        "INSERT INTO ticket_events (id, ticket_id, at, kind, author_id, public, value, "
        "previous) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(50_000_001 + n, t, _iso(at), *rest) for n, (at, t, *rest) in enumerate(events)],
    )
    issue_rows, link_rows = [], []
    for key in order:
        created, ci, parent, tracker, _ = issues[key]
        c = clients[ci]
        iid = issue_id[key]
        tid = ticket_of_issue.get(key)
        done = solved_of_issue.get(key)
        if tid is None and rng.random() < 0.85:  # an issue without a ticket, done or not
            done = created + int(rng.expovariate(1 / (12 * 86400)))
        if done is not None and done >= END_TS:
            done = None
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        estimate = f"{rng.choice([2, 4, 6, 8, 16, 24, 40])}.00" if rng.random() < 0.5 else None
        due = None
        if rng.random() < 0.1:
            due = (datetime.fromtimestamp(created, UTC) + timedelta(days=rng.randint(3, 30))).date()
        issue_rows.append(
            (
                iid,
                c.projects[0] if len(c.projects) == 1 or rng.random() < 0.7 else c.projects[1],
                tracker,
                ("Closed" if rng.random() < 0.6 else "Resolved") if done else "In Progress",
                REDMINE_PRIORITY[priority],
                f"{tracker} #{iid} for {c.id}: " + rng.choice(SUBJECTS),
                issue_id[parent] if parent >= 0 else None,
                estimate,
                due.isoformat() if due else None,
                _iso(created),
                _iso(done or created + 3600),
                _iso(done) if done else None,
                str(tid) if tid else None,
                f"https://redmine.studio.example/issues/{iid}",
                _iso(done) if done else None,
            )
        )
        if tid:
            link_rows.append(
                (
                    tid,
                    iid,
                    c.id,
                    "created" if rng.random() < 0.9 else "adopted",
                    _iso(created + 60),
                    "Closed" if done else "In Progress",
                    "solved" if done else "open",
                    1 if done else 0,
                    None,
                    0,
                )
            )
    conn.executemany(
        "INSERT INTO issues (id, project, tracker, status, priority, subject, parent_id, "
        "estimated_hours, due_date, created_on, updated_on, closed_on, ticket_field, url, "
        "done_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        issue_rows,
    )
    conn.executemany(
        "INSERT INTO links (ticket_id, issue_id, client, origin, linked_at, issue_status, "
        "ticket_status, done_rounds, hours_pushed, hours_dirty) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        link_rows,
    )
    # Redmine numbers time entries in the order they were logged: by day.
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    synced = _iso(END_TS)
    batch = []
    for n, (day, ci, key, user, act, cents, flag) in enumerate(entries):
        c = clients[ci]
        spent = FIRST_DAY + timedelta(days=day)
        logged = f"{spent.isoformat()}T{9 + n % 9:02d}:{n % 60:02d}:00+00:00"
        batch.append(
            (
                n + 1,
                c.projects[0] if key < 0 or len(c.projects) == 1 else c.projects[key % 2],
                issue_id[key] if key >= 0 else None,
                REDMINE_USERS[user],
                10 + user,
                ACTIVITIES[act],
                f"{cents // 100}.{cents % 100:02d}",
                spent.isoformat(),
                COMMENTS[n % len(COMMENTS)],
                logged,
                logged,
                '{"2": "0"}' if flag else '{"2": "1"}',
                synced,
            )
        )
        if len(batch) == 50_000:
            _insert_entries(conn, batch)
            batch = []
    _insert_entries(conn, batch)
    return {
        "clients": len(clients),
        "issues": len(issue_rows),
        "links": len(link_rows),
        "tickets": len(ticket_rows),
        "ticket_events": len(events),
        "time_entries": len(entries),
    }


def _insert_entries(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO time_entries (id, project, issue_id, user, user_id, activity, hours, "
        "spent_on, comments, created_on, updated_on, custom_fields, synced_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _cum(weights: list[int]) -> list[int]:
    out, total = [], 0
    for w in weights:
        total += w
        out.append(total)
    return out


def _entry(rng: random.Random, c: _Client, day: int, key: int, act_cum: list[int]) -> tuple:
    act = bisect.bisect_right(act_cum, rng.randrange(act_cum[-1]))
    # Hours with two decimals, mostly in quarter hours, now and then an odd figure.
    cents = rng.choice((25, 50, 75, 100, 100, 150, 200, 300, 400))
    if rng.random() < 0.15:
        cents = rng.randint(5, 600)
    user = (c.index * 7 + rng.randrange(6)) % len(REDMINE_USERS)  # a team per client
    return (day, c.index, key, user, act, cents, rng.random() < 0.04)


def _ticket(
    rng: random.Random,
    tid: int,
    created: int,
    c: _Client,
    key: int,
    issue_id: dict[int, int],
    agents: list[int],
    events: list[tuple],
) -> tuple[tuple, int | None]:
    """One ticket's life as events; returns its row and when it was last solved."""
    requester = rng.choice(c.requesters)
    agent = agents[(c.index + rng.randrange(3)) % len(agents)]  # a few agents per client
    horizon = END_TS - 1

    def add(at: int, kind: str, author: int, public: int | None, value=None, previous=None):
        if at <= horizon:
            events.append((at, tid, kind, author, public, value, previous))

    add(created, "status", requester, None, "new", None)
    add(created, "comment", requester, 1)
    reply = created + int(rng.expovariate(1 / (150 * 60))) + 300
    if rng.random() < 0.03:
        reply = created + rng.randint(3, 9) * 86400  # forgotten for days
    add(reply, "status", agent, None, "open", "new")
    add(reply, "comment", agent, 1)
    solved_at = reply + int(rng.expovariate(1 / (2.5 * 86400))) + 600
    at = reply
    who = [requester, agent]
    for i in range(rng.choices([0, 1, 2, 3, 4, 6, 9], [30, 20, 18, 12, 10, 6, 4])[0]):
        at = min(solved_at - 60, at + rng.randrange(600, 6 * 3600))
        add(at, "comment", who[i % 2], 1)
    for _ in range(rng.choices([0, 1, 2], [60, 30, 10])[0]):
        add(rng.randrange(reply, solved_at), "comment", agent, 0)  # internal notes
    status, solved, satisfaction = "open", None, None
    if rng.random() < 0.04 or solved_at > horizon:
        pass  # still open
    else:
        add(solved_at, "comment", agent, 1)
        add(solved_at, "status", agent, None, "solved", "open")
        status, solved = "solved", solved_at
        if rng.random() < 0.07:  # the client reopens it
            back = solved_at + rng.randrange(3600, 3 * 86400)
            add(back, "comment", requester, 1)
            add(back, "status", requester, None, "open", "solved")
            status, solved = "open", None
            again = back + rng.randrange(3600, 2 * 86400)
            if again <= horizon:
                add(again, "comment", agent, 1)
                add(again, "status", agent, None, "solved", "open")
                status, solved = "solved", again
        if solved and rng.random() < 0.3:
            rated = solved + rng.randrange(600, 86400)
            satisfaction = "good" if rng.random() < 0.85 else "bad"
            add(rated, "rating", requester, None, satisfaction, None)
        if solved and solved + 4 * 86400 <= horizon:
            add(solved + 4 * 86400, "status", agent, None, "closed", "solved")
            status = "closed"
    priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    tags = ["redmine"] if key >= 0 else []
    if key >= 0:
        tags.append(f"syncd_in_work_{issue_id[key]}")
    tags += rng.sample(REASON_TAGS, rng.choice([0, 1, 1, 2]))
    if rng.random() < 0.02:
        tags.append("hosting_outage")
    fields: dict[str, object] = {}
    if key >= 0:
        fields[str(ISSUE_FIELD)] = str(issue_id[key])
    if c.plan == "fixed" and rng.random() < 0.3:
        fields[str(PRICE_FIELD)] = f"{rng.choice([5, 8, 12, 15, 20, 30])}000.00"
    metrics = None
    if solved:
        metrics = json.dumps(
            {
                "full_resolution_time": (solved - created) // 60,
                "reply_time": (reply - created) // 60,
            },
            sort_keys=True,
        )
    due = _iso(created + rng.randint(2, 10) * 86400) if rng.random() < 0.05 else None
    row = (
        tid,
        rng.choice(SUBJECTS),
        status,
        rng.choice(TYPES),
        priority,
        json.dumps(sorted(tags)),
        10_000 + c.index,
        c.id,
        requester,
        agent,
        _iso(created),
        _iso(min(horizon, (solved or reply) + 60)),
        due,
        f"https://studio.zendesk.com/agent/tickets/{tid}",
        1 if key >= 0 else 0,
        json.dumps(fields, sort_keys=True),
        satisfaction,
        metrics,
    )
    return row, solved


SUBJECTS = [
    "The contact form does not send mail",
    "Add a banner to the home page",
    "Checkout fails with a 500 error",
    "Update prices in the catalogue",
    "Слетела вёрстка на мобильных",
    "New landing page for the autumn sale",
    "Robots.txt blocks the blog",
    "Подключить оплату через СБП",
    "Slow search on the catalogue",
    "Replace the logo in the footer",
    "Import 300 products from Excel",
    "SSL certificate expires next week",
]
COMMENTS = [
    "",
    "fix",
    "review and deploy",
    "вёрстка, правки по макету",
    "call with the client",
    "testing on staging",
    "investigating the logs",
    "=SUM(A1:A2) from the client's text",
]


def write_config(path: Path, size: Size, state_path: Path) -> None:
    """A syncd.toml for the seeded studio: every client, every plan kind, the rules."""
    rng = random.Random(size.seed)
    clients = _clients(rng, size)
    parts = [
        f"""# Generated by bench/reports_data.py ({size.key}); no secret is read for reports
# from the store (--no-refresh, no --rebuild), so the variables named need not exist.
[state]
path = "{state_path}"

[zendesk]
url = "https://studio.zendesk.com"
email = "support@studio.example"
token_env = "SYNCD_BENCH_ZENDESK_TOKEN"
work_tag = "redmine"
issue_field_id = {ISSUE_FIELD}
hours_field_id = {HOURS_FIELD}

[redmine]
url = "https://redmine.studio.example"
key_env = "SYNCD_BENCH_REDMINE_KEY"
ticket_field_id = 1

[sync]
language = "ru"

[plans.standard]
kind = "hourly"
rate = "2500.00"
rates_by_activity = {{ Design = "3000.00" }}
rounding_increment = "0.25"
rounding = "up"
minimum_charge = "1000.00"

[plans.standard.sla]
first_reply_minutes = 180
resolution_minutes = 4320
ack_cutoff = "12:00"

[plans.standard.sla.urgent]
first_reply_minutes = 30
resolution_minutes = 240

[plans.senior]
kind = "hourly"
rate = "3500.00"
rates_by_user = {{ "Boris Lind" = "4500.00", "Vera Sokol" = "4000.00" }}
rounding_increment = "0.5"
rounding = "nearest"
vat_rate = "20"
currency = "EUR"

[plans.senior.sla]
first_reply_minutes = 60
resolution_minutes = 1440

[plans.premium]
kind = "tariff"
fee = "20000.00"
included_hours = "10"
overage_rate = "2000.00"
rollover_months = 1

[plans.premium.sla]
first_reply_minutes = 60
resolution_minutes = 2880
ack_cutoff = "12:00"

[plans.retainer]
kind = "tariff"
fee = "150000.00"
included_hours = "80"
overage_rate = "1800.00"
rollover_months = 2
rounding_increment = "0.25"

[plans.retainer.sla]
first_reply_minutes = 120
resolution_minutes = 2880

[plans.fixed]
kind = "per_request"
price_field_id = {PRICE_FIELD}
rate = "2000.00"
price = "5000.00"

[plans.fixed.sla]
first_reply_minutes = 240
resolution_minutes = 7200

[plans.care]
kind = "subscription"
fee = "15000.00"

[plans.care.sla]
first_reply_minutes = 480
ack_cutoff = "12:00"

[calendar]
timezone = "Europe/Moscow"
hours = "10:00-19:00"
days = ["mon", "tue", "wed", "thu", "fri"]
holidays = "RU"

[billing]
studio_name = "Bench Studio"
output_dir = "reports"
estimate_tolerance = "0.20"

[[billing.rules]]
name = "internal"
activity = "Internal"
billable = false

[[billing.rules]]
name = "warranty"
tracker = "Bug"
within_warranty = true
billable = false

[[billing.rules]]
name = "hosting outage"
tag = "hosting_outage"
billable = false

[[billing.rules]]
name = "marked non-billable"
entry_field_id = {BILLABLE_FIELD}
entry_value = "0"
billable = false
"""
    ]
    for c in clients:
        lines = [
            "",
            "[[clients]]",
            f'id = "{c.id}"',
            f'name = "Client {c.index + 1:03d} LLC"',
            f"zendesk_organization_id = {10_000 + c.index}",
            "redmine_projects = [" + ", ".join(f'"{p}"' for p in c.projects) + "]",
            f'plan = "{c.plan}"',
        ]
        if c.plan_changes:
            changes = ", ".join(f'{{ from = "{m}", plan = "{p}" }}' for m, p in c.plan_changes)
            lines.append(f"plan_changes = [{changes}]")
        if c.launched_on:
            lines += [f'launched_on = "{c.launched_on}"', f"warranty_days = {c.warranty_days}"]
        if c.language:
            lines.append(f'language = "{c.language}"')
        parts.append("\n".join(lines) + "\n")
    path.write_text("".join(parts), encoding="utf-8")
