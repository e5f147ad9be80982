"""Find ticket references that people wrote by hand into Redmine issues.

Pure: text in, ticket ids out. The patterns come from the config; each has one group, the number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Zendesk ids are positive 64-bit integers; a longer digit run is something else (a phone, an
# OTRS number glued to text) and must not become a bogus link.
MAX_TICKET_ID = 2**63 - 1


@lru_cache(maxsize=64)
def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


def ticket_refs(texts: Iterable[str | None], patterns: tuple[str, ...]) -> list[int]:
    """Ticket ids named in the texts, in order of first appearance, without repeats."""
    found: dict[int, None] = {}
    for text in texts:
        if not text:
            continue
        hits: list[tuple[int, int]] = []
        for rx in _compile(patterns):
            for m in rx.finditer(text):
                digits = m.group(1)
                if digits and digits.isascii() and digits.isdigit():
                    number = int(digits)
                    if 0 < number <= MAX_TICKET_ID:
                        hits.append((m.start(), number))
        for _, number in sorted(hits):
            found.setdefault(number, None)
    return list(found)


def ticket_id_from_field(value: object) -> int | None:
    """The ticket id held in the issue's custom field: a bare number, maybe with '#' or spaces."""
    if value is None:
        return None
    text = str(value).strip().lstrip("#").strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        if 0 < number <= MAX_TICKET_ID:
            return number
    return None
