"""Large data straight into the bench Redmine's SQLite database, not through REST.

Projects, users and memberships are few and go through REST (Redmine keeps the projects'
nested set and the members' roles right). Issues, their "Zendesk ticket" custom values and time
entries are bulk INSERTs into DATADIR/db/redmine.sqlite3 with the columns Redmine itself fills:
issues as roots of their own tree (root_id = id, lft 1, rgt 2), closed_on for closed statuses;
time entries with tyear/tmonth/tweek (ISO week, Ruby's Date#cweek) and author_id. `verify()`
asks Redmine over REST whether it sees the counts.

Times are UTC in Redmine's SQLite format ('YYYY-MM-DD HH:MM:SS.ffffff').
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from bench.common import Redmine

CHUNK = 20_000  # rows per transaction: Redmine (busy timeout 10 s) waits at most that long


def rtime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class NewIssue:
    project_id: int
    subject: str
    ticket: int | None  # the "Zendesk ticket" field's value
    status: str
    created_on: datetime
    updated_on: datetime
    tracker: str = "Support"
    priority: str = "Normal"


@dataclass(frozen=True)
class NewEntry:
    project_id: int
    issue_id: int | None
    user_id: int
    hours: Decimal
    spent_on: date
    created_on: datetime
    activity: str = "Development"
    comments: str = ""


def connect(rm: Redmine) -> sqlite3.Connection:
    con = sqlite3.connect(rm.db_path, timeout=60, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 60000")
    return con


def next_issue_id(rm: Redmine) -> int:
    con = connect(rm)
    try:
        return int(con.execute("SELECT coalesce(max(id), 0) + 1 FROM issues").fetchone()[0])
    finally:
        con.close()


def insert_issues(rm: Redmine, issues: Sequence[NewIssue], *, first_id: int) -> list[int]:
    """Insert with ids first_id, first_id + 1, …; refuses when an id is taken meanwhile."""
    statuses = rm.ids["statuses"]
    closed = set(rm.ids["closed_statuses"])
    trackers, priorities = rm.ids["trackers"], rm.ids["priorities"]
    field_id = rm.ticket_field_id
    con = connect(rm)
    ids: list[int] = []
    try:
        for start in range(0, len(issues), CHUNK):
            chunk = issues[start : start + CHUNK]
            con.execute("BEGIN IMMEDIATE")
            try:
                taken = con.execute("SELECT coalesce(max(id), 0) FROM issues").fetchone()[0]
                if taken >= first_id + start:
                    raise RuntimeError(f"issue id {first_id + start} is taken (max id {taken})")
                rows, values = [], []
                for k, i in enumerate(chunk):
                    issue_id = first_id + start + k
                    ids.append(issue_id)
                    rows.append(
                        (
                            issue_id,
                            trackers[i.tracker],
                            i.project_id,
                            i.subject,
                            f"Seeded by bench/redmine_seed.py for Zendesk #{i.ticket}",
                            statuses[i.status],
                            priorities[i.priority],
                            1,  # author: admin
                            rtime(i.created_on),
                            rtime(i.updated_on),
                            i.created_on.date().isoformat(),
                            issue_id,  # root_id: a root of its own nested set
                            rtime(i.updated_on) if i.status in closed else None,
                        )
                    )
                    if i.ticket is not None:
                        values.append(("Issue", issue_id, field_id, str(i.ticket)))
                con.executemany(
                    "INSERT INTO issues (id, tracker_id, project_id, subject, description, "
                    "status_id, priority_id, author_id, lock_version, created_on, updated_on, "
                    "start_date, done_ratio, root_id, lft, rgt, is_private, closed_on) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, 1, 2, 0, ?)",
                    rows,
                )
                con.executemany(
                    "INSERT INTO custom_values (customized_type, customized_id, custom_field_id, "
                    "value) VALUES (?, ?, ?, ?)",
                    values,
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
    finally:
        con.close()
    return ids


def insert_time_entries(rm: Redmine, entries: Iterable[NewEntry]) -> int:
    activities = rm.ids["activities"]
    con = connect(rm)
    count = 0
    try:
        batch: list[tuple] = []

        def flush() -> None:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(
                    "INSERT INTO time_entries (project_id, user_id, issue_id, hours, comments, "
                    "activity_id, spent_on, tyear, tmonth, tweek, created_on, updated_on, "
                    "author_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            batch.clear()

        for e in entries:
            stamp = rtime(e.created_on)
            batch.append(
                (
                    e.project_id,
                    e.user_id,
                    e.issue_id,
                    float(e.hours),
                    e.comments,
                    activities[e.activity],
                    e.spent_on.isoformat(),
                    e.spent_on.year,
                    e.spent_on.month,
                    e.spent_on.isocalendar().week,
                    stamp,
                    stamp,
                    e.user_id,
                )
            )
            count += 1
            if len(batch) >= CHUNK:
                flush()
        if batch:
            flush()
    finally:
        con.close()
    return count


def set_status(rm: Redmine, issue_ids: Sequence[int], status: str, at: datetime) -> None:
    """A status change as the API will show it (no journal: syncd reads status and
    updated_on only)."""
    status_id = rm.ids["statuses"][status]
    closed = status in set(rm.ids["closed_statuses"])
    con = connect(rm)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.executemany(
            "UPDATE issues SET status_id = ?, updated_on = ?, closed_on = ?, "
            "lock_version = lock_version + 1 WHERE id = ?",
            [(status_id, rtime(at), rtime(at) if closed else None, i) for i in issue_ids],
        )
        con.execute("COMMIT")
    finally:
        con.close()


def verify(rm: Redmine, project_ids: Sequence[int], *, issues: int, entries: int) -> None:
    """Does Redmine itself see what was inserted? (REST, as admin.)"""
    projects = [("set_filter", "1"), ("f[]", "project_id"), ("op[project_id]", "=")] + [
        ("v[project_id][]", str(p)) for p in project_ids
    ]
    seen_issues = rm.total(
        "/issues.json", [*projects, ("f[]", "status_id"), ("op[status_id]", "*")]
    )
    seen_entries = rm.total("/time_entries.json", projects)
    if (seen_issues, seen_entries) != (issues, entries):
        raise RuntimeError(
            f"Redmine sees {seen_issues} issues and {seen_entries} time entries, "
            f"expected {issues} and {entries}"
        )
