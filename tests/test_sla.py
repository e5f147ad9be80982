"""The SLA report for a test month, ticket by ticket. October 2026 in Moscow (10:00-19:00,
Mon-Fri, Russian holidays): Oct 1 is a Thursday. Figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

import reports.sla
from connectors.base import Issue, Ticket, TicketEvent, TimeEntry
from reports.sla import Sla
from syncd.config import load_config
from syncd.state import Store

MSK = timedelta(hours=3)
CLIENT_ORG = 361
AGENT, CLIENT = 1, 2

CONFIG = """
[zendesk]
url = "http://127.0.0.1:1"
email = "a@b.c"
token_env = "X"
issue_field_id = 1
hours_field_id = 2

[redmine]
url = "http://127.0.0.1:2"
key_env = "Y"
ticket_field_id = 1

[calendar]
timezone = "Europe/Moscow"
hours = "10:00-19:00"
holidays = "RU"

[plans.standard]
kind = "hourly"
rate = "2500.00"

[plans.standard.sla]
first_reply_minutes = 180
resolution_minutes = 4320
ack_cutoff = "12:00"

[plans.standard.sla.urgent]
first_reply_minutes = 30

[[clients]]
id = "acme"
zendesk_organization_id = 361
redmine_projects = ["acme"]
plan = "standard"
"""


def msk(text: str) -> datetime:
    """A Moscow wall-clock time as an aware UTC datetime."""
    return (datetime.fromisoformat(text) - MSK).replace(tzinfo=UTC)


class Desk:
    def __init__(self, tmp: Path) -> None:
        (tmp / "syncd.toml").write_text(CONFIG, encoding="utf-8")
        self.config = load_config(tmp / "syncd.toml")
        self.store = Store(tmp / "state.db")
        self.store.save_user_roles({AGENT: ("agent", "Anna Kovacs"), CLIENT: ("end-user", "Ivan")})
        self._id = 1000

    def ticket(
        self,
        ticket_id: int,
        created: str,
        *,
        priority="normal",
        due=None,
        satisfaction=None,
        tags=("redmine",),
        type_="incident",
    ) -> datetime:
        at = msk(created)
        self.store.save_ticket(
            Ticket(
                id=ticket_id,
                subject=f"Ticket {ticket_id}",
                description="",
                status="open",
                type=type_,
                priority=priority,
                tags=tuple(tags),
                organization_id=CLIENT_ORG,
                requester_id=CLIENT,
                assignee_id=AGENT,
                created_at=at,
                updated_at=at,
                due_at=msk(due) if due else None,
                url=f"https://z/agent/tickets/{ticket_id}",
                satisfaction=satisfaction,
            ),
            client="acme",
            wants_issue=True,
        )
        self.status(ticket_id, created, "new", None)
        self.comment(ticket_id, created, CLIENT)  # the request itself
        return at

    def _event(self, ticket_id, at, kind, author, public=None, value=None, previous=None):
        self._id += 1
        self.store.save_events(
            [TicketEvent(self._id, ticket_id, msk(at), kind, author, public, value, previous)]
        )

    def comment(self, ticket_id: int, at: str, author: int, public: bool = True) -> None:
        self._event(ticket_id, at, "comment", author, public)

    def status(self, ticket_id: int, at: str, value: str, previous: str | None) -> None:
        self._event(ticket_id, at, "status", AGENT, value=value, previous=previous)


@pytest.fixture
def desk(tmp_path) -> Desk:
    d = Desk(tmp_path)
    # T1: before opening on Thursday; replied at 10:45; solved at 15:00 the same day.
    d.ticket(1, "2026-10-01T09:30", satisfaction="good")
    d.comment(1, "2026-10-01T10:40", AGENT, public=False)  # an internal note is no reply
    d.comment(1, "2026-10-01T10:45", AGENT)
    d.comment(1, "2026-10-01T11:00", CLIENT)
    d.status(1, "2026-10-01T15:00", "solved", "open")
    # T2: Friday 12:01, after the cutoff: acknowledged by Monday 12:00; a long thread, open.
    d.ticket(2, "2026-10-02T12:01", satisfaction="bad")
    d.comment(2, "2026-10-05T11:00", AGENT)
    for day in ("06", "07"):
        d.comment(2, f"2026-10-{day}T11:00", CLIENT)
        d.comment(2, f"2026-10-{day}T12:00", AGENT)
    # T3: urgent (30 min), promised by Tuesday 19:00, solved, reopened, solved Wednesday.
    d.ticket(3, "2026-10-05T10:00", priority="urgent", due="2026-10-06T19:00")
    d.comment(3, "2026-10-05T10:20", AGENT)
    d.status(3, "2026-10-06T12:00", "solved", "open")
    d.status(3, "2026-10-06T14:00", "open", "solved")
    d.status(3, "2026-10-07T10:30", "solved", "open")
    # T4: September's, solved in October: measured, but not "opened" in October.
    d.ticket(4, "2026-09-30T18:00")
    d.comment(4, "2026-09-30T18:30", AGENT)
    d.status(4, "2026-10-01T10:30", "solved", "open")
    # T5: November's: not in October at all.
    d.ticket(5, "2026-11-02T10:00")
    # T1 has an issue with an estimate that was exceeded.
    d.store.save_issue(
        Issue(
            id=11,
            project="acme",
            tracker="Bug",
            status="Closed",
            priority="Normal",
            subject="T1",
            description="",
            created_on=msk("2026-10-01T10:45"),
            updated_on=msk("2026-10-01T15:00"),
            estimated_hours=D("1"),
        ),
        "1",
    )
    d.store.add_link(
        ticket_id=1,
        issue_id=11,
        client="acme",
        origin="created",
        issue_status="Closed",
        ticket_status="solved",
    )
    d.store.save_time_entry(
        TimeEntry(
            id=1,
            project="acme",
            issue_id=11,
            user="Anna",
            user_id=None,
            activity="Development",
            hours=D("1.50"),
            spent_on=date(2026, 10, 1),
            comments="",
            created_on=msk("2026-10-01T15:00"),
            updated_on=msk("2026-10-01T15:00"),
        )
    )
    return d


def report(desk: Desk):
    return Sla(desk.config, desk.store).report("2026-10", generated_at=msk("2026-11-23T12:00"))


def test_each_ticket(desk: Desk):
    r = report(desk)
    t = {x.ticket_id: x for x in r.tickets}
    assert sorted(t) == [1, 2, 3, 4]

    one = t[1]
    assert (one.first_reply_business_minutes, one.resolution_business_minutes) == (45, 300)
    assert (one.ack_met, one.first_reply_met, one.resolution_met) == (True, True, True)
    assert one.ack_deadline == msk("2026-10-01T19:00")
    assert (one.messages, one.ping_pong, one.reopens, one.satisfaction) == (3, False, 0, "good")
    assert (one.estimate, one.actual) == (D("1"), D("1.50"))
    assert one.reasons == ("type:incident", "tracker:Bug")

    two = t[2]
    assert two.ack_deadline == msk("2026-10-05T12:00")  # after 12:00 on Friday: Monday noon
    assert two.ack_met is True
    assert two.first_reply_business_minutes == 419 + 60  # Fri 12:01-19:00, Mon 10:00-11:00
    assert two.first_reply_met is False
    assert two.solved_at is None and two.resolution_met is False  # open past its 4320 min
    assert (two.messages, two.ping_pong) == (6, True)

    three = t[3]
    assert three.targets.first_reply_minutes == 30 and three.first_reply_business_minutes == 20
    assert three.first_reply_met is True
    assert three.resolution_due == msk("2026-10-06T19:00")
    assert three.solved_at == msk("2026-10-07T10:30") and three.reopens == 1
    assert three.resolution_met is False  # the promised date wins over the plan's target
    assert three.urgent

    four = t[4]
    assert four.first_reply_business_minutes == 30  # 18:00-18:30 on Wednesday
    assert four.resolution_business_minutes == 60 + 30  # 18:00-19:00, then 10:00-10:30


def test_summaries_and_the_previous_month(desk: Desk):
    r = report(desk)
    o = r.overall
    assert (o.opened, o.solved, o.still_open) == (3, 3, 1)
    assert o.first_reply_met_pct == D("75.0")  # 3 of 4
    assert o.ack_met_pct == D("100.0")
    assert o.resolution_met_pct == D("50.0")  # T1, T4 met; T2, T3 not
    assert (o.first_reply_median, o.first_reply_p90) == (30, 479)  # 20, 30, 45, 479
    assert o.satisfaction_good_pct == D("50.0") and o.rated == 2
    assert o.ping_pong_pct == D("25.0")
    assert o.over_estimate == 1
    assert o.top_reasons[0] == ("type:incident", 4)
    assert [(b.ticket_id, b.what) for b in o.breaches] == [
        (2, "first reply"),
        (2, "resolution"),
        (3, "resolution"),
    ]
    assert (o.breaches[0].ticket_id, o.breaches[0].by_minutes) == (2, 299)
    assert [c.key for c in r.clients] == ["acme"] and r.clients[0].opened == 3
    assert [a.key for a in r.agents] == ["Anna Kovacs"]
    assert r.previous.key == "all" and r.previous.opened == 1  # T4, opened in September
    assert len(r.flow) == 31
    assert r.flow[0].day == date(2026, 10, 1) and (r.flow[0].opened, r.flow[0].solved) == (1, 2)
    assert r.first_reply_target == 180
    assert r.timezone == "Europe/Moscow"


def test_a_past_month_reads_the_same_whenever_it_is_written(desk: Desk):
    early = Sla(desk.config, desk.store).report("2026-10", generated_at=msk("2026-11-02T00:00"))
    late = Sla(desk.config, desk.store).report("2026-10", generated_at=msk("2027-03-01T00:00"))
    assert early.tickets == late.tickets and early.overall == late.overall


def test_tickets_judged_on_three_workers_are_the_ones_judged_on_one(desk: Desk, monkeypatch):
    """reports/parallel.py: batches of tickets judged in forked workers (each reading the
    store through its own connection) give the report judged in one process."""
    for n in range(40):
        at = f"2026-10-{1 + n % 28:02d}T{9 + n % 9:02d}:15"
        desk.ticket(100 + n, at, priority="urgent" if n % 7 == 0 else "normal")
        if n % 3:
            desk.comment(100 + n, at.replace(":15", ":50"), AGENT)
        if n % 4 == 0:
            desk.status(100 + n, at.replace(":15", ":55"), "solved", "open")

    def judged(workers: int):
        monkeypatch.setattr(reports.sla, "workers_for", lambda *args, **kw: workers)
        return report(desk)

    on_three = judged(3)
    assert on_three == judged(1)
    assert len(on_three.tickets) == 44 and on_three.previous.opened == 1
