"""The business calendar (reports/calendar.py): working days, business minutes, the cutoff rule.

The core check is a deliberately naive reference: walk every UTC minute of an interval, look at
the wall clock in the calendar's zone, and ask whether that date is a working day and that time
within the hours. Working-hour bounds and zone offsets are whole minutes, so each UTC minute is
wholly business time or wholly not, and the reference can count the seconds of a partial first
or last minute exactly; business_minutes must equal it to the minute.
"""

from __future__ import annotations

import time as clock
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reports.calendar as calendar_mod
from reports.calendar import DAY_NAMES, Calendar
from syncd.config import ConfigError

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe")  # Lord Howe: 30 min
COUNTRY = {"Europe/Berlin": "DE", "America/New_York": "US", "Australia/Lord_Howe": "AU"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)


# -- the naive reference ------------------------------------------------------------------------


@cache
def _package_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    table = holidays.country_holidays(country, years=year)
    return frozenset(table), frozenset(getattr(table, "weekend_workdays", ()))


def ref_is_working(spec: dict, day: date) -> bool:
    """Straight from the config's words and the holidays package."""
    if day in spec.get("working", ()):
        return True
    if day in spec.get("closed", ()):
        return False
    if spec.get("holidays"):
        off, on = _package_days(spec["holidays"], day.year)
        if day in on:
            return True
        if day in off:
            return False
    return DAY_NAMES[day.weekday()] in spec.get("days", WEEKDAYS)


def ref_hours(spec: dict, day: date) -> tuple[int, int]:
    text = spec.get("hours_by_day", {}).get(DAY_NAMES[day.weekday()], spec.get("hours"))
    start, end = text.split("-")
    return tuple(int(t[:2]) * 60 + int(t[3:]) for t in (start, end))  # type: ignore[return-value]


def reference_minutes(spec: dict, start: datetime, end: datetime) -> int:
    """Every UTC minute of [start, end), one by one; start and end on whole seconds."""
    zone = ZoneInfo(spec["timezone"])
    s, e = int(start.timestamp()), int(end.timestamp())
    assert s == start.timestamp() and e == end.timestamp()
    seconds = 0
    minute = s - s % 60
    working: dict[date, bool] = {}
    while minute < e:
        local = datetime.fromtimestamp(minute, zone)
        day = local.date()
        if day not in working:
            working[day] = ref_is_working(spec, day)
        if working[day]:
            opening, closing = ref_hours(spec, day)
            if opening <= local.hour * 60 + local.minute < closing:
                seconds += min(minute + 60, e) - max(minute, s)
        minute += 60
    return seconds // 60


def calendar_for(spec: dict) -> Calendar:
    return Calendar.from_config({k: v for k, v in spec.items()})


MOSCOW_SPECS = [
    {"timezone": "Europe/Moscow", "hours": "10:00-19:00", "holidays": "RU"},
    {
        "timezone": "Europe/Moscow",
        "hours": "09:30-18:45",
        "holidays": "RU",
        "hours_by_day": {"fri": "09:30-16:15"},
        "closed": [date(2025, 12, 30), date(2026, 5, 8)],
        "working": [date(2025, 12, 27), date(2026, 1, 5)],
    },
]
_MSK_BASE = int(msk(2025, 1, 1).timestamp())
_DAY = 86400


def spans(days: int) -> st.SearchStrategy[int]:
    """Seconds up to `days` days, spread over the days (hypothesis favours small integers)."""
    return st.builds(lambda d, s: d * _DAY + s, st.integers(0, days - 1), st.integers(0, _DAY))


@settings(max_examples=200, deadline=None)
@given(spec=st.sampled_from(MOSCOW_SPECS), start=spans(2 * 366), length=spans(20))
def test_business_minutes_matches_the_minute_walk_in_moscow(spec, start, length) -> None:
    a = datetime.fromtimestamp(_MSK_BASE + start, UTC)
    b = datetime.fromtimestamp(_MSK_BASE + start + length, UTC)
    spec = {**spec, "days": list(WEEKDAYS)}
    assert calendar_for(spec).business_minutes(a, b) == reference_minutes(spec, a, b)


@cache
def switch_instants(zone_name: str) -> tuple[int, ...]:
    """The zone's DST switches in 2025-2026, found by an hourly scan then minute by minute."""
    zone = ZoneInfo(zone_name)
    out = []
    ts = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    while ts < end:
        if datetime.fromtimestamp(ts, zone).utcoffset() != (
            datetime.fromtimestamp(ts + 3600, zone).utcoffset()
        ):
            t = ts
            while datetime.fromtimestamp(t, zone).utcoffset() == (
                datetime.fromtimestamp(ts, zone).utcoffset()
            ):
                t += 60
            out.append(t)
        ts += 3600
    return tuple(out)


def test_the_dst_zones_switch_four_times_in_two_years() -> None:
    for zone in DST_ZONES:
        assert len(switch_instants(zone)) == 4, zone


@st.composite
def dst_specs(draw: st.DrawFn) -> dict:
    def hours() -> str:
        opening = draw(st.integers(0, 95)) * 15
        closing = draw(st.integers(opening // 15 + 1, 96)) * 15
        return f"{opening // 60:02d}:{opening % 60:02d}-{closing // 60:02d}:{closing % 60:02d}"

    zone = draw(st.sampled_from(DST_ZONES))
    spec = {
        "timezone": zone,
        "hours": hours(),
        "days": sorted(draw(st.sets(st.sampled_from(DAY_NAMES), min_size=1)), key=DAY_NAMES.index),
        "holidays": draw(st.sampled_from(["", COUNTRY[zone]])),
    }
    if draw(st.booleans()):
        spec["hours_by_day"] = {draw(st.sampled_from(DAY_NAMES)): hours()}
    return spec


@settings(max_examples=200, deadline=None)
@given(
    spec=dst_specs(),
    switch=st.integers(0, 3),
    offset=spans(5),
    length=spans(5),
)
def test_business_minutes_matches_the_minute_walk_around_dst(spec, switch, offset, length) -> None:
    begin = switch_instants(spec["timezone"])[switch] - 3 * _DAY + offset
    a = datetime.fromtimestamp(begin, ZoneInfo(spec["timezone"]))
    b = datetime.fromtimestamp(begin + length, UTC)
    assert calendar_for(spec).business_minutes(a, b) == reference_minutes(spec, a, b)


def test_the_reference_itself_on_a_known_week() -> None:
    spec = {**MOSCOW_SPECS[0], "days": list(WEEKDAYS)}
    # Mon 2026-04-20 .. Mon 2026-04-27 00:00: five 9-hour days.
    assert reference_minutes(spec, msk(2026, 4, 20), msk(2026, 4, 27)) == 5 * 540


# -- properties ----------------------------------------------------------------------------------

ANY_CALENDAR = st.one_of(
    st.sampled_from(MOSCOW_SPECS).map(lambda s: {**s, "days": list(WEEKDAYS)}), dst_specs()
)
MOMENTS = st.integers(int(msk(2025, 1, 1).timestamp()), int(msk(2026, 12, 31).timestamp()))


@settings(max_examples=200, deadline=None)
@given(
    spec=ANY_CALENDAR, start=MOMENTS, micro=st.integers(0, 999_999), minutes=st.integers(0, 6000)
)
def test_add_business_minutes_is_the_inverse(spec, start, micro, minutes) -> None:
    cal = calendar_for(spec)
    a = datetime.fromtimestamp(start, UTC).replace(microsecond=micro)
    end = cal.add_business_minutes(a, minutes)
    assert end >= a
    assert end.tzinfo == cal.zone
    assert cal.business_minutes(a, end) == minutes
    # ... and the earliest such moment: exactly that much business time, not a microsecond more.
    assert cal.business_time(a, end) == timedelta(minutes=minutes)
    if minutes:
        assert cal.business_minutes(a, end - timedelta(microseconds=1)) == minutes - 1


@settings(max_examples=200, deadline=None)
@given(spec=ANY_CALENDAR, points=st.lists(MOMENTS, min_size=3, max_size=3), aligned=st.booleans())
def test_business_time_is_additive(spec, points, aligned) -> None:
    cal = calendar_for(spec)
    a, b, c = (datetime.fromtimestamp(p - p % 60 if aligned else p, UTC) for p in sorted(points))
    assert cal.business_time(a, c) == cal.business_time(a, b) + cal.business_time(b, c)
    parts = cal.business_minutes(a, b) + cal.business_minutes(b, c)
    if aligned:
        assert cal.business_minutes(a, c) == parts
    else:  # two floors lose less than two minutes between them, and never gain
        assert cal.business_minutes(a, c) in (parts, parts + 1)


@settings(max_examples=100, deadline=None)
@given(spec=ANY_CALENDAR, a=MOMENTS, b=MOMENTS)
def test_reversed_or_empty_intervals_are_zero_and_zones_do_not_matter(spec, a, b) -> None:
    cal = calendar_for(spec)
    lo, hi = sorted((a, b))
    start, end = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
    assert cal.business_minutes(end, start) == 0
    assert cal.business_minutes(start, start) == 0
    tokyo, lima = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Lima")
    assert cal.business_minutes(start.astimezone(tokyo), end.astimezone(lima)) == (
        cal.business_minutes(start, end)
    )


# -- business minutes, by example -----------------------------------------------------------------


def test_a_day_a_night_and_a_weekend_in_moscow() -> None:
    cal = Calendar()
    assert cal.business_minutes(msk(2026, 4, 20, 9), msk(2026, 4, 20, 20)) == 540
    assert cal.business_minutes(msk(2026, 4, 20, 18, 30), msk(2026, 4, 21, 10, 15)) == 45
    # Friday 18:00 to Monday 11:00: one hour each side of the weekend.
    assert cal.business_minutes(msk(2026, 4, 24, 18), msk(2026, 4, 27, 11)) == 120
    assert cal.business_minutes(msk(2026, 4, 25, 10), msk(2026, 4, 26, 19)) == 0


def test_seconds_are_counted_exactly_then_floored() -> None:
    cal = Calendar()
    assert cal.business_minutes(msk(2026, 4, 20, 10, 0, 30), msk(2026, 4, 20, 10, 1, 29)) == 0
    assert cal.business_minutes(msk(2026, 4, 20, 10, 0, 30), msk(2026, 4, 20, 10, 1, 30)) == 1
    assert cal.business_time(msk(2026, 4, 20, 9, 59, 59), msk(2026, 4, 20, 10, 0, 59)) == (
        timedelta(seconds=59)
    )
    start = msk(2026, 4, 20, 18, 59, 59, 500_000)
    assert cal.business_time(start, msk(2026, 4, 21, 10, 0, 0, 250_000)) == timedelta(
        microseconds=750_000
    )
    assert cal.business_minutes(start, msk(2026, 4, 21, 10, 0, 59, 500_000)) == 1


def test_the_arguments_must_be_aware() -> None:
    cal = Calendar()
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        cal.business_minutes(datetime(2026, 4, 20, 10), msk(2026, 4, 20, 12))
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        cal.business_minutes(msk(2026, 4, 20, 10), datetime(2026, 4, 20, 12))
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        cal.add_business_minutes(datetime(2026, 4, 20, 10), 5)
    with pytest.raises(ValueError, match="arrived must be timezone-aware"):
        cal.ack_deadline(datetime(2026, 4, 20, 10))
    with pytest.raises(TypeError, match="start must be a datetime"):
        cal.business_minutes(date(2026, 4, 20), msk(2026, 4, 20, 12))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be negative"):
        cal.add_business_minutes(msk(2026, 4, 20, 10), -1)


def test_a_year_is_247_working_days_and_quick() -> None:
    # The official production calendars: 247 working days in 2025 and in 2026.
    for year in (2025, 2026):
        cal = Calendar()  # a fresh one: no warm caches of its own
        began = clock.perf_counter()
        minutes = cal.business_minutes(msk(year, 1, 1), msk(year + 1, 1, 1))
        assert clock.perf_counter() - began < 0.5
        assert minutes == 247 * 540
    cal = Calendar()
    far = cal.add_business_minutes(msk(2026, 1, 1), 247 * 540)
    assert far == msk(2026, 12, 30, 19)


def test_add_business_minutes_starts_at_the_next_opening() -> None:
    cal = Calendar()
    # Friday 18:30 + 60 min: 30 on Friday, 30 on Monday.
    assert cal.add_business_minutes(msk(2026, 4, 24, 18, 30), 60) == msk(2026, 4, 27, 10, 30)
    # From Saturday: Monday's opening + 15.
    assert cal.add_business_minutes(msk(2026, 4, 25, 12), 15) == msk(2026, 4, 27, 10, 15)
    # Running out exactly at a closing gives the closing, not the next opening.
    assert cal.add_business_minutes(msk(2026, 4, 24, 18), 60) == msk(2026, 4, 24, 19)
    # Zero minutes: the start itself, even outside the hours.
    assert cal.add_business_minutes(msk(2026, 4, 25, 12), 0) == msk(2026, 4, 25, 12)
    # Over the New Year holidays: Dec 30 2025 18:00 -> Jan 12 2026 (Dec 31, Jan 1-11 closed).
    assert cal.add_business_minutes(msk(2025, 12, 30, 18), 120) == msk(2026, 1, 12, 11)


# -- DST -------------------------------------------------------------------------------------------


def test_a_window_on_the_days_the_clocks_change_is_its_wall_clock_length() -> None:
    # Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET (Sundays).
    cal = Calendar(timezone="Europe/Berlin", hours="10:00-19:00", days=DAY_NAMES, holidays=None)
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        assert cal.closing(day) - cal.opening(day) == timedelta(hours=9)
        assert cal.opening(day) == berlin(day.year, day.month, day.day, 10)
        assert cal.business_minutes(cal.opening(day), cal.closing(day)) == 540
    # Friday 18:00 CET to Monday 11:00 CEST over the spring weekend: one hour each side.
    weekdays = Calendar(timezone="Europe/Berlin", holidays=None)
    assert weekdays.business_minutes(berlin(2026, 3, 27, 18), berlin(2026, 3, 30, 11)) == 120
    assert weekdays.business_minutes(berlin(2026, 10, 23, 18), berlin(2026, 10, 26, 11)) == 120


def test_hours_across_the_switch_are_the_real_time_between_their_wall_clock_bounds() -> None:
    cal = Calendar(timezone="Europe/Berlin", hours="00:00-12:00", days=["sun"], holidays=None)
    assert cal.business_minutes(berlin(2026, 3, 28), berlin(2026, 3, 30)) == 11 * 60
    assert cal.business_minutes(berlin(2026, 10, 24), berlin(2026, 10, 26)) == 13 * 60
    assert cal.business_minutes(berlin(2026, 4, 4), berlin(2026, 4, 6)) == 12 * 60


def test_an_opening_the_clocks_skip_or_repeat() -> None:
    cal = Calendar(timezone="Europe/Berlin", hours="02:30-12:00", days=["sun"], holidays=None)
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    # 02:30 does not exist on the spring day: the day opens at the switch (03:00 CEST).
    assert cal.opening(spring) == berlin(2026, 3, 29, 3)
    assert cal.business_minutes(cal.opening(spring), cal.closing(spring)) == 9 * 60
    # 02:30 happens twice in autumn: open from the first 02:30, closed from 03:00 CEST (= 02:00
    # CET) until the wall clock shows 02:30 again, then open to 12:00: 30 + 570 minutes.
    assert cal.opening(autumn) == berlin(2026, 10, 25, 2, 30)
    assert cal.business_minutes(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 600
    gap_start = berlin(2026, 10, 25, 2, 0, fold=1)
    assert cal.business_minutes(gap_start, berlin(2026, 10, 25, 2, 30, fold=1)) == 0
    # A closing the clocks repeat is its second occurrence: the repeated half hour is worked.
    late = Calendar(timezone="Europe/Berlin", hours="00:00-02:30", days=["sun"], holidays=None)
    assert late.closing(autumn) == berlin(2026, 10, 25, 2, 30, fold=1)
    assert late.business_minutes(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 150 + 30
    # The cutoff rule's deadline at a time the clocks skip: the switch.
    noon = time(2, 30)
    assert cal.ack_deadline(berlin(2026, 3, 28, 9), cutoff=noon) == berlin(2026, 3, 29, 3)


def test_new_york_switch_weekend() -> None:
    cal = Calendar(timezone="America/New_York", holidays="US", working=[date(2026, 3, 8)])
    day = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT, made a working Sunday
    assert cal.is_working_day(day)
    assert cal.opening(day) == datetime(2026, 3, 8, 10, tzinfo=NEW_YORK)
    assert cal.business_minutes(cal.opening(day), cal.closing(day)) == 540
    # Friday 18:00 EST (23:00 UTC) to Monday 00:00 UTC (Sunday 20:00 EDT): 60 + 540.
    assert cal.business_minutes(
        datetime(2026, 3, 6, 23, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    ) == (60 + 540)


# -- working days: holidays and transfers ----------------------------------------------------------

RU_DAYS_OFF_2026 = [
    *(date(2026, 1, d) for d in range(1, 10)),  # New Year holidays, Christmas, Jan 9 (transfer)
    date(2026, 2, 23),
    date(2026, 3, 9),  # Mar 8 is a Sunday
    date(2026, 5, 1),
    date(2026, 5, 11),  # May 9 is a Saturday
    date(2026, 6, 12),
    date(2026, 11, 4),
    date(2026, 12, 31),  # Jan 4 (Sunday) moved here
]
RU_WORKING_2026 = [
    date(2025, 12, 30),
    date(2026, 1, 12),
    date(2026, 2, 24),
    date(2026, 3, 10),
    date(2026, 5, 8),
    date(2026, 5, 12),
    date(2026, 6, 11),
    date(2026, 11, 3),
    date(2026, 11, 5),
    date(2026, 12, 30),
]


@pytest.mark.parametrize("day", RU_DAYS_OFF_2026, ids=str)
def test_russian_days_off_2026(day: date) -> None:
    assert not Calendar().is_working_day(day)


@pytest.mark.parametrize("day", RU_WORKING_2026, ids=str)
def test_russian_working_days_2026(day: date) -> None:
    assert Calendar().is_working_day(day)


def test_a_transfer_saturday_works_and_its_monday_rests() -> None:
    cal = Calendar()
    assert cal.is_working_day(date(2025, 11, 1))  # Saturday, made working by the 2025 decree
    assert not cal.is_working_day(date(2025, 11, 3))  # ... its day off
    assert not cal.is_working_day(date(2025, 11, 2))  # an ordinary Sunday
    assert cal.next_working_day(date(2025, 10, 31)) == date(2025, 11, 1)
    assert cal.next_working_day(date(2025, 11, 1)) == date(2025, 11, 5)
    assert cal.business_minutes(msk(2025, 10, 31), msk(2025, 11, 6)) == 3 * 540


def test_the_transfer_table_agrees_with_the_installed_package() -> None:
    for year, days in calendar_mod._RU_TRANSFERS.items():
        table = holidays.country_holidays("RU", years=year)
        for day in days["off"]:
            assert day in table, day
        if hasattr(table, "weekend_workdays"):
            assert set(days["working"]) == {d for d in table.weekend_workdays if d.year == year}


def test_the_transfer_table_covers_a_package_without_transfers(monkeypatch) -> None:
    fixed = {(1, d) for d in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)}

    def bare(country: str, years) -> dict:  # an old package: statutory holidays only
        years = [years] if isinstance(years, int) else years
        return {date(y, m, d): "" for y in years for m, d in fixed}

    monkeypatch.setattr(calendar_mod.holidays_pkg, "country_holidays", bare)
    calendar_mod._official_days.cache_clear()
    try:
        cal = Calendar()
        assert cal.is_working_day(date(2025, 11, 1))
        assert not cal.is_working_day(date(2025, 11, 3))
        for day in RU_DAYS_OFF_2026:
            assert not cal.is_working_day(day), day
    finally:
        calendar_mod._official_days.cache_clear()


def test_config_closed_and_working_override() -> None:
    cal = Calendar.from_config(
        {
            "closed": ["2026-12-30", "2025-11-01"],
            "working": ["2026-12-27", "2026-01-09"],
        }
    )
    assert not cal.is_working_day(date(2026, 12, 30))  # a Wednesday, closed by the studio
    assert not cal.is_working_day(date(2025, 11, 1))  # closed wins over an official Saturday
    assert cal.is_working_day(date(2026, 12, 27))  # a Sunday made working
    assert cal.is_working_day(date(2026, 1, 9))  # working wins over an official day off
    assert cal.opening(date(2026, 12, 27)) == msk(2026, 12, 27, 10)


def test_no_public_holidays_and_other_countries() -> None:
    for value in ("", "none", "None"):
        assert Calendar.from_config({"holidays": value}).is_working_day(date(2026, 1, 1))
    german = Calendar.from_config({"timezone": "Europe/Berlin", "holidays": "de"})
    assert not german.is_working_day(date(2026, 12, 25))
    assert german.is_working_day(date(2026, 1, 9))


def test_next_working_day_and_hours_on_non_working_days() -> None:
    cal = Calendar()
    assert cal.next_working_day(date(2026, 4, 24)) == date(2026, 4, 27)
    assert cal.next_working_day(date(2025, 12, 30)) == date(2026, 1, 12)
    with pytest.raises(ValueError, match="2026-04-25 is not a working day"):
        cal.opening(date(2026, 4, 25))
    with pytest.raises(ValueError, match="not a working day"):
        cal.closing(date(2026, 1, 1))
    assert cal.opening(date(2026, 4, 24)) == msk(2026, 4, 24, 10)
    assert cal.closing(date(2026, 4, 24)).utcoffset() == timedelta(hours=3)


def test_hours_by_day_and_24_hours() -> None:
    cal = Calendar(hours_by_day={"fri": "10:00-18:00"})
    assert cal.closing(date(2026, 4, 24)) == msk(2026, 4, 24, 18)
    assert cal.closing(date(2026, 4, 23)) == msk(2026, 4, 23, 19)
    whole = Calendar(hours="00:00-24:00", days=DAY_NAMES, holidays=None)
    assert whole.closing(date(2026, 4, 25)) == msk(2026, 4, 26)
    assert whole.business_minutes(msk(2026, 4, 20), msk(2026, 4, 27)) == 7 * 24 * 60


# -- the acknowledgement cutoff rule --------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrived", "deadline"),
    [
        (msk(2026, 4, 24, 11, 59), msk(2026, 4, 24, 19)),  # Friday before noon: Friday closing
        (msk(2026, 4, 24, 11, 59, 59, 999_999), msk(2026, 4, 24, 19)),
        (msk(2026, 4, 24, 12, 0), msk(2026, 4, 27, 12)),  # noon sharp is after: Monday noon
        (msk(2026, 4, 24, 12, 1), msk(2026, 4, 27, 12)),
        (msk(2026, 4, 24, 8, 0), msk(2026, 4, 24, 19)),  # before opening counts as before noon
        (msk(2026, 4, 23, 19, 30), msk(2026, 4, 24, 12)),  # after closing: next day noon
        (msk(2026, 4, 25, 9, 0), msk(2026, 4, 27, 12)),  # Saturday
        (msk(2026, 5, 1, 10, 0), msk(2026, 5, 4, 12)),  # a public holiday (Friday)
        (msk(2026, 6, 11, 13, 0), msk(2026, 6, 15, 12)),  # the day before Russia Day, afternoon
        (msk(2026, 6, 11, 11, 0), msk(2026, 6, 11, 19)),  # ... and morning
        (msk(2025, 12, 30, 12, 30), msk(2026, 1, 12, 12)),  # over the New Year holidays
        (msk(2025, 10, 31, 13, 0), msk(2025, 11, 1, 12)),  # the next day is a working Saturday
        (datetime(2026, 4, 24, 8, 59, tzinfo=UTC), msk(2026, 4, 24, 19)),  # 11:59 in Moscow
        (datetime(2026, 4, 24, 9, 0, tzinfo=UTC), msk(2026, 4, 27, 12)),  # 12:00 in Moscow
    ],
    ids=str,
)
def test_ack_deadline(arrived: datetime, deadline: datetime) -> None:
    result = Calendar().ack_deadline(arrived)
    assert result == deadline
    assert result.tzinfo == MSK


def test_ack_deadline_with_other_cutoffs_and_hours() -> None:
    short_friday = Calendar(hours_by_day={"fri": "10:00-18:00"})
    assert short_friday.ack_deadline(msk(2026, 4, 24, 11, 59)) == msk(2026, 4, 24, 18)
    assert Calendar().ack_deadline(msk(2026, 4, 24, 13), cutoff=time(14)) == msk(2026, 4, 24, 19)
    assert Calendar().ack_deadline(msk(2026, 4, 24, 14), cutoff=time(14)) == msk(2026, 4, 27, 14)
    # Closing before the cutoff: arriving after closing waits for the next day's cutoff.
    mornings = Calendar(hours="08:00-11:00")
    assert mornings.ack_deadline(msk(2026, 4, 23, 10, 59)) == msk(2026, 4, 23, 11)
    assert mornings.ack_deadline(msk(2026, 4, 23, 11, 30)) == msk(2026, 4, 24, 12)


# -- config ----------------------------------------------------------------------------------------


def test_defaults_when_the_section_is_absent() -> None:
    cal = Calendar.from_config(None)
    assert cal.zone == MSK
    assert cal.hours == (600, 1140)
    assert cal.days == frozenset(range(5))
    assert cal.country == "RU"
    assert cal.closed == cal.working == frozenset()
    assert Calendar.from_config({}).hours == cal.hours
    assert "Europe/Moscow" in repr(cal)


def test_the_documented_section_parses() -> None:
    raw = tomllib.loads(
        """
        [calendar]
        timezone = "Europe/Moscow"
        hours = "10:00-19:00"
        days = ["mon", "tue", "wed", "thu", "fri"]
        holidays = "RU"
        closed = ["2026-12-31", 2026-12-30]
        working = ["2026-12-27"]
        hours_by_day = { fri = "10:00-18:00" }
        """
    )["calendar"]
    cal = Calendar.from_config(raw)
    assert cal.closed == {date(2026, 12, 31), date(2026, 12, 30)}
    assert cal.working == {date(2026, 12, 27)}
    assert cal.hours_by_day == {4: (600, 1080)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"hours": "10-19"}, "syncd.toml: [calendar] hours: must be like 10:00-19:00, got '10-19'"),
        ({"hours": "19:00-10:00"}, "[calendar] hours: must end after it starts"),
        ({"hours": "10:00-10:00"}, "[calendar] hours: must end after it starts"),
        ({"hours": "25:00-26:00"}, "[calendar] hours: not a time of day in '25:00-26:00'"),
        ({"hours": "10:00-24:30"}, "[calendar] hours: not a time of day"),
        ({"hours": 10}, "[calendar] hours: must be a string, got int 10"),
        ({"timezone": "Mars/Olympus"}, "[calendar] timezone: unknown time zone 'Mars/Olympus'"),
        ({"timezone": ""}, "[calendar] timezone: must be a time zone name"),
        ({"days": ["mon", "funday"]}, "[calendar] days: unknown day 'funday'"),
        ({"days": []}, "[calendar] days: must name at least one day"),
        ({"days": "mon"}, "[calendar] days: must be a list"),
        ({"holidays": "XX"}, "[calendar] holidays: 'XX' is not a country code"),
        ({"holidays": True}, "[calendar] holidays: must be a string, got bool True"),
        ({"closed": ["2026-13-01"]}, "[calendar] closed: '2026-13-01' is not a date"),
        ({"working": ["tomorrow"]}, "[calendar] working: 'tomorrow' is not a date"),
        ({"closed": "2026-12-31"}, "[calendar] closed: must be a list"),
        (
            {"closed": ["2026-12-31"], "working": ["2026-12-31"]},
            "[calendar] working: 2026-12-31 is also in closed",
        ),
        ({"hours_by_day": {"fri": "10-18"}}, "[calendar] hours_by_day.fri: must be like"),
        ({"hours_by_day": {"fri": 18}}, "[calendar] hours_by_day.fri: must be a string"),
        ({"hours_by_day": {"friday": "10:00-18:00"}}, "[calendar] hours_by_day: unknown day"),
        ({"hours_by_day": "fri"}, "[calendar] hours_by_day: must be a table"),
        ({"holiday": "RU"}, "[calendar] holiday: unknown key; the keys are timezone, hours"),
        ([], "syncd.toml: [calendar]: must be a table, got list"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_config_errors_name_the_key(raw, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Calendar.from_config(raw)
    assert message in str(info.value)
    assert str(info.value).startswith("syncd.toml: [calendar]")


def test_config_errors_name_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/syncd/syncd.toml: \[calendar\] hours: "):
        Calendar.from_config({"hours": "x"}, source="/etc/syncd/syncd.toml")


def test_the_constructor_checks_too() -> None:
    with pytest.raises(ValueError, match="both closed and working"):
        Calendar(closed=[date(2026, 1, 5)], working=["2026-01-05"])
    with pytest.raises(ValueError, match="at least one day"):
        Calendar(days=[])
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar(timezone="Nowhere/Else")
