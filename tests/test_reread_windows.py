"""Long re-read periods are read a calendar month at a time (syncd/hours.py)."""

from __future__ import annotations

from datetime import date, timedelta

from syncd.hours import LONG_PERIOD, reread_windows


def test_a_short_period_is_one_window():
    since = date(2026, 9, 22)
    assert reread_windows(since, since + LONG_PERIOD) == [(since, since + LONG_PERIOD)]


def test_a_long_period_is_its_months_covering_every_day_once():
    since, until = date(2025, 12, 15), date(2026, 11, 23)
    windows = reread_windows(since, until)
    assert windows[0] == (date(2025, 12, 15), date(2025, 12, 31))
    assert windows[1] == (date(2026, 1, 1), date(2026, 1, 31))
    assert windows[2] == (date(2026, 2, 1), date(2026, 2, 28))
    assert windows[-1] == (date(2026, 11, 1), until)
    days = [
        start + timedelta(days=d) for start, end in windows for d in range((end - start).days + 1)
    ]
    assert days == [since + timedelta(days=d) for d in range((until - since).days + 1)]
