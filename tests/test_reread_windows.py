"""A re-read period is cut into windows of nearly equal length (syncd/hours.py), so that no
page of a dense period is read deep into Redmine's list (the reading itself is tested against
the real Redmine in tests/test_sync_flows.py)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.hours import split_period


def days_of(windows: list[tuple[date, date]]) -> list[date]:
    return [a + timedelta(days=d) for a, b in windows for d in range((b - a).days + 1)]


def test_a_year_in_twelve_windows() -> None:
    since, until = date(2025, 12, 1), date(2026, 11, 30)
    windows = split_period(since, until, 12)
    assert len(windows) == 12
    assert windows[0] == (since, date(2025, 12, 30))  # 365 days: 30 or 31 each
    assert windows[-1] == (date(2026, 10, 31), until)
    assert {(b - a).days + 1 for a, b in windows} == {30, 31}


def test_one_part_or_one_day_is_the_period_itself() -> None:
    day = date(2026, 10, 5)
    assert split_period(day, day + timedelta(days=40), 1) == [(day, day + timedelta(days=40))]
    assert split_period(day, day, 7) == [(day, day)]
    assert split_period(day, day + timedelta(days=2), 9) == [
        (day + timedelta(days=d),) * 2 for d in range(3)
    ]


@given(
    since=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(0, 800),
    parts=st.integers(1, 1000),
)
def test_the_windows_cover_every_day_once_in_order(since: date, length: int, parts: int) -> None:
    until = since + timedelta(days=length)
    windows = split_period(since, until, parts)
    assert days_of(windows) == [since + timedelta(days=d) for d in range(length + 1)]
    assert len(windows) == min(parts, length + 1)
    sizes = [(b - a).days + 1 for a, b in windows]
    assert max(sizes) - min(sizes) <= 1
