"""Cursor-based incremental ticket export.

Tickets are ordered by (generated_timestamp, id). A cursor encodes such a position, so a ticket
updated after a cursor was issued gets a larger timestamp and shows up again behind that cursor.
Only tickets at least ``LAG_SECONDS`` old are returned: a later write always gets a timestamp
larger than anything already handed out, so a change is never skipped.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

Record = dict[str, Any]
Position = tuple[int, int]
LAG_SECONDS = 60
MAX_PER_PAGE = 1000


def encode_cursor(position: Position, before: bool = False) -> str:
    """Opaque like Zendesk's (base64 of "ts.0||id|"), URL-safe so it needs no quoting."""
    raw = f"{position[0]}.0|{'b' if before else ''}|{position[1]}|"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Position, bool]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        stamp, direction, ticket_id, _ = raw.split("|")
        return (int(float(stamp)), int(ticket_id)), direction == "b"
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("InvalidPaginationParameter", "Invalid cursor") from None


def sort_key(ticket: Record) -> Position:
    return (int(ticket["generated_timestamp"]), int(ticket["id"]))


@dataclass
class ExportPage:
    tickets: list[Record]
    after: Position
    before: Position | None
    end_of_stream: bool


def select_page(
    tickets: list[Record],
    position: Position,
    before: bool,
    per_page: int,
    now: float,
    exclude_deleted: bool,
) -> ExportPage:
    """Pick one page after (or before) ``position`` among tickets older than the lag."""
    visible = sorted(
        (
            t
            for t in tickets
            if t["generated_timestamp"] <= now - LAG_SECONDS
            and not (exclude_deleted and t["status"] == "deleted")
        ),
        key=sort_key,
    )
    if before:
        candidates = [t for t in visible if sort_key(t) < position]
        page = candidates[-per_page:]
    else:
        candidates = [t for t in visible if sort_key(t) > position]
        page = candidates[:per_page]
    # An empty page keeps the caller's position, so its after_cursor is still good to poll with.
    after = sort_key(page[-1]) if page else position
    first = sort_key(page[0]) if page else None
    return ExportPage(page, after, first, end_of_stream=len(candidates) <= per_page)
