"""syncd.state.Store on a real SQLite file in tmp_path."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Issue, Ticket, TimeEntry
from syncd.state import SCHEMA_VERSION, Store, iso, parse_iso

MSK = timezone(timedelta(hours=3))
T0 = datetime(2026, 10, 5, 12, 12, tzinfo=MSK)  # 09:12 UTC


def ticket(ticket_id: int = 1, **kw: Any) -> Ticket:
    base: dict[str, Any] = {
        "id": ticket_id,
        "subject": "Сайт не открывается",
        "description": "body",
        "status": "open",
        "type": "incident",
        "priority": "high",
        "tags": ("redmine", "vip"),
        "organization_id": 361,
        "requester_id": 10,
        "assignee_id": None,
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=5),
        "due_at": None,
        "url": f"https://acme.zendesk.com/agent/tickets/{ticket_id}",
    }
    base.update(kw)
    return Ticket(**base)


def issue(issue_id: int, parent_id: int | None = None, **kw: Any) -> Issue:
    base: dict[str, Any] = {
        "id": issue_id,
        "project": "acme-site",
        "tracker": "Bug",
        "status": "New",
        "priority": "Normal",
        "subject": f"issue {issue_id}",
        "description": "",
        "created_on": T0,
        "updated_on": T0,
        "parent_id": parent_id,
        "url": f"http://redmine.test/issues/{issue_id}",
    }
    base.update(kw)
    return Issue(**base)


def entry(entry_id: int, issue_id: int | None, hours: str | Decimal, **kw: Any) -> TimeEntry:
    base: dict[str, Any] = {
        "id": entry_id,
        "project": "acme-site",
        "issue_id": issue_id,
        "user": "Dev One",
        "user_id": 5,
        "activity": "Development",
        "hours": Decimal(hours),
        "spent_on": date(2026, 10, 5),
        "comments": "work",
        "created_on": T0,
        "updated_on": T0,
        "custom_fields": {},
    }
    base.update(kw)
    return TimeEntry(**base)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncd.db"


@pytest.fixture
def store(db_path: Path):
    s = Store(db_path)
    yield s
    s.close()


# ---------------------------------------------------------------------- file and schema
def test_file_is_private_and_parent_created(store: Store, db_path: Path) -> None:
    store.set_cursor("x", "1")  # makes SQLite create -wal / -shm
    assert db_path.parent.is_dir()
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    for side in ("-wal", "-shm"):
        p = db_path.with_name(db_path.name + side)
        if p.exists():
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def test_file_is_private_whatever_the_umask(db_path: Path) -> None:
    old = os.umask(0)
    try:
        Store(db_path).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


def test_wal_mode(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_is_idempotent_on_reopen(db_path: Path) -> None:
    s = Store(db_path)
    s.save_ticket(ticket(7), client="acme", wants_issue=True)
    s.set_cursor("tickets", "abc")
    tables = set(s.db.table_names())
    s.close()

    again = Store(db_path)
    try:
        assert set(again.db.table_names()) == tables
        assert {"tickets", "issues", "links", "time_entries", "effects", "cursors"} <= tables
        assert again.meta("schema_version") == str(SCHEMA_VERSION)
        assert again.count("meta") == 1
        assert again.ticket(7)["subject"] == "Сайт не открывается"
        assert again.cursor("tickets") == "abc"
    finally:
        again.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    s = Store(db_path)
    s.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    s.close()
    with pytest.raises(RuntimeError, match="newer than this syncd"):
        Store(db_path)


# ---------------------------------------------------------------------- time helpers
def test_iso_rejects_naive_and_normalises_to_utc() -> None:
    with pytest.raises(ValueError, match="naive"):
        iso(datetime(2026, 1, 1, 12, 0))
    assert iso(T0) == "2026-10-05T09:12:00+00:00"
    assert iso(None) is None
    assert parse_iso(None) is None
    back = parse_iso(iso(T0))
    assert back == T0 and back.utcoffset() == timedelta(0)


# ---------------------------------------------------------------------- tickets
def test_ticket_round_trip(store: Store) -> None:
    due = datetime(2026, 10, 9, 18, 0, tzinfo=UTC)
    store.save_ticket(ticket(5, due_at=due), client="acme", wants_issue=True)
    row = store.ticket(5)
    assert row["subject"] == "Сайт не открывается"
    assert json.loads(row["tags"]) == ["redmine", "vip"]
    assert (row["client"], row["wants_issue"], row["organization_id"]) == ("acme", 1, 361)
    for key, original in (("created_at", T0), ("updated_at", T0 + timedelta(minutes=5))):
        back = parse_iso(row[key])
        assert back == original
        assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert parse_iso(row["due_at"]) == due
    assert store.ticket(6) is None


def test_ticket_upsert_replaces(store: Store) -> None:
    store.save_ticket(ticket(5), client=None, wants_issue=True)
    store.save_ticket(ticket(5, status="solved"), client="acme", wants_issue=False)
    assert store.count("tickets") == 1
    row = store.ticket(5)
    assert (row["status"], row["client"], row["wants_issue"]) == ("solved", "acme", 0)


def test_naive_ticket_time_is_rejected_and_nothing_written(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.save_ticket(ticket(5, updated_at=datetime(2026, 1, 1)), client=None, wants_issue=0)
    assert store.ticket(5) is None


def test_unassigned_tickets(store: Store) -> None:
    store.save_ticket(ticket(3), client=None, wants_issue=True)
    store.save_ticket(ticket(1), client=None, wants_issue=True)
    store.save_ticket(ticket(2), client="acme", wants_issue=True)
    store.save_ticket(ticket(4), client=None, wants_issue=False)
    assert [r["id"] for r in store.unassigned_tickets()] == [1, 3]


# ---------------------------------------------------------------------- issues
def test_issue_round_trip(store: Store) -> None:
    i = issue(
        10,
        estimated_hours=Decimal("2.50"),
        due_date=date(2026, 11, 1),
        closed_on=T0 + timedelta(days=1),
    )
    assert store.save_issue(i, ticket_field="17") is True
    assert store.save_issue(i, ticket_field="17") is False  # unchanged
    row = store.issue(10)
    assert row["estimated_hours"] == "2.50"
    assert Decimal(row["estimated_hours"]) == Decimal("2.50")
    assert row["due_date"] == "2026-11-01"
    assert parse_iso(row["closed_on"]) == T0 + timedelta(days=1)
    assert parse_iso(row["created_on"]).tzinfo is not None
    assert row["ticket_field"] == "17"
    store.set_issue_status(10, "Resolved")
    assert store.issue(10)["status"] == "Resolved"
    assert store.issue(11) is None
    # the stored status now differs from what Redmine sent: saving it again is a change
    assert store.save_issue(i, ticket_field="17") is True
    assert store.issue(10)["status"] == "New"
    # a change within the same updated_on second is still a change
    assert store.save_issue(replace(i, subject="renamed"), ticket_field="17") is True
    assert store.save_issue(i, ticket_field="18") is True
    assert store.count("issues") == 1


def test_naive_issue_time_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        store.save_issue(issue(1, updated_on=datetime(2026, 1, 1)), ticket_field=None)
    assert store.issue(1) is None


# ---------------------------------------------------------------------- tree
@pytest.fixture
def tree(store: Store) -> Store:
    #   1
    #   +- 2
    #   |  +- 4
    #   |     +- 5
    #   +- 3
    # 9 (unrelated)
    for i in (issue(1), issue(2, 1), issue(3, 1), issue(4, 2), issue(5, 4), issue(9)):
        store.save_issue(i, ticket_field=None)
    return store


def test_issue_tree(tree: Store) -> None:
    assert sorted(tree.issue_tree(1)) == [1, 2, 3, 4, 5]
    assert tree.issue_tree(1)[0] == 1
    assert sorted(tree.issue_tree(2)) == [2, 4, 5]
    assert tree.issue_tree(5) == [5]
    assert tree.issue_tree(9) == [9]
    assert tree.issue_tree(404) == [404]


def test_ancestors(tree: Store) -> None:
    assert tree.ancestors(5) == [4, 2, 1]
    assert tree.ancestors(3) == [1]
    assert tree.ancestors(1) == []
    assert tree.ancestors(404) == []


def test_tree_follows_reparenting(tree: Store) -> None:
    tree.save_issue(issue(4, 3), ticket_field=None)
    assert sorted(tree.issue_tree(2)) == [2]
    assert sorted(tree.issue_tree(3)) == [3, 4, 5]
    assert tree.ancestors(5) == [4, 3, 1]


# ---------------------------------------------------------------------- time entries
def test_time_entry_round_trip_and_change_detection(store: Store) -> None:
    e = entry(100, 1, "1.25", custom_fields={2: "yes", 1: "x"})
    assert store.save_time_entry(e) is True
    assert store.save_time_entry(e) is False
    # the same custom fields in another order are no change
    assert store.save_time_entry(entry(100, 1, "1.25", custom_fields={1: "x", 2: "yes"})) is False
    row = store._one("SELECT * FROM time_entries WHERE id = 100")
    assert row["hours"] == "1.25"
    assert row["spent_on"] == "2026-10-05"
    assert json.loads(row["custom_fields"]) == {"1": "x", "2": "yes"}
    assert parse_iso(row["created_on"]) == T0
    assert parse_iso(row["synced_at"]).tzinfo is not None

    assert store.save_time_entry(entry(100, 1, "1.50")) is True
    assert store.save_time_entry(entry(100, 1, "1.50")) is False
    assert store.save_time_entry(entry(100, 2, "1.50")) is True
    assert store.save_time_entry(entry(100, 2, "1.50", comments="other")) is True
    assert store.save_time_entry(entry(100, 2, "1.50", spent_on=date(2026, 10, 6))) is True
    assert store.count("time_entries") == 1
    assert store.hours_for_issues([2]) == Decimal("1.50")


def test_time_entry_queries_and_delete(store: Store) -> None:
    store.save_time_entry(entry(1, 10, "1", spent_on=date(2026, 9, 30)))
    store.save_time_entry(entry(2, 10, "2", spent_on=date(2026, 10, 1)))
    store.save_time_entry(entry(3, None, "3", spent_on=date(2026, 10, 31)))
    store.save_time_entry(entry(4, 11, "4", spent_on=date(2026, 11, 1)))
    store.save_time_entry(entry(5, 12, "5", spent_on=date(2026, 10, 15), project="other"))
    assert store.time_entry_ids([1, 3, 99]) == {1, 3}
    assert store.time_entry_ids([]) == set()
    october = store.time_entries_spent_between("2026-10-01", "2026-10-31", ["acme-site"])
    assert sorted(r["id"] for r in october) == [2, 3]
    both = store.time_entries_spent_between("2026-10-01", "2026-10-31", ["acme-site", "other"])
    assert sorted(r["id"] for r in both) == [2, 3, 5]
    assert store.time_entries_spent_between("2026-10-01", "2026-10-31", []) == []
    store.delete_time_entries([2, 4, 404])
    assert store.time_entry_ids([1, 2, 3, 4]) == {1, 3}


def test_naive_time_entry_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        store.save_time_entry(entry(1, 1, "1", created_on=datetime(2026, 1, 1)))
    assert store.time_entry_ids([1]) == set()


def test_hours_for_issues_is_exact_decimal(store: Store) -> None:
    store.save_time_entry(entry(1, 1, "0.10"))
    store.save_time_entry(entry(2, 2, "0.20"))
    store.save_time_entry(entry(3, 3, "7.00"))  # not asked for
    total = store.hours_for_issues([1, 2])
    assert isinstance(total, Decimal)
    assert total == Decimal("0.3")
    assert str(total) == "0.30"
    assert store.hours_for_issues([]) == Decimal("0")
    assert store.hours_for_issues([404]) == Decimal("0")


def test_hours_for_issue_tree(tree: Store) -> None:
    tree.save_time_entry(entry(1, 1, "0.10"))
    tree.save_time_entry(entry(2, 5, "0.20"))
    tree.save_time_entry(entry(3, 3, "0.70"))
    tree.save_time_entry(entry(4, 9, "100"))
    assert tree.hours_for_issues(tree.issue_tree(1)) == Decimal("1.00")
    assert tree.hours_for_issues(tree.issue_tree(2)) == Decimal("0.20")


HOURS = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(ours=st.lists(HOURS, max_size=25), others=st.lists(HOURS, max_size=5))
def test_hours_sum_equals_decimal_sum(ours: list[Decimal], others: list[Decimal]) -> None:
    s = Store(":memory:")
    try:
        for n, h in enumerate(ours):
            s.save_time_entry(entry(n + 1, 1 + n % 3, h))
        for n, h in enumerate(others):
            s.save_time_entry(entry(1000 + n, 99, h))
        assert s.hours_for_issues([1, 2, 3]) == sum(ours, Decimal("0"))
        assert s.hours_for_issues([99]) == sum(others, Decimal("0"))
    finally:
        s.close()


# ---------------------------------------------------------------------- links and conflicts
def _link(store: Store, ticket_id: int, issue_id: int) -> None:
    store.add_link(
        ticket_id=ticket_id,
        issue_id=issue_id,
        client="acme",
        origin="created",
        issue_status="New",
        ticket_status="open",
    )


def test_links(store: Store) -> None:
    _link(store, 20, 200)
    _link(store, 10, 100)
    link = store.link_by_ticket(10)
    assert link["issue_id"] == 100
    assert (link["origin"], link["done_rounds"], link["hours_pushed"]) == ("created", 0, None)
    assert parse_iso(link["linked_at"]).tzinfo is not None
    assert store.link_by_issue(200)["ticket_id"] == 20
    assert store.link_by_ticket(30) is None
    assert store.link_by_issue(300) is None
    assert [lk["ticket_id"] for lk in store.links()] == [10, 20]

    store.update_link(10, done_rounds=1, hours_pushed="1.50", issue_status="Resolved")
    link = store.link_by_ticket(10)
    assert (link["done_rounds"], link["hours_pushed"], link["issue_status"]) == (
        1,
        "1.50",
        "Resolved",
    )


def test_one_issue_one_ticket(store: Store) -> None:
    _link(store, 10, 100)
    with pytest.raises(sqlite3.IntegrityError):
        _link(store, 11, 100)
    with pytest.raises(sqlite3.IntegrityError):
        _link(store, 10, 101)
    assert len(store.links()) == 1


def test_conflicts_upsert_and_cleared_by_link(store: Store) -> None:
    store.record_conflict(100, 10, "first reason")
    store.record_conflict(100, 11, "second reason")
    store.record_conflict(101, 12, "other")
    rows = store.conflicts()
    assert [(r["issue_id"], r["ticket_id"], r["reason"]) for r in rows] == [
        (100, 11, "second reason"),
        (101, 12, "other"),
    ]
    _link(store, 11, 100)
    assert [r["issue_id"] for r in store.conflicts()] == [101]


# ---------------------------------------------------------------------- failures
def test_failures_count_attempts(store: Store) -> None:
    nxt = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
    assert store.record_failure("ticket:1", "boom", nxt) == 1
    first = store.failure("ticket:1")
    assert store.record_failure("ticket:1", "x" * 5000, nxt + timedelta(minutes=5)) == 2
    assert store.record_failure("ticket:1", "again", nxt) == 3
    assert store.record_failure("issue:9", "other", nxt) == 1
    row = store.failure("ticket:1")
    assert row["attempts"] == 3
    assert row["reason"] == "again"
    assert row["first_at"] == first["first_at"]
    assert parse_iso(row["next_at"]) == nxt
    assert [f["item"] for f in store.failures()] == ["issue:9", "ticket:1"]

    store.record_failure("issue:9", "y" * 5000, nxt)
    assert len(store.failure("issue:9")["reason"]) == 2000

    store.clear_failure("ticket:1")
    assert store.failure("ticket:1") is None
    assert store.record_failure("ticket:1", "fresh", nxt) == 1


def test_failure_naive_next_at_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        store.record_failure("ticket:1", "r", datetime(2026, 1, 1))


# ---------------------------------------------------------------------- cursors, meta, cycles
def test_cursors(store: Store) -> None:
    assert store.cursor("tickets") is None
    store.set_cursor("tickets", "c1")
    store.set_cursor("issues", "2026-10-05T09:00:00Z")
    store.set_cursor("tickets", "c2")
    assert store.cursor("tickets") == "c2"
    rows = store.cursors()
    assert [(r["name"], r["value"]) for r in rows] == [
        ("issues", "2026-10-05T09:00:00Z"),
        ("tickets", "c2"),
    ]
    assert all(parse_iso(r["updated_at"]).tzinfo is not None for r in rows)


def test_meta(store: Store) -> None:
    assert store.meta("nope") is None
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.meta("k") == "v2"


def test_cycles(store: Store) -> None:
    a = store.start_cycle("sync")
    b = store.start_cycle("report")
    assert b > a
    store.finish_cycle(a, "ok", {"created": 2, "notes": 1})
    store.finish_cycle(b, "failed", {}, error="Zendesk unreachable")
    rows = store.recent_cycles()
    assert [r["id"] for r in rows] == [b, a]
    assert rows[0]["status"] == "failed" and rows[0]["error"] == "Zendesk unreachable"
    assert rows[1]["command"] == "sync"
    assert json.loads(rows[1]["stats"]) == {"created": 2, "notes": 1}
    assert parse_iso(rows[1]["finished_at"]) >= parse_iso(rows[1]["started_at"])
    assert [r["id"] for r in store.recent_cycles(limit=1)] == [b]


def test_running_cycle(store: Store) -> None:
    c = store.start_cycle("sync")
    row = store.recent_cycles()[0]
    assert (row["id"], row["status"], row["finished_at"]) == (c, "running", None)


# ---------------------------------------------------------------------- effect journal
def test_effect_journal(store: Store) -> None:
    assert store.effect("create_issue:1") is None
    store.begin_effect(
        "create_issue:1", "create_issue", ticket_id=1, issue_id=None, detail={"why": "tag"}
    )
    store.begin_effect("reply_done:2:1", "reply_done", ticket_id=2, issue_id=20, detail={})
    row = store.effect("create_issue:1")
    assert (row["status"], row["kind"], row["ticket_id"], row["done_at"]) == (
        "pending",
        "create_issue",
        1,
        None,
    )
    assert json.loads(row["detail"]) == {"why": "tag"}
    assert {r["key"] for r in store.pending_effects()} == {"create_issue:1", "reply_done:2:1"}
    assert store.effect_counts() == {}

    store.finish_effect("create_issue:1", issue_id=77)
    row = store.effect("create_issue:1")
    assert (row["status"], row["issue_id"]) == ("done", 77)
    assert parse_iso(row["done_at"]).tzinfo is not None
    assert [r["key"] for r in store.pending_effects()] == ["reply_done:2:1"]
    assert store.effect_counts() == {"create_issue": 1}

    store.finish_effect("reply_done:2:1")
    assert store.effect("reply_done:2:1")["issue_id"] == 20  # kept when not given
    assert store.pending_effects() == []


def test_effect_detail_serialises_odd_values(store: Store) -> None:
    store.begin_effect(
        "k", "x", ticket_id=None, issue_id=None, detail={"h": Decimal("1.50"), "s": "Я"}
    )
    assert json.loads(store.effect("k")["detail"]) == {"h": "1.50", "s": "Я"}


# ---------------------------------------------------------------------- atomic
def test_atomic_rollback_leaves_nothing(db_path: Path) -> None:
    s = Store(db_path)
    with pytest.raises(RuntimeError, match="crash"), s.atomic():
        s.save_ticket(ticket(1), client="acme", wants_issue=True)
        s.save_issue(issue(10), ticket_field="1")
        s.save_time_entry(entry(100, 10, "1.00"))
        _link(s, 1, 10)
        s.set_cursor("tickets", "moved")
        s.begin_effect("create_issue:1", "create_issue", ticket_id=1, issue_id=None, detail={})
        s.record_failure("ticket:2", "r", datetime.now(UTC))
        s.start_cycle("sync")  # nested atomic: a savepoint inside ours
        raise RuntimeError("crash")
    for table in ("tickets", "issues", "time_entries", "links", "effects", "failures", "cycles"):
        assert s.count(table) == 0, table
    assert s.cursor("tickets") is None
    s.close()
    again = Store(db_path)
    try:
        assert again.count("tickets") == 0
        assert again.cursor("tickets") is None
    finally:
        again.close()


def test_atomic_commit_persists(db_path: Path) -> None:
    s = Store(db_path)
    with s.atomic():
        s.save_ticket(ticket(1), client="acme", wants_issue=True)
        s.set_cursor("tickets", "moved")
    s.close()
    again = Store(db_path)
    try:
        assert again.ticket(1) is not None
        assert again.cursor("tickets") == "moved"
    finally:
        again.close()


def test_writes_outside_atomic_are_committed_for_other_connections(
    store: Store, db_path: Path
) -> None:
    store.set_cursor("tickets", "c1")
    store.save_ticket(ticket(3), client=None, wants_issue=True)
    other = sqlite3.connect(db_path)
    try:
        assert other.execute("SELECT value FROM cursors WHERE name='tickets'").fetchone() == ("c1",)
        assert other.execute("SELECT id FROM tickets").fetchall() == [(3,)]
    finally:
        other.close()
