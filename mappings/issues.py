"""Ticket -> Redmine issue: tracker, priority, estimate, and the issue's text. Pure rules."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import NewIssue, Ticket

# Redmine's description is plain textile/markdown; a runaway 1 MB client mail would make the
# issue unreadable and slow every journal page. The full text stays in Zendesk, linked.
MAX_DESCRIPTION_CHARS = 20_000
# Control characters (NUL, ESC, ...) are no text; Redmine stores them and shows garbage. Line
# breaks and tabs are kept in the description (the subject folds all whitespace anyway).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi overrides and isolates make a subject display in another order than it reads
# ("Trojan Source"): an issue list must show what the client wrote.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Text Redmine keeps as written: control characters dropped, a lone surrogate (JSON
    allows "\\ud800"; UTF-8 can't hold it, Redmine would turn it into '?') becomes U+FFFD."""
    text = _CONTROL.sub("", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


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
    # Out of range before quantize: -1e26 has too many digits for it (InvalidOperation).
    if not hours.is_finite() or not 0 < hours <= 10_000:
        return None
    hours = hours.quantize(Decimal("0.01"))
    return hours if hours > 0 else None


def ticket_reference(ticket_id: int) -> str:
    """The text every created issue carries, so people (and adoption) can see the link."""
    return f"Zendesk #{ticket_id}"


def issue_description(ticket: Ticket, ticket_url: str) -> str:
    body = clean_text(ticket.description or "")
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
    subject = " ".join(_BIDI.sub("", clean_text(ticket.subject or "")).split())
    subject = subject or f"Ticket {ticket.id}"
    estimate = (
        estimate_hours(ticket.custom_fields.get(estimate_field_id)) if estimate_field_id else None
    )
    return NewIssue(
        project=project,
        # Redmine refuses subjects over 255 characters (422).
        subject=subject[:255],
        description=issue_description(ticket, ticket_url),
        tracker=tracker_for(ticket.type, trackers, default_tracker),
        priority=priority_for(ticket.priority, priorities),
        estimated_hours=estimate,
        custom_fields={ticket_field_id: str(ticket.id)},
    )
