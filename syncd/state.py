"""The local state store: SQLite (WAL) through sqlite-utils.

Everything the daemon knows lives here: the tickets, issues and time entries it has seen, the
links between tickets and issues, the cursors of both feeds, the effect journal that makes
writes to other systems idempotent, per-item failures waiting for retry, and a log of cycles.
A cursor only moves inside the same transaction as the data it covers (`db.atomic()`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils

from connectors.base import Issue, Ticket, TicketEvent, TimeEntry

# The v1 schema below, then each migration in order, in the same transaction as the version
# bump that records it (sqlite-utils' migrations habit): a crash never leaves half a migration.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE tickets ADD COLUMN custom_fields TEXT",
        # When the issue first reached a done status (per-request plans bill in that month).
        "ALTER TABLE issues ADD COLUMN done_on TEXT",
        # An invoiced month, frozen: `document` as sent; `baseline` what later adjustments
        # have already accounted for (starts equal to the document).
        "CREATE TABLE IF NOT EXISTS invoices (month TEXT NOT NULL, client TEXT NOT NULL, "
        "frozen_at TEXT NOT NULL, document TEXT NOT NULL, baseline TEXT NOT NULL, "
        "PRIMARY KEY (month, client))",
    ),
}
MIGRATIONS[3] = (
    # What the SLA report measures: comments (author, public), status changes, ratings.
    "CREATE TABLE IF NOT EXISTS ticket_events (id INTEGER PRIMARY KEY, ticket_id INTEGER "
    "NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, author_id INTEGER, public INTEGER, "
    "value TEXT, previous TEXT)",
    "CREATE INDEX IF NOT EXISTS ticket_events_ticket ON ticket_events (ticket_id, at)",
    "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, role TEXT NOT NULL)",
    "ALTER TABLE tickets ADD COLUMN satisfaction TEXT",
)
MIGRATIONS[4] = ("ALTER TABLE tickets ADD COLUMN metrics TEXT",)
MIGRATIONS[5] = ("ALTER TABLE users ADD COLUMN name TEXT",)
MIGRATIONS[6] = (
    # Changes made behind syncd's back (a ticket merged or deleted, an issue moved or deleted,
    # the ticket field cleared, …): what was found, kept until it is undone, for `syncd status`,
    # the billing notes and the engine's own guards (no write to what is gone).
    "CREATE TABLE IF NOT EXISTS drift (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "ticket_id INTEGER, issue_id INTEGER, detail TEXT NOT NULL, data TEXT, seen_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS drift_ticket ON drift (ticket_id)",
    "CREATE INDEX IF NOT EXISTS drift_issue ON drift (issue_id)",
)
MIGRATIONS[7] = (
    # What the reports read: a month of a client's projects (billing: time entries, requests
    # done), the tickets whose status changed in a month (SLA). Without them every report
    # scanned the whole history once per client (issue 6, bench/reports_bench.py).
    "CREATE INDEX IF NOT EXISTS time_entries_project_spent ON time_entries (project, spent_on)",
    "CREATE INDEX IF NOT EXISTS issues_project_done ON issues (project, done_on)",
    "CREATE INDEX IF NOT EXISTS ticket_events_at ON ticket_events (at)",
)
SCHEMA_VERSION = max(MIGRATIONS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY, subject TEXT, status TEXT, type TEXT, priority TEXT,
    tags TEXT, organization_id INTEGER, client TEXT, requester_id INTEGER,
    assignee_id INTEGER, created_at TEXT, updated_at TEXT, due_at TEXT, url TEXT,
    wants_issue INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tickets_client ON tickets (client);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, project TEXT, tracker TEXT, status TEXT, priority TEXT,
    subject TEXT, parent_id INTEGER, estimated_hours TEXT, due_date TEXT,
    created_on TEXT, updated_on TEXT, closed_on TEXT, ticket_field TEXT, url TEXT);
CREATE INDEX IF NOT EXISTS issues_parent ON issues (parent_id);
CREATE TABLE IF NOT EXISTS links (
    ticket_id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL UNIQUE, client TEXT,
    origin TEXT NOT NULL, linked_at TEXT NOT NULL, issue_status TEXT, ticket_status TEXT,
    done_rounds INTEGER NOT NULL DEFAULT 0, hours_pushed TEXT,
    hours_dirty INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS links_hours_dirty ON links (hours_dirty);
CREATE TABLE IF NOT EXISTS time_entries (
    id INTEGER PRIMARY KEY, project TEXT, issue_id INTEGER, user TEXT, user_id INTEGER,
    activity TEXT, hours TEXT NOT NULL, spent_on TEXT NOT NULL, comments TEXT,
    created_on TEXT, updated_on TEXT, custom_fields TEXT, synced_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS time_entries_issue ON time_entries (issue_id);
CREATE INDEX IF NOT EXISTS time_entries_spent ON time_entries (spent_on);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, ticket_id INTEGER, issue_id INTEGER,
    status TEXT NOT NULL, detail TEXT, created_at TEXT NOT NULL, done_at TEXT);
CREATE TABLE IF NOT EXISTS failures (
    item TEXT PRIMARY KEY, reason TEXT NOT NULL, attempts INTEGER NOT NULL,
    first_at TEXT NOT NULL, last_at TEXT NOT NULL, next_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conflicts (
    issue_id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, reason TEXT NOT NULL,
    seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, stats TEXT, error TEXT);
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: every time in the store is time-zone aware")
    return value.astimezone(UTC).isoformat()


def parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class Store:
    """Typed access to the state database. One Store per process; one writer at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it: it holds client data.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            self.db = sqlite_utils.Database(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        else:
            self.db = sqlite_utils.Database(memory=True)
        self.db.execute("PRAGMA busy_timeout=10000")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    @property
    def on_disk(self) -> bool:
        """False for an in-memory store, which no other connection (nor process) can see."""
        return str(self.path) != ":memory:"

    def reopen_read_only(self) -> None:
        """In a forked worker (reports/parallel.py): read through a connection of its own.
        The one inherited from the parent is left alone, never used nor closed: SQLite state
        must not cross a fork, and closing it here could tidy up files the parent uses."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.execute("PRAGMA busy_timeout=10000")
        self.db = sqlite_utils.Database(conn)

    def _migrate(self) -> None:
        with self._write_transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', '1') "
                "ON CONFLICT(key) DO NOTHING"
            )
        version = int(self.meta("schema_version") or 0)
        for target in sorted(v for v in MIGRATIONS if v > version):
            with self._write_transaction():
                for statement in MIGRATIONS[target]:
                    self.db.execute(statement)
                self.set_meta("schema_version", str(target))
            version = target
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: state schema {version} is newer than this syncd "
                f"({SCHEMA_VERSION}); upgrade syncd"
            )

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """A transaction that takes the write lock first, waiting busy_timeout for it. A plain
        (deferred) one reads the schema, then fails at once with "database is locked" when it
        must turn into a writer after another connection committed: SQLite doesn't wait on a
        stale snapshot. Opening the store (`syncd status`) beside a writing cycle failed so."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def atomic(self):  # sqlite-utils' own context manager
        return self.db.atomic()

    # ---------------------------------------------------------------- meta and cursors
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def cursor(self, name: str) -> str | None:
        row = self._one("SELECT value FROM cursors WHERE name = ?", name)
        return row["value"] if row else None

    def set_cursor(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [name, value, iso(utcnow())],
        )

    def cursors(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM cursors ORDER BY name")

    # ---------------------------------------------------------------- tickets
    def ticket(self, ticket_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM tickets WHERE id = ?", ticket_id)

    def save_ticket(self, t: Ticket, *, client: str | None, wants_issue: bool) -> None:
        self.db["tickets"].upsert(
            utf8_row(
                {
                    "id": t.id,
                    "subject": t.subject,
                    "status": t.status,
                    "type": t.type,
                    "priority": t.priority,
                    "tags": json.dumps(list(t.tags), ensure_ascii=False),
                    "organization_id": t.organization_id,
                    "client": client,
                    "requester_id": t.requester_id,
                    "assignee_id": t.assignee_id,
                    "created_at": iso(t.created_at),
                    "updated_at": iso(t.updated_at),
                    "due_at": iso(t.due_at),
                    "url": t.url,
                    "wants_issue": int(wants_issue),
                    "custom_fields": json.dumps(
                        {str(k): v for k, v in sorted(t.custom_fields.items())},
                        ensure_ascii=False,
                        default=str,
                    ),
                    "satisfaction": t.satisfaction,
                    "metrics": json.dumps(t.metrics, sort_keys=True) if t.metrics else None,
                }
            ),
            pk="id",
        )

    def save_events(self, events: Iterable[TicketEvent]) -> int:
        """Store events by id; returns how many were new. A time-based export repeats the
        events of its boundary second on every poll: the ids make that harmless."""
        events = list(events)
        ids = [e.id for e in events]
        marks = ",".join("?" * len(ids))
        known = (
            {
                r["id"]
                for r in self._all(f"SELECT id FROM ticket_events WHERE id IN ({marks})", *ids)
            }
            if ids
            else set()
        )
        rows = [
            utf8_row(
                {
                    "id": e.id,
                    "ticket_id": e.ticket_id,
                    "at": iso(e.at),
                    "kind": e.kind,
                    "author_id": e.author_id,
                    "public": None if e.public is None else int(e.public),
                    "value": e.value,
                    "previous": e.previous,
                }
            )
            for e in events
        ]
        if rows:
            self.db["ticket_events"].upsert_all(rows, pk="id")
        return len({e.id for e in events} - known)

    def events_for(self, ticket_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY at, id", ticket_id
        )

    def latest_event_at(self) -> str | None:
        row = self._one("SELECT max(at) AS at FROM ticket_events")
        return row["at"] if row else None

    def tickets_of_client(self, client: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM tickets WHERE client = ? ORDER BY id", client)

    def user_roles(self) -> list[dict[str, Any]]:
        return self._all("SELECT id, role, name FROM users")

    def unnamed_assignees(self) -> list[int]:
        rows = self._all(
            "SELECT DISTINCT assignee_id FROM tickets WHERE assignee_id IS NOT NULL "
            "AND assignee_id NOT IN (SELECT id FROM users)"
        )
        return [r["assignee_id"] for r in rows]

    def unknown_users(self, user_ids: Iterable[int]) -> list[int]:
        ids = sorted({u for u in user_ids if u})
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        known = {r["id"] for r in self._all(f"SELECT id FROM users WHERE id IN ({marks})", *ids)}
        return [u for u in ids if u not in known]

    def save_user_roles(self, roles: dict[int, tuple[str, str]]) -> None:
        if roles:
            self.db["users"].upsert_all(
                [
                    utf8_row({"id": k, "role": role, "name": name})
                    for k, (role, name) in roles.items()
                ],
                pk="id",
            )

    def unassigned_tickets(self) -> list[dict[str, Any]]:
        """Tickets marked for work whose organization is no configured client's."""
        return self._all(
            "SELECT id, subject, status, organization_id, updated_at FROM tickets "
            # A linked ticket whose organization changed later is reported as drift, not here;
            # a deleted one (spam) is no request at all.
            "WHERE wants_issue = 1 AND client IS NULL AND status != 'deleted' "
            "AND id NOT IN (SELECT ticket_id FROM links) ORDER BY id"
        )

    # ---------------------------------------------------------------- issues
    def issue(self, issue_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM issues WHERE id = ?", issue_id)

    def save_issue(self, i: Issue, ticket_field: str | None, *, done: bool = False) -> bool:
        """Store an issue; True when it is new or differs from what was stored. Compared
        field by field: Redmine's updated_on has one-second resolution, and two changes
        within one second must not look like one."""
        row = {
            "id": i.id,
            "project": i.project,
            "tracker": i.tracker,
            "status": i.status,
            "priority": i.priority,
            "subject": i.subject,
            "parent_id": i.parent_id,
            "estimated_hours": _dec(i.estimated_hours),
            "due_date": i.due_date.isoformat() if i.due_date else None,
            "created_on": iso(i.created_on),
            "updated_on": iso(i.updated_on),
            "closed_on": iso(i.closed_on),
            "ticket_field": ticket_field,
            "url": i.url,
        }
        old = self._one("SELECT * FROM issues WHERE id = ?", i.id)
        # The first time it was seen done; kept through reopens (a request is billed once).
        row["done_on"] = (old or {}).get("done_on") or (
            iso(i.closed_on or i.updated_on) if done else None
        )
        if old == row:
            return False
        self.db["issues"].upsert(row, pk="id")
        return True

    def set_issue_status(self, issue_id: int, status: str) -> None:
        self.db["issues"].update(issue_id, {"status": status})

    def issue_tree(self, root: int) -> list[int]:
        """The issue and all its descendants (subtasks of any depth), by parent_id."""
        rows = self._all(
            "WITH RECURSIVE tree(id) AS (SELECT ? UNION "
            "SELECT issues.id FROM issues JOIN tree ON issues.parent_id = tree.id) "
            "SELECT id FROM tree",
            root,
        )
        return [r["id"] for r in rows]

    def ancestors(self, issue_id: int) -> list[int]:
        rows = self._all(
            "WITH RECURSIVE up(id) AS (SELECT parent_id FROM issues WHERE id = ? UNION "
            "SELECT issues.parent_id FROM issues JOIN up ON issues.id = up.id "
            "WHERE issues.parent_id IS NOT NULL) SELECT id FROM up WHERE id IS NOT NULL",
            issue_id,
        )
        return [r["id"] for r in rows]

    # ---------------------------------------------------------------- links
    def link_by_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM links WHERE ticket_id = ?", ticket_id)

    def link_by_issue(self, issue_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM links WHERE issue_id = ?", issue_id)

    def add_link(
        self,
        *,
        ticket_id: int,
        issue_id: int,
        client: str | None,
        origin: str,
        issue_status: str | None,
        ticket_status: str | None,
    ) -> None:
        self.db["links"].insert(
            {
                "ticket_id": ticket_id,
                "issue_id": issue_id,
                "client": client,
                "origin": origin,
                "linked_at": iso(utcnow()),
                "issue_status": issue_status,
                "ticket_status": ticket_status,
                "done_rounds": 0,
                "hours_pushed": None,
                "hours_dirty": 1,
            }
        )
        self.db.execute("DELETE FROM conflicts WHERE issue_id = ?", [issue_id])

    def update_link(self, ticket_id: int, **values: Any) -> None:
        self.db["links"].update(ticket_id, values)

    def mark_hours_dirty(self, issue_id: int) -> None:
        """The hours of the link whose issue tree holds this issue must be recomputed.
        Kept in the store, not in memory: a cycle killed after saving time entries still
        owes the ticket its hours, and the next cycle finds the flag."""
        for candidate in [issue_id, *self.ancestors(issue_id)]:
            self.db.execute("UPDATE links SET hours_dirty = 1 WHERE issue_id = ?", [candidate])

    def dirty_hour_links(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM links WHERE hours_dirty = 1 ORDER BY ticket_id")

    def links(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM links ORDER BY ticket_id")

    def record_conflict(self, issue_id: int, ticket_id: int, reason: str) -> None:
        self.db["conflicts"].upsert(
            {
                "issue_id": issue_id,
                "ticket_id": ticket_id,
                "reason": reason,
                "seen_at": iso(utcnow()),
            },
            pk="issue_id",
        )

    def conflicts(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM conflicts ORDER BY issue_id")

    # ---------------------------------------------------------------- drift
    def record_drift(
        self,
        kind: str,
        *,
        ticket_id: int | None,
        issue_id: int | None,
        detail: str,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Remember a change made behind our back; True when it is new (first seen now)."""
        key = f"{kind}:{ticket_id or ''}:{issue_id or ''}"
        new = self._one("SELECT key FROM drift WHERE key = ?", key) is None
        self.db["drift"].upsert(
            {
                "key": key,
                "kind": kind,
                "ticket_id": ticket_id,
                "issue_id": issue_id,
                "detail": detail,
                "data": json.dumps(data or {}, sort_keys=True, ensure_ascii=False),
                "seen_at": iso(utcnow()),
            },
            pk="key",
        )
        return new

    def resolve_drift(self, kind: str, *, ticket_id: int | None, issue_id: int | None) -> bool:
        """It was undone (an issue moved back, the organization restored); True if it was known."""
        key = f"{kind}:{ticket_id or ''}:{issue_id or ''}"
        known = self._one("SELECT key FROM drift WHERE key = ?", key) is not None
        if known:  # asked for every linked ticket and issue the feeds bring: usually nothing
            self.db.execute("DELETE FROM drift WHERE key = ?", [key])
        return known

    def drift_of(self, *, ticket_id: int | None = None, issue_id: int | None = None) -> dict:
        """kind -> row, for one ticket or one issue."""
        if ticket_id is not None:
            rows = self._all("SELECT * FROM drift WHERE ticket_id = ? ORDER BY key", ticket_id)
        else:
            rows = self._all("SELECT * FROM drift WHERE issue_id = ? ORDER BY key", issue_id)
        return {r["kind"]: {**r, "data": json.loads(r["data"] or "{}")} for r in rows}

    def drifts(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM drift ORDER BY seen_at, key")

    # ---------------------------------------------------------------- time entries
    def time_entry_ids(self, ids: Iterable[int]) -> set[int]:
        ids = list(ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {
            r["id"] for r in self._all(f"SELECT id FROM time_entries WHERE id IN ({marks})", *ids)
        }

    def time_entry_issue(self, entry_id: int) -> int | None:
        row = self._one("SELECT issue_id FROM time_entries WHERE id = ?", entry_id)
        return row["issue_id"] if row else None

    def save_time_entry(self, e: TimeEntry) -> bool:
        """Store an entry; True when it is new or differs from what was stored."""
        row = {
            "id": e.id,
            "project": e.project,
            "issue_id": e.issue_id,
            "user": e.user,
            "user_id": e.user_id,
            "activity": e.activity,
            "hours": _dec(e.hours),
            "spent_on": e.spent_on.isoformat(),
            "comments": e.comments,
            "created_on": iso(e.created_on),
            "updated_on": iso(e.updated_on),
            "custom_fields": json.dumps(
                {str(k): v for k, v in sorted(e.custom_fields.items())}, ensure_ascii=False
            ),
        }
        old = self._one("SELECT * FROM time_entries WHERE id = ?", e.id)
        if old and all(old[k] == v for k, v in row.items()):
            return False
        self.db["time_entries"].upsert({**row, "synced_at": iso(utcnow())}, pk="id")
        return True

    def time_entries_spent_between(
        self, since: str, until: str, projects: list[str]
    ) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(projects))
        return self._all(
            f"SELECT * FROM time_entries WHERE spent_on BETWEEN ? AND ? AND project IN ({marks})",
            since,
            until,
            *projects,
        )

    def start_reread(self) -> None:
        """A scratch list of the entry ids a period re-read has seen: a temporary table of
        this connection (never in the state file), so finding the entries that are gone takes
        no memory in proportion to the period."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS reread_seen (id INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.reread_seen")

    def mark_reread(self, ids: Iterable[int]) -> None:
        with self.atomic():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO temp.reread_seen (id) VALUES (?)", [(i,) for i in ids]
            )

    def unseen_time_entries(
        self, since: str, until: str, projects: list[str]
    ) -> list[dict[str, Any]]:
        """Entries spent in the period on these projects that the re-read did not see."""
        marks = ",".join("?" * len(projects))
        return self._all(
            "SELECT id, issue_id, hours, spent_on FROM time_entries "
            f"WHERE spent_on BETWEEN ? AND ? AND project IN ({marks}) "
            "AND id NOT IN (SELECT id FROM temp.reread_seen) ORDER BY id",
            since,
            until,
            *projects,
        )

    def first_spent_on(self, projects: list[str]) -> str | None:
        marks = ",".join("?" * len(projects))
        row = self._one(
            f"SELECT min(spent_on) AS first FROM time_entries WHERE project IN ({marks})", *projects
        )
        return row["first"] if row else None

    def issues_done_between(
        self, since: str, until: str, projects: list[str]
    ) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(projects))
        return self._all(
            f"SELECT * FROM issues WHERE done_on >= ? AND done_on < ? "
            f"AND project IN ({marks}) ORDER BY id",
            since,
            until,
            *projects,
        )

    # ---------------------------------------------------------------- frozen invoices
    def invoice(self, month: str, client: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM invoices WHERE month = ? AND client = ?", month, client)

    def invoices_before(self, client: str, month: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM invoices WHERE client = ? AND month < ? ORDER BY month", client, month
        )

    def save_invoice(self, month: str, client: str, document: str) -> None:
        self.db["invoices"].insert(
            {
                "month": month,
                "client": client,
                "frozen_at": iso(utcnow()),
                "document": document,
                "baseline": document,
            }
        )

    def set_baseline(self, month: str, client: str, baseline: str) -> None:
        self.db.execute(
            "UPDATE invoices SET baseline = ? WHERE month = ? AND client = ?",
            [baseline, month, client],
        )

    def delete_time_entries(self, ids: Iterable[int]) -> None:
        for entry_id in ids:
            self.db.execute("DELETE FROM time_entries WHERE id = ?", [entry_id])

    def hours_for_issues(self, issue_ids: list[int]) -> Decimal:
        if not issue_ids:
            return Decimal("0")
        marks = ",".join("?" * len(issue_ids))
        rows = self._all(f"SELECT hours FROM time_entries WHERE issue_id IN ({marks})", *issue_ids)
        # Summed as Decimal in Python: SQLite's SUM would go through binary floats.
        return sum((Decimal(r["hours"]) for r in rows), Decimal("0"))

    # ---------------------------------------------------------------- reports: many at once
    # A report reads hundreds of tickets and issues per client: one query each was most of
    # its time over a large store (issue 6). Ids travel as one JSON array (no SQL variable
    # limit). Each method gives what its one-at-a-time counterpart gives, for many.
    def tickets_active_between(self, start: str, end: str) -> list[dict[str, Any]]:
        """Tickets created in [start, end), and those created before `end` whose status
        changed in [start, end) (ISO times, compared as stored), by id."""
        return self._all(
            "SELECT * FROM tickets WHERE created_at < ? AND (created_at >= ? OR id IN "
            "(SELECT ticket_id FROM ticket_events WHERE kind = 'status' AND at >= ? AND at < ?))"
            " ORDER BY id",
            end,
            start,
            start,
            end,
        )

    def events_of_tickets(self, ticket_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Ticket id -> `events_for` it (every id asked for is a key)."""
        out: dict[int, list[dict[str, Any]]] = {t: [] for t in ticket_ids}
        for row in self._all(
            "SELECT * FROM ticket_events WHERE ticket_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY ticket_id, at, id",
            json.dumps(list(out)),
        ):
            out[row["ticket_id"]].append(row)
        return out

    def rows_by_id(self, table: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Id -> row of `table` ("tickets" or "issues"), for the ids that exist."""
        if table not in ("tickets", "issues"):
            raise ValueError(f"rows_by_id: not a table of rows by id: {table!r}")
        rows = self._all(
            f"SELECT * FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
            json.dumps(sorted(set(ids))),
        )
        return {r["id"]: r for r in rows}

    def links_of_tickets(self, ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Ticket id -> `link_by_ticket`, for the linked ones."""
        rows = self._all(
            "SELECT * FROM links WHERE ticket_id IN (SELECT value FROM json_each(?))",
            json.dumps(sorted(set(ticket_ids))),
        )
        return {r["ticket_id"]: r for r in rows}

    # The two lookups below are read whole by every report: as pairs straight from the
    # cursor, since a dict per row costs more than the query (tens of thousands of rows).
    def linked_tickets(self) -> dict[int, int]:
        """Issue id -> the ticket linked to it, for every link."""
        return dict(self.db.execute("SELECT issue_id, ticket_id FROM links").fetchall())

    def issue_parents(self) -> dict[int, int]:
        """Issue id -> parent id, for every subtask: `ancestors` is a walk up this."""
        sql = "SELECT id, parent_id FROM issues WHERE parent_id IS NOT NULL"
        return dict(self.db.execute(sql).fetchall())

    def hours_of_trees(self, roots: Iterable[int]) -> dict[int, Decimal]:
        """Root -> `hours_for_issues(issue_tree(root))` (every root asked for is a key)."""
        out = {root: Decimal("0") for root in roots}
        # Hours are exact decimal text; a tree logs few distinct values, so each is converted
        # once and multiplied by how often it occurs (exact, as the sum of its copies).
        rows = self.db.execute(
            "WITH RECURSIVE tree(root, id) AS (SELECT value, value FROM json_each(?) UNION "
            "SELECT tree.root, issues.id FROM issues JOIN tree ON issues.parent_id = tree.id) "
            "SELECT tree.root, time_entries.hours, COUNT(*) FROM tree "
            "JOIN time_entries ON time_entries.issue_id = tree.id "
            "GROUP BY tree.root, time_entries.hours",
            [json.dumps(list(out))],
        )
        for root, hours, count in rows:
            out[root] += Decimal(hours) * count
        return out

    # ---------------------------------------------------------------- effect journal
    def effect(self, key: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM effects WHERE key = ?", key)

    def begin_effect(
        self,
        key: str,
        kind: str,
        *,
        ticket_id: int | None,
        issue_id: int | None,
        detail: dict[str, Any],
    ) -> None:
        self.db["effects"].upsert(
            {
                "key": key,
                "kind": kind,
                "ticket_id": ticket_id,
                "issue_id": issue_id,
                "status": "pending",
                "detail": json.dumps(detail, ensure_ascii=False, default=str),
                "created_at": iso(utcnow()),
                "done_at": None,
            },
            pk="key",
        )

    def finish_effect(self, key: str, *, issue_id: int | None = None) -> None:
        values: dict[str, Any] = {"status": "done", "done_at": iso(utcnow())}
        if issue_id is not None:
            values["issue_id"] = issue_id
        self.db["effects"].update(key, values)

    def drop_effect(self, key: str) -> None:
        self.db.execute("DELETE FROM effects WHERE key = ? AND status = 'pending'", [key])

    def pending_effects(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM effects WHERE status = 'pending' ORDER BY created_at")

    def effect_counts(self) -> dict[str, int]:
        rows = self._all(
            "SELECT kind, count(*) AS n FROM effects WHERE status = 'done' GROUP BY kind"
        )
        return {r["kind"]: r["n"] for r in rows}

    # ---------------------------------------------------------------- failures
    def failure(self, item: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM failures WHERE item = ?", item)

    def record_failure(self, item: str, reason: str, next_at: datetime) -> int:
        now = iso(utcnow())
        old = self.failure(item)
        attempts = (old["attempts"] if old else 0) + 1
        self.db["failures"].upsert(
            {
                "item": item,
                "reason": reason[:2000],
                "attempts": attempts,
                "first_at": old["first_at"] if old else now,
                "last_at": now,
                "next_at": iso(next_at),
            },
            pk="item",
        )
        return attempts

    def clear_failure(self, item: str) -> None:
        self.db.execute("DELETE FROM failures WHERE item = ?", [item])

    def failures(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM failures ORDER BY item")

    # ---------------------------------------------------------------- cycles
    def start_cycle(self, command: str) -> int:
        with self.atomic():
            table = self.db["cycles"]
            table.insert({"command": command, "started_at": iso(utcnow()), "status": "running"})
            return int(table.last_pk)

    def finish_cycle(
        self, cycle_id: int, status: str, stats: dict[str, Any], error: str | None = None
    ) -> None:
        with self.atomic():
            self.db["cycles"].update(
                cycle_id,
                {
                    "finished_at": iso(utcnow()),
                    "status": status,
                    "stats": json.dumps(stats, sort_keys=True),
                    "error": error,
                },
            )

    def recent_cycles(self, limit: int = 10) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM cycles ORDER BY id DESC LIMIT ?", limit)

    # ---------------------------------------------------------------- helpers
    def count(self, table: str) -> int:
        return self.db[table].count

    def _one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        rows = self._all(sql, *params)
        return rows[0] if rows else None

    def _all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def utf8_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with text SQLite can store. JSON may carry a lone surrogate ("\\ud800") and
    Zendesk passes one on; UTF-8 can't hold it, and the UnicodeEncodeError used to end the
    whole cycle on every run. It becomes U+FFFD, like the reports show it."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                out[key] = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return out


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
