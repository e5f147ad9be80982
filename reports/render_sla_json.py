"""The SLA report as data: checks, the order every renderer (HTML, CSV, JSON) lists things in,
the part of a report one client may see, and the JSON contract.

Ordering is imposed here, not trusted from the input: tickets by id, client summaries by key,
agent summaries by id (numerically when the key is a number), breaches by ticket, the flow by
day, top reasons by count. One report always gives the same bytes; only `generated_at` varies.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.render_json import MONTH_RE, dec, dumps, file_name_safe, iso
from reports.sla_model import Breach, DayFlow, SlaReport, Summary, TicketSla

__all__ = [
    "dumps",
    "month_days",
    "only_client",
    "ordered_sla",
    "pct",
    "sla_json",
    "zone",
]

TENTH = Decimal("0.1")
# Breaches of one ticket in the order they happen: acknowledged, replied, resolved.
WHAT_ORDER = {"acknowledgement": 0, "first reply": 1, "resolution": 2}
TICKET_MOMENTS = ("created_at", "first_reply_at", "solved_at", "ack_deadline", "resolution_due")


# --------------------------------------------------------------------------- numbers
def pct(value: Decimal | None) -> str | None:
    """A share as the contract writes it: one decimal place, half-up ("90.0"), or None."""
    if value is None:
        return None
    q = Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP)
    return format(abs(q) if q.is_zero() else q, "f")


def hours(value: Decimal | None) -> str | None:
    """Hours as the billing report writes them: two places ("2.50"), or None."""
    return None if value is None else dec(value)


def zone(report: SlaReport) -> ZoneInfo:
    try:
        return ZoneInfo(report.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {report.timezone!r} in the SLA report") from None


def month_days(month: str) -> list[date]:
    year, number = (int(x) for x in month.split("-"))
    return [date(year, number, d) for d in range(1, calendar.monthrange(year, number)[1] + 1)]


# --------------------------------------------------------------------------- ordering
def _agent_key(key: str) -> tuple[bool, int, str]:
    """Agent ids are numbers in text: "9" before "10"; anything else after, by text."""
    return (not key.isdigit(), int(key) if key.isdigit() else 0, key)


def _breaches(breaches: Iterable[Breach]) -> tuple[Breach, ...]:
    return tuple(sorted(breaches, key=lambda b: (b.ticket_id, WHAT_ORDER.get(b.what, 9), b.what)))


def ordered_summary(summary: Summary) -> Summary:
    return dataclasses.replace(
        summary,
        top_reasons=tuple(sorted(summary.top_reasons, key=lambda r: (-r[1], r[0]))),
        breaches=_breaches(summary.breaches),
    )


def _check(report: SlaReport) -> None:
    if not MONTH_RE.match(report.month):
        raise ValueError(f"report month {report.month!r} is not YYYY-MM")
    zone(report)
    moments = [("generated_at", report.generated_at)]
    seen: set[int] = set()
    for t in report.tickets:
        if t.ticket_id in seen:
            raise ValueError(f"ticket #{t.ticket_id} appears twice in the SLA report")
        seen.add(t.ticket_id)
        moments += [(f"ticket #{t.ticket_id} {name}", getattr(t, name)) for name in TICKET_MOMENTS]
    for what, moment in moments:
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{what} {moment.isoformat()} has no UTC offset")
    keys: set[str] = set()
    for s in report.clients:
        if not file_name_safe(s.key):
            raise ValueError(
                f"client key {s.key!r} cannot be part of a file name (it must not be "
                'empty, start or end with "." or a space, hold / \\ : * ? " < > | or control '
                "characters, or be longer than 100 characters)"
            )
        if s.key in keys:
            raise ValueError(f"client {s.key!r} appears twice in the SLA report")
        keys.add(s.key)
    agents = Counter(s.key for s in report.agents)
    twice = sorted(k for k, n in agents.items() if n > 1)
    if twice:
        raise ValueError(f"agent {twice[0]!r} appears twice in the SLA report")
    days = Counter(f.day for f in report.flow)
    twice_days = sorted(d for d, n in days.items() if n > 1)
    if twice_days:
        raise ValueError(f"day {twice_days[0].isoformat()} appears twice in the ticket flow")


def ordered_sla(report: SlaReport) -> SlaReport:
    """`report` checked (month, time zone, offsets on every moment, unique tickets, client keys
    that can be file names) and with every collection in the order the renderers show it."""
    _check(report)
    return dataclasses.replace(
        report,
        tickets=tuple(sorted(report.tickets, key=lambda t: t.ticket_id)),
        clients=tuple(ordered_summary(s) for s in sorted(report.clients, key=lambda s: s.key)),
        agents=tuple(
            ordered_summary(s) for s in sorted(report.agents, key=lambda s: _agent_key(s.key))
        ),
        overall=ordered_summary(report.overall),
        previous=None if report.previous is None else ordered_summary(report.previous),
        flow=tuple(sorted(report.flow, key=lambda f: f.day)),
    )


# --------------------------------------------------------------------------- one client
def client_flow(report: SlaReport, tickets: Iterable[TicketSla]) -> tuple[DayFlow, ...]:
    """Opened and solved per day of the month (in the report's time zone) of `tickets`."""
    tz = zone(report)
    opened: Counter[date] = Counter()
    solved: Counter[date] = Counter()
    for t in tickets:
        opened[t.created_at.astimezone(tz).date()] += 1
        if t.solved_at is not None:
            solved[t.solved_at.astimezone(tz).date()] += 1
    return tuple(DayFlow(d, opened[d], solved[d]) for d in month_days(report.month))


def common_target(tickets: Iterable[TicketSla], default: int | None) -> int | None:
    """The first-reply target most of `tickets` have (the smaller one on a tie)."""
    counts = Counter(
        t.targets.first_reply_minutes for t in tickets if t.targets.first_reply_minutes is not None
    )
    if not counts:
        return default
    return min(counts, key=lambda m: (-counts[m], m))


def only_client(
    report: SlaReport, summary: Summary, tickets: tuple[TicketSla, ...] | None = None
) -> SlaReport:
    """The part of `report` the client `summary.key` may see: its own tickets, its own summary
    (also as `overall`), no agent summaries, no previous month (there are only studio-wide
    figures for it), the flow and the first-reply target of its own tickets. `tickets`: the
    client's tickets in the report's order, when the caller has already picked them out."""
    if tickets is None:
        tickets = tuple(t for t in report.tickets if t.client == summary.key)
    return dataclasses.replace(
        report,
        tickets=tickets,
        clients=(summary,),
        agents=(),
        overall=summary,
        previous=None,
        flow=client_flow(report, tickets),
        first_reply_target=common_target(tickets, report.first_reply_target),
    )


# --------------------------------------------------------------------------- the contract
def _moment(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def ticket_json(t: TicketSla) -> dict[str, Any]:
    return {
        "ticket_id": t.ticket_id,
        "client": t.client,
        "subject": t.subject,
        "url": t.url,
        "priority": t.priority,
        "urgent": t.urgent,
        "assignee_id": t.assignee_id,
        "created_at": _moment(t.created_at),
        "first_reply_at": _moment(t.first_reply_at),
        "solved_at": _moment(t.solved_at),
        "first_reply_business_minutes": t.first_reply_business_minutes,
        "resolution_business_minutes": t.resolution_business_minutes,
        "ack_deadline": _moment(t.ack_deadline),
        "ack_met": t.ack_met,
        "first_reply_met": t.first_reply_met,
        "resolution_met": t.resolution_met,
        "resolution_due": _moment(t.resolution_due),
        "messages": t.messages,
        "ping_pong": t.ping_pong,
        "reopens": t.reopens,
        "satisfaction": t.satisfaction,
        "reasons": list(t.reasons),
        "estimate": hours(t.estimate),
        "actual": hours(t.actual),
        "targets": {
            "first_reply_minutes": t.targets.first_reply_minutes,
            "resolution_minutes": t.targets.resolution_minutes,
            "ack_cutoff": t.targets.ack_cutoff,
        },
        "zendesk_first_reply_minutes": t.zendesk_first_reply_minutes,
        "zendesk_resolution_minutes": t.zendesk_resolution_minutes,
    }


def breach_json(b: Breach) -> dict[str, Any]:
    return {"ticket_id": b.ticket_id, "url": b.url, "what": b.what, "by_minutes": b.by_minutes}


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "key": s.key,
        "opened": s.opened,
        "solved": s.solved,
        "still_open": s.still_open,
        "ack_met_pct": pct(s.ack_met_pct),
        "first_reply_met_pct": pct(s.first_reply_met_pct),
        "resolution_met_pct": pct(s.resolution_met_pct),
        "first_reply_median": s.first_reply_median,
        "first_reply_p90": s.first_reply_p90,
        "resolution_median": s.resolution_median,
        "resolution_p90": s.resolution_p90,
        "satisfaction_good_pct": pct(s.satisfaction_good_pct),
        "rated": s.rated,
        "ping_pong_pct": pct(s.ping_pong_pct),
        "over_estimate": s.over_estimate,
        "top_reasons": [{"reason": r, "count": n} for r, n in s.top_reasons],
        "breaches": [breach_json(b) for b in s.breaches],
    }


def sla_json(report: SlaReport) -> dict[str, Any]:
    """The report as the JSON contract: shares as strings with one place, hours (estimate,
    actual) with two, business minutes as integers, moments ISO-8601 with their offset, every
    list in the renderers' order. Client summaries carry `client`, agent summaries `agent`
    (both the summary's `key`)."""
    report = ordered_sla(report)
    return {
        "month": report.month,
        "generated_at": iso(report.generated_at),
        "timezone": report.timezone,
        "first_reply_target": report.first_reply_target,
        "tickets": [ticket_json(t) for t in report.tickets],
        "clients": [{"client": s.key, **summary_json(s)} for s in report.clients],
        "agents": [{"agent": s.key, **summary_json(s)} for s in report.agents],
        "overall": summary_json(report.overall),
        "previous": None if report.previous is None else summary_json(report.previous),
        "flow": [
            {"day": f.day.isoformat(), "opened": f.opened, "solved": f.solved} for f in report.flow
        ],
    }
