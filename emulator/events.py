"""Incremental ticket event export (time-based), built from the audits the store records.

``GET /api/v2/incremental/ticket_events.json?start_time=N[&include=comment_events][&per_page=M]``

Every ticket update is one audit, and every audit is one exported event: ``id`` (the audit's),
``ticket_id``, ``timestamp``/``created_at``, ``updater_id`` (-1 for automatic changes),
``via`` (a channel name such as "Web service"), ``system``, ``merged_ticket_ids``,
``event_type`` "Audit" and the audit's events as ``child_events`` ("Create", "Change",
"SatisfactionRating"; "Comment" in full with ``include=comment_events``, otherwise only as
``comment_present``/``comment_public``).

Pagination is Zendesk's time-based one. An event is on a page when its timestamp is
``>= start_time``; ``end_time`` is the newest timestamp on the page and the next page starts
there (``next_page`` is that URL). ``start_time`` is inclusive, so the events stamped exactly
``end_time`` come again on the next page (Zendesk documents duplicates for time-based exports):
a consumer drops events whose id it has already seen. A page never splits one second's events
(it may exceed ``per_page`` for that, as Zendesk documents), and a page that would only repeat
``start_time``'s events also takes the next second's, so following ``end_time`` always advances.
The newest minute is never returned.

Paging compares ``start_time`` with the moment a change was written, kept on the audit as
``generated_timestamp``; it equals ``timestamp`` except for history seeded with ``at=``, which
shows its backdated ``timestamp`` but is exported as of when it was written (like the ticket
export's ``generated_timestamp`` against ``updated_at``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .clock import iso
from .export import LAG_SECONDS

Record = dict[str, Any]
MAX_PER_PAGE = 1000
# How the event export names an audit's channel (Zendesk's via names, not the channel codes).
VIA_NAMES = {"api": "Web service", "web": "Web form", "email": "Mail", "rule": "Rule"}


def audit_stamp(audit: Record) -> int:
    """The export position of an audit: when it was written (older state files: created_at)."""
    return int(audit.get("generated_timestamp", audit["created_at"]))


def audit_key(audit: Record) -> tuple[int, int]:
    return (audit_stamp(audit), int(audit["id"]))


@dataclass
class EventPage:
    audits: list[Record]
    end_time: int
    end_of_stream: bool


def select_events(audits: list[Record], start: int, per_page: int, now: float) -> EventPage:
    """One page of audits stamped ``>= start`` and older than the lag, oldest first."""
    candidates = sorted(
        (a for a in audits if start <= audit_stamp(a) <= now - LAG_SECONDS), key=audit_key
    )
    if not candidates:
        return EventPage([], start, True)
    end = _group_end(candidates, min(per_page, len(candidates)) - 1)
    if end < len(candidates) and audit_stamp(candidates[end - 1]) == start:
        # Everything so far is stamped start_time itself: asking again from end_time would get
        # the same page forever, so the next second's events come along.
        end = _group_end(candidates, end)
    page = candidates[:end]
    return EventPage(page, audit_stamp(page[-1]), end_of_stream=end == len(candidates))


def _group_end(candidates: list[Record], index: int) -> int:
    """The index just past the run of candidates sharing candidates[index]'s second."""
    stamp = audit_stamp(candidates[index])
    end = index + 1
    while end < len(candidates) and audit_stamp(candidates[end]) == stamp:
        end += 1
    return end


def via_name(via: Record | None) -> str:
    channel = (via or {}).get("channel") or "api"
    return VIA_NAMES.get(channel, str(channel).replace("_", " ").capitalize())


def render_event(audit: Record, comments: dict[int, Record] | None) -> Record:
    """``comments`` (comment id -> stored comment) is the comment_events side-load, or None."""
    via = via_name(audit.get("via"))
    children = [_child_event(event, audit, via, comments) for event in audit["events"]]
    return {
        "id": audit["id"],
        "ticket_id": audit["ticket_id"],
        "timestamp": int(audit["created_at"]),
        "created_at": iso(audit["created_at"]),
        "updater_id": audit["author_id"],
        "via": via,
        "system": copy.deepcopy((audit.get("metadata") or {}).get("system") or {}),
        "merged_ticket_ids": [],
        "event_type": "Audit",
        "child_events": children,
    }


def _child_event(
    event: Record, audit: Record, via: str, comments: dict[int, Record] | None
) -> Record:
    base: Record = {"id": event["id"], "via": via, "via_reference_id": None}
    kind = event["type"]
    if kind == "Comment" and comments is None:
        # Without the comment_events side-load Zendesk leaves the comment out and only says
        # that there was one, and whether it was public.
        return {
            **base,
            "comment_present": True,
            "comment_public": bool(event["public"]),
            "event_type": "Comment",
        }
    child = {**base, **copy.deepcopy(event), "event_type": kind}
    if kind == "Comment":
        stored = comments.get(event["id"]) if comments is not None else None
        created = stored["created_at"] if stored else audit["created_at"]
        child.update(audit_id=audit["id"], created_at=iso(created))
    return child
