"""The store's many-at-once reads for the reports (issue 6) give what the one-at-a-time reads
give, and the report indexes (state v7) are the ones SQLite picks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from test_state import T0, entry, issue, ticket

from connectors.base import TicketEvent
from syncd.state import Store, iso


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def studio(store: Store) -> Store:
    #   1 (ticket 10)        9 (ticket 90)      7 -> parent 404, not in the store
    #   +- 2
    #   |  +- 4 (ticket 40)
    #   |     +- 5
    #   +- 3
    for i in (
        issue(1),
        issue(2, 1),
        issue(3, 1),
        issue(4, 2),
        issue(5, 4),
        issue(9),
        issue(7, 404),
    ):
        store.save_issue(i, ticket_field=None)
    for n, (issue_id, hours) in enumerate(
        [(1, "0.10"), (5, "0.20"), (3, "0.70"), (9, "100"), (5, "1.05"), (None, "2"), (2, "0.20")]
    ):
        store.save_time_entry(entry(n + 1, issue_id, hours))
    for ticket_id, issue_id in ((10, 1), (40, 4), (90, 9)):
        store.add_link(
            ticket_id=ticket_id,
            issue_id=issue_id,
            client="acme",
            origin="created",
            issue_status="New",
            ticket_status="open",
        )
    day = timedelta(days=1)
    # 10: created before October, solved in it; 40: created in October; 90: created before
    # and only commented in October; 11: created after October.
    for ticket_id, created in (
        (10, T0 - 30 * day),
        (40, T0),
        (90, T0 - 30 * day),
        (11, T0 + 40 * day),
    ):
        store.save_ticket(ticket(ticket_id, created_at=created), client="acme", wants_issue=True)
    store.save_events(
        [
            TicketEvent(1, 10, T0 - 30 * day, "status", 5, None, "new", None),
            TicketEvent(2, 10, T0 + day, "status", 5, None, "solved", "open"),
            TicketEvent(3, 10, T0 - 29 * day, "comment", 5, True, None, None),
            TicketEvent(4, 40, T0, "comment", 6, False, None, None),
            TicketEvent(5, 90, T0 + day, "comment", 6, True, None, None),
        ]
    )
    return store


def test_hours_of_trees_are_hours_for_issues_of_issue_tree(studio: Store) -> None:
    roots = [1, 2, 3, 4, 5, 7, 9, 404]
    got = studio.hours_of_trees(roots)
    assert got == {r: studio.hours_for_issues(studio.issue_tree(r)) for r in roots}
    # 0.20 is logged twice in 1's tree (on 5 and on 2): counted twice.
    assert got[1] == Decimal("2.25") and got[2] == Decimal("1.45") and str(got[404]) == "0"
    assert studio.hours_of_trees([]) == {}


def test_issue_parents_walk_is_ancestors(studio: Store) -> None:
    parents = studio.issue_parents()
    for issue_id in (1, 2, 3, 4, 5, 7, 9, 404):
        chain, up = [], parents.get(issue_id)
        while up is not None:
            chain.append(up)
            up = parents.get(up)
        assert chain == studio.ancestors(issue_id)


def test_links_tickets_issues_and_events_by_many(studio: Store) -> None:
    assert studio.linked_tickets() == {1: 10, 4: 40, 9: 90}
    assert studio.links_of_tickets([10, 11, 40]) == {t: studio.link_by_ticket(t) for t in (10, 40)}
    assert studio.rows_by_id("issues", [1, 5, 404]) == {i: studio.issue(i) for i in (1, 5)}
    assert studio.rows_by_id("tickets", [11, 10]) == {t: studio.ticket(t) for t in (10, 11)}
    with pytest.raises(ValueError):
        studio.rows_by_id("links", [1])
    events = studio.events_of_tickets([10, 40, 11])
    assert events == {t: studio.events_for(t) for t in (10, 40, 11)}
    assert [e["id"] for e in events[10]] == [1, 3, 2] and events[11] == []


def test_tickets_active_between(studio: Store) -> None:
    october = studio.tickets_active_between(
        iso(T0.replace(day=1, hour=0, minute=0)), iso(T0.replace(month=11, day=1, hour=0))
    )
    # created in October (40), or status changed in it (10); not 90 (a comment is no status
    # change) nor 11 (created after)
    assert [t["id"] for t in october] == [10, 40]


def test_report_indexes_are_used(studio: Store) -> None:
    def plan(sql: str, *params: object) -> str:
        return " ".join(str(r[3]) for r in studio.db.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    entries = "SELECT * FROM time_entries WHERE spent_on BETWEEN ? AND ? AND project IN (?, ?)"
    assert "time_entries_project_spent" in plan(entries, "2026-10-01", "2026-10-31", "a", "b")
    done = "SELECT * FROM issues WHERE done_on >= ? AND done_on < ? AND project IN (?)"
    assert "issues_project_done" in plan(done, "2026-10-01", "2026-11-01", "a")
    status = "SELECT ticket_id FROM ticket_events WHERE kind = 'status' AND at >= ? AND at < ?"
    assert "ticket_events_at" in plan(status, "2026-10-01", "2026-11-01")
