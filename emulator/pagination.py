"""The request context handed to API handlers, and Zendesk's two list pagination styles."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .errors import bad_request

Record = dict[str, Any]
OFFSET_LIMIT = 10_000  # offset pagination stops at 10,000 records (400 beyond)
MAX_PAGE_SIZE = 100


@dataclass
class Call:
    """One authenticated API request, as the handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    host: str
    user_id: int
    args: tuple[str, ...] = ()
    multi: dict[str, list[str]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        # Links are built on the request's own Host header, as Zendesk does for its subdomain,
        # so clients follow them back to this emulator whatever address they used.
        return f"http://{self.host}"

    def url_with(self, **changes: Any) -> str:
        params: dict[str, Any] = dict(self.params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        query = urlencode(params, safe="[],")
        return f"{self.base}{self.path}" + (f"?{query}" if query else "")

    def int_param(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw in (None, ""):
            return default
        try:
            return max(low, min(high, int(raw)))
        except ValueError:
            raise bad_request("InvalidValue", f"{name} must be an integer") from None


def encode_key(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_key(cursor: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return tuple(json.loads(base64.urlsafe_b64decode(padded.encode())))
    except (ValueError, binascii.Error, TypeError):
        raise bad_request("InvalidPaginationParameter", "Invalid cursor") from None


def paginate(
    call: Call,
    name: str,
    records: list[Record],
    render: Callable[[Record], Record],
    key: Callable[[Record], tuple[Any, ...]] = lambda r: (r["id"],),
) -> Record:
    """Cursor pagination when the client sends page[...] (zenpy does), offset otherwise."""
    ordered = sorted(records, key=key)
    if any(k.startswith("page[") for k in call.params):
        return _cursor_page(call, name, ordered, render, key)
    return _offset_page(call, name, ordered, render)


def _offset_page(
    call: Call, name: str, records: list[Record], render: Callable[[Record], Record]
) -> Record:
    per_page = call.int_param("per_page", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = call.int_param("page", 1, 1, 10**9)
    start = (page - 1) * per_page
    if start >= OFFSET_LIMIT:
        raise bad_request(
            "InvalidPaginationParameter",
            "Offset pagination is limited to the first 10000 records. Use cursor pagination.",
        )
    chunk = records[start : start + per_page]
    has_next = start + per_page < len(records)
    return {
        name: [render(r) for r in chunk],
        "next_page": call.url_with(page=page + 1, per_page=per_page) if has_next else None,
        "previous_page": call.url_with(page=page - 1, per_page=per_page) if page > 1 else None,
        "count": len(records),
    }


def _cursor_page(
    call: Call,
    name: str,
    records: list[Record],
    render: Callable[[Record], Record],
    key: Callable[[Record], tuple[Any, ...]],
) -> Record:
    size = call.int_param("page[size]", MAX_PAGE_SIZE, 1, 10**6)
    if size > MAX_PAGE_SIZE:
        raise bad_request("InvalidPaginationParameter", "page[size] must be at most 100")
    if call.params.get("page[before]"):
        bound = decode_key(call.params["page[before]"])
        candidates = [r for r in records if key(r) < bound]
        chunk = candidates[-size:]
    else:
        after = call.params.get("page[after]")
        bound = decode_key(after) if after else None
        candidates = [r for r in records if bound is None or key(r) > bound]
        chunk = candidates[:size]
    has_more = len(candidates) > size
    after_cursor = encode_key(key(chunk[-1])) if chunk else None
    before_cursor = encode_key(key(chunk[0])) if chunk else None
    next_link = prev_link = None
    if has_more and after_cursor:
        next_link = call.url_with(**{"page[after]": after_cursor, "page[before]": None})
    if before_cursor:
        prev_link = call.url_with(**{"page[before]": before_cursor, "page[after]": None})
    return {
        name: [render(r) for r in chunk],
        "meta": {
            "has_more": has_more,
            "after_cursor": after_cursor,
            "before_cursor": before_cursor,
        },
        "links": {"next": next_link, "prev": prev_link},
    }
