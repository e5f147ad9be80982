"""Ticket -> Redmine issue: tracker, priority, estimate, and the issue's text. Pure rules."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import NewIssue, Ticket

# Redmine's description is plain textile/markdown; a runaway 1 MB client mail would make the
# issue unreadable and slow every journal page. The full text stays in Zendesk, linked.
MAX_DESCRIPTION_CHARS = 20_000


def tracker_for(ticket_type: str | None, trackers: dict[str, str], default: str) -> str:
    return trackers.get(ticket_type or "", default)


def priority_for(ticket_priority: str | None, priorities: dict[str, str]) -> str | None:
    return priorities.get(ticket_priority or "")


def estimate_hours(value: Any) -> Decimal | None:
    """A ticket field's estimate as hours; blank, junk or non-positive means no estimate."""
    if value is None or isinstance(value, bool):
        return None
    try:
        hours = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    if not hours.is_finite() or hours > 10_000:
        return None
    hours = hours.quantize(Decimal("0.01"))
    return hours if hours > 0 else None


def ticket_reference(ticket_id: int) -> str:
    """The text every created issue carries, so people (and adoption) can see the link."""
    return f"Zendesk #{ticket_id}"


def issue_description(ticket: Ticket, ticket_url: str) -> str:
    body = ticket.description or ""
    if len(body) > MAX_DESCRIPTION_CHARS:
        body = body[:MAX_DESCRIPTION_CHARS] + "\n\n[…] (truncated; full text in the ticket)"
    return f"{ticket_reference(ticket.id)}: {ticket_url}\n\n{body}".rstrip() + "\n"


def new_issue(
    ticket: Ticket,
    *,
    project: str,
    ticket_url: str,
    ticket_field_id: int,
    trackers: dict[str, str],
    default_tracker: str,
    priorities: dict[str, str],
    estimate_field_id: int | None,
) -> NewIssue:
    subject = " ".join((ticket.subject or "").split()) or f"Ticket {ticket.id}"
    estimate = (
        estimate_hours(ticket.custom_fields.get(estimate_field_id)) if estimate_field_id else None
    )
    return NewIssue(
        project=project,
        # Redmine limits subjects to 255 characters.
        subject=subject[:255],
        description=issue_description(ticket, ticket_url),
        tracker=tracker_for(ticket.type, trackers, default_tracker),
        priority=priority_for(ticket.priority, priorities),
        estimated_hours=estimate,
        custom_fields={ticket_field_id: str(ticket.id)},
    )
