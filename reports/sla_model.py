"""What an SLA report says, as plain frozen records: computed by `reports.sla`, written by the
renderers. Times are business minutes in the studio's calendar (`reports.calendar`); every
figure on a ticket can be traced to the ticket events it came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Targets:
    first_reply_minutes: int | None
    resolution_minutes: int | None
    ack_cutoff: str | None  # "12:00": the acknowledgement rule; None when not promised


@dataclass(frozen=True)
class TicketSla:
    ticket_id: int
    client: str
    subject: str
    url: str
    priority: str | None
    urgent: bool
    assignee_id: int | None
    created_at: datetime
    first_reply_at: datetime | None  # the first public reply by an agent
    solved_at: datetime | None  # the last time it became solved (None: still open)
    first_reply_business_minutes: int | None
    resolution_business_minutes: int | None
    ack_deadline: datetime | None
    ack_met: bool | None  # None: no promise, or not yet due
    first_reply_met: bool | None
    resolution_met: bool | None
    resolution_due: datetime | None  # the promised date, when one overrides the target
    messages: int  # public messages in the thread, both sides
    ping_pong: bool  # more than 4
    reopens: int
    satisfaction: str | None  # good, bad, offered, unoffered
    reasons: tuple[str, ...]  # tags, ticket type, Redmine tracker
    estimate: Decimal | None  # hours promised (the linked issue's estimate)
    actual: Decimal | None  # hours spent on the linked issue and its subtasks
    targets: Targets
    zendesk_first_reply_minutes: int | None  # Zendesk's own figure (business), when known
    zendesk_resolution_minutes: int | None


@dataclass(frozen=True)
class Breach:
    ticket_id: int
    url: str
    what: str  # "first reply", "resolution", "acknowledgement"
    by_minutes: int | None  # how late, in business minutes


@dataclass(frozen=True)
class Summary:
    """Figures for one group of tickets: a client, an agent, or everyone."""

    key: str  # client id, agent id, or "all"
    opened: int
    solved: int
    still_open: int
    ack_met_pct: Decimal | None  # one decimal place; None when nothing was measurable
    first_reply_met_pct: Decimal | None
    resolution_met_pct: Decimal | None
    first_reply_median: int | None  # business minutes
    first_reply_p90: int | None
    resolution_median: int | None
    resolution_p90: int | None
    satisfaction_good_pct: Decimal | None
    rated: int
    ping_pong_pct: Decimal | None
    over_estimate: int  # requests whose hours exceed their estimate
    top_reasons: tuple[tuple[str, int], ...]
    breaches: tuple[Breach, ...]


@dataclass(frozen=True)
class DayFlow:
    day: date
    opened: int
    solved: int


@dataclass(frozen=True)
class SlaReport:
    month: str
    generated_at: datetime
    timezone: str
    tickets: tuple[TicketSla, ...]
    clients: tuple[Summary, ...]
    agents: tuple[Summary, ...]
    overall: Summary
    previous: Summary | None  # the same figures for the month before, to compare
    flow: tuple[DayFlow, ...]  # every day of the month
    first_reply_target: int | None  # for the distribution picture (the most common target)


def pct_text(value: Decimal | None) -> str:
    """A share for a line of text: 0.0 is a figure, None is "nothing to measure"."""
    return "-" if value is None else str(value)
