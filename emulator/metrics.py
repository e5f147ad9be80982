"""Ticket metrics computed from a ticket's audits and comments, in Zendesk's JSON shape.

Business minutes equal calendar minutes: the emulator has no business-hours schedule.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .clock import iso

Record = dict[str, Any]
WAITING_ON_AGENT = ("new", "open", "hold")


def minutes(seconds: float | None) -> Record:
    value = None if seconds is None else int((max(seconds, 0.0) + 30) // 60)
    return {"calendar": value, "business": value}


def field_timeline(audits: list[Record], field: str) -> list[tuple[float, Any]]:
    """(time, value) for every Create/Change event of one field, oldest first."""
    timeline = []
    for audit in audits:
        for event in audit["events"]:
            if event.get("field_name") == field and event["type"] in ("Create", "Change"):
                timeline.append((audit["created_at"], event["value"]))
    return timeline


def time_in_statuses(timeline: list[tuple[float, Any]], end: float) -> dict[str, float]:
    spent: dict[str, float] = {}
    for (start, status), (stop, _) in zip(timeline, [*timeline[1:], (end, None)], strict=True):
        spent[status] = spent.get(status, 0.0) + max(0.0, min(stop, end) - start)
    return spent


def count_reopens(timeline: list[tuple[float, Any]]) -> int:
    statuses = [status for _, status in timeline]
    return sum(
        1
        for before, after in itertools.pairwise(statuses)
        if before == "solved" and after not in ("solved", "closed")
    )


def compute_metrics(
    ticket: Record,
    audits: list[Record],
    comments: list[Record],
    is_agent: Callable[[int], bool],
    now: float,
    base: str,
) -> Record:
    created = ticket["created_at"]
    statuses = field_timeline(audits, "status")
    assignees = [(t, v) for t, v in field_timeline(audits, "assignee_id") if v is not None]
    solved = [t for t, status in statuses if status == "solved"]
    resolved = ticket["status"] in ("solved", "closed")
    solved_at = ticket.get("solved_at") if resolved else None
    spent = time_in_statuses(statuses, solved_at or now)
    # The first comment is the description, not a reply, even when an agent wrote it.
    replies = [c for c in comments[1:] if c["public"] and is_agent(c["author_id"])]
    first_reply = replies[0]["created_at"] - created if replies else None
    return {
        "id": ticket["id"],
        "ticket_id": ticket["id"],
        "url": f"{base}/api/v2/ticket_metrics/{ticket['id']}.json",
        "group_stations": 1 if ticket["group_id"] else 0,
        "assignee_stations": len({v for _, v in assignees}),
        "reopens": count_reopens(statuses),
        "replies": len(replies),
        "assignee_updated_at": _last_by(audits, ticket["assignee_id"]),
        "requester_updated_at": _last_by(audits, ticket["requester_id"]),
        "status_updated_at": iso(statuses[-1][0]) if statuses else iso(created),
        "initially_assigned_at": iso(assignees[0][0]) if assignees else None,
        "assigned_at": iso(assignees[-1][0]) if assignees else None,
        "solved_at": iso(solved_at),
        "latest_comment_added_at": iso(comments[-1]["created_at"]) if comments else None,
        "reply_time_in_minutes": minutes(first_reply),
        "reply_time_in_seconds": {"calendar": None if first_reply is None else int(first_reply)},
        "first_resolution_time_in_minutes": minutes(solved[0] - created if solved else None),
        "full_resolution_time_in_minutes": minutes(solved_at - created if solved_at else None),
        "agent_wait_time_in_minutes": minutes(spent.get("pending", 0.0)),
        "requester_wait_time_in_minutes": minutes(sum(spent.get(s, 0.0) for s in WAITING_ON_AGENT)),
        "on_hold_time_in_minutes": minutes(spent.get("hold", 0.0)),
        "created_at": iso(created),
        "updated_at": iso(ticket["updated_at"]),
    }


def _last_by(audits: list[Record], user_id: int | None) -> str | None:
    times = [a["created_at"] for a in audits if user_id is not None and a["author_id"] == user_id]
    return iso(max(times)) if times else None
