"""Calendar months as "YYYY-MM" strings: what reports and invoices are keyed by."""

from __future__ import annotations

import calendar
from datetime import date


def parse_month(text: str) -> str:
    """Validate "YYYY-MM"; ValueError with the reason otherwise."""
    if len(text) != 7 or text[4] != "-":
        raise ValueError(f"not a month like 2026-10: {text!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12 or year < 1970:
        raise ValueError(f"not a month like 2026-10: {text!r}")
    return text


def month_range(month: str) -> tuple[date, date]:
    """First and last day of the month."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def month_of(value: str | date) -> str:
    """The month of an ISO date or timestamp (the first seven characters)."""
    return (value.isoformat() if isinstance(value, date) else value)[:7]


def months_back(month: str, count: int) -> list[str]:
    """The `count` months before `month`, newest first."""
    year, mon = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(count):
        mon -= 1
        if mon == 0:
            year, mon = year - 1, 12
        out.append(f"{year:04d}-{mon:02d}")
    return out


def previous_month(month: str) -> str:
    return months_back(month, 1)[0]
