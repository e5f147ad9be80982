"""Status rules between the two trackers. Pure."""

from __future__ import annotations

# Zendesk statuses in which a ticket is still someone's work.
ACTIVE_TICKET_STATUSES = frozenset({"new", "open", "pending", "hold"})
# A closed ticket can't be updated any more (422): never try.
FINAL_TICKET_STATUSES = frozenset({"closed", "deleted"})


def is_done(issue_status: str, done_statuses: tuple[str, ...]) -> bool:
    folded = issue_status.casefold()
    return any(folded == s.casefold() for s in done_statuses)


def ticket_reopened(previous: str | None, current: str) -> bool:
    """A client answered a solved ticket: Zendesk moved it back to open (or new/pending)."""
    return previous == "solved" and current in ACTIVE_TICKET_STATUSES


def needs_issue(tags: tuple[str, ...], work_tag: str, status: str) -> bool:
    return work_tag in tags and status not in FINAL_TICKET_STATUSES
