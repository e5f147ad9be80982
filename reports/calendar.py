"""The studio's business calendar: working days, working hours and business time between moments.

The SLA report measures first-reply and resolution times in business minutes and applies the
acknowledgement cutoff rule; everything here is pure (no I/O, no clock) and works on aware
datetimes in any zone.

Config (`[calendar]` in syncd.toml; every key optional, these are the defaults)::

    [calendar]
    timezone = "Europe/Moscow"
    hours = "10:00-19:00"          # wall clock in `timezone`; "00:00-24:00" is the whole day
    days = ["mon", "tue", "wed", "thu", "fri"]
    holidays = "RU"                # the `holidays` package's country code; "" or "none": none
    closed = ["2026-12-31"]        # extra closed days
    working = ["2026-12-27"]       # extra working days (win over everything else)
    hours_by_day = { fri = "10:00-18:00" }

Working day. In this order, the first that applies decides:

1. a date in `working` is a working day; 2. a date in `closed` is not;
3. an official working day off the weekend (Russia: a Saturday made working by the Government's
   transfer decree) is; 4. an official holiday or day off (public holidays, the days a decree
   moves a day off to, a holiday on a weekend moved to Monday) is not;
5. otherwise the weekday decides: it is a working day when it is in `days`.

`working` and `closed` may not name the same date. A working day's hours are
`hours_by_day[weekday]` when given, else `hours` (a Saturday made working takes Saturday's
`hours_by_day` entry if there is one, else `hours`). Russia's pre-holiday days shortened by one
hour (Labour Code art. 95) are not modelled: they are ordinary working days here.

What the `holidays` package knows about Russia (checked with holidays 0.109, `holidays.RU`): the
public holidays (New Year holidays Jan 1-6 and 8, Christmas Jan 7, Feb 23, Mar 8, May 1, May 9,
Jun 12, Nov 4); a holiday on a weekend moved to the next weekday ("observed", e.g. 2026-03-09,
2026-05-11); and the Government's yearly transfers ("substituted" days off, e.g. 2025-11-03
"Day off (substituted from 01.11.2025)"), with the weekend day made working in the holiday
object's `weekend_workdays` set (2025-11-01) and in `is_working_day()`. Older releases (the
pyproject floor is 0.50) may lack `weekend_workdays` or the latest years, so `_RU_TRANSFERS`
below repeats the 2025-2026 transfers from the decrees and is merged in for "RU"; a test checks
that it agrees with the installed package. For other years, or a decree the installed package
predates, list the days in `closed` / `working`.

Business time. Working hours are wall-clock hours in the calendar's zone: the business time of
a working day is the set of instants whose local wall clock shows that date and a time in
[opening, closing). On a day the clocks change inside the hours it is the real time between the
wall-clock bounds (Berlin 00:00-12:00 on the spring-forward day is 11 hours, on the fall-back
day 13); an opening in the skipped hour opens at the switch; an hour the clocks repeat counts
each time it is lived through while the wall clock is within the hours. `business_time` is
exact to the microsecond; `business_minutes` floors it to whole minutes (10:00:30-10:01:29 is
59 s: 0 minutes; 10:00:30-10:01:30 is 1 minute).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

from syncd.config import ConfigError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DAYS = DAY_NAMES[:5]
DEFAULT_CUTOFF = time(12, 0)

# Russia's working-day transfers for the years the reports cover now, from the Government
# decrees "О переносе выходных дней в 2025 году" (Постановление Правительства РФ от 04.10.2024
# № 1335) and "... в 2026 году" (Постановление от 24.09.2025 № 1466), plus the holidays on a
# weekend that the Labour Code (art. 112) moves to the next working day without a decree.
# The holidays package has all of these (see the module docstring); this table keeps them when
# an older package does not. Add a year here (or use `closed`/`working`) when a decree is out
# before the package is upgraded.
_RU_TRANSFERS: dict[int, dict[str, tuple[date, ...]]] = {
    2025: {
        # Jan 4 (Sat) -> May 2; Feb 23 (Sun) -> May 8; Mar 8 (Sat) -> Jun 13;
        # Nov 1 (Sat, made working) -> Nov 3; Jan 5 (Sun) -> Dec 31.
        "off": (
            date(2025, 5, 2),
            date(2025, 5, 8),
            date(2025, 6, 13),
            date(2025, 11, 3),
            date(2025, 12, 31),
        ),
        "working": (date(2025, 11, 1),),
    },
    2026: {
        # Jan 3 (Sat) -> Jan 9; Jan 4 (Sun) -> Dec 31; art. 112: Mar 8 (Sun) -> Mar 9,
        # May 9 (Sat) -> May 11. No Saturday is made working in 2026.
        "off": (date(2026, 1, 9), date(2026, 3, 9), date(2026, 5, 11), date(2026, 12, 31)),
        "working": (),
    },
}

_KEYS = ("timezone", "hours", "days", "holidays", "closed", "working", "hours_by_day")
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_SECOND = 1_000_000  # microseconds
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_NO_WORKING_DAY_IN = 3660  # days; a calendar with none in ten years is a broken one


def parse_hours(text: str) -> tuple[int, int]:
    """Working hours "10:00-19:00" -> (600, 1140): minutes after midnight; 24:00 may end them.

    Raises ValueError with the problem (shown after `[calendar] hours:`).
    """
    m = _HOURS_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"must be like 10:00-19:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"not a time of day in {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"must end after it starts (one day's hours; overnight hours are not supported), "
            f"got {text!r}"
        )
    return start, end


def _zone(name: str | ZoneInfo) -> ZoneInfo:
    if isinstance(name, ZoneInfo):
        if not name.key:
            raise ValueError("must be a zone with a name (ZoneInfo(key)), not one read from a file")
        return name
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"must be a time zone name like Europe/Moscow, got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Moscow "
            "(or the machine lacks time zone data: pip install tzdata)"
        ) from None


def _country(code: str | None) -> str | None:
    if code is None or code.strip().lower() in ("", "none"):
        return None
    code = code.strip().upper()
    try:
        holidays_pkg.country_holidays(code, years=2000)
    except NotImplementedError:
        raise ValueError(
            f"{code!r} is not a country code the holidays package knows "
            '(e.g. "RU", "DE", "US"; "none" for no public holidays)'
        ) from None
    return code


def _as_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date like 2026-12-31")


def _day_index(name: Any) -> int:
    if isinstance(name, str) and name.strip().lower() in DAY_NAMES:
        return DAY_NAMES.index(name.strip().lower())
    raise ValueError(f"unknown day {name!r}; days are {', '.join(DAY_NAMES)}")


def _us(moment: datetime, name: str) -> int:
    """An aware datetime as microseconds since the Unix epoch (exact)."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__} {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return (moment - _EPOCH) // _US


def _wall_us(day: date, after_midnight: int) -> int:
    """A wall-clock time (microseconds after midnight of `day`, up to 24:00) as naive µs."""
    return (datetime.combine(day, time()) - _NAIVE_EPOCH) // _US + after_midnight


@lru_cache(maxsize=512)
def _transitions(zone_key: str, year: int) -> tuple[int, ...]:
    """The instants (epoch seconds) in a UTC year at which the zone's UTC offset changes.

    zoneinfo has no public list of transitions, so the offset is probed hourly and each change
    pinned to the second by bisection (tzdata's transitions are on whole seconds; two changes
    within one hour would be missed, and tzdata has none).
    """
    zone = ZoneInfo(zone_key)

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, zone).utcoffset()

    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    found: list[int] = []
    prev_ts, prev = start, offset(start)
    for ts in range(start + 3600, end + 3600, 3600):
        current = offset(ts)
        if current != prev:
            lo, hi = prev_ts, ts  # offset(lo) == prev != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == prev:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        prev_ts, prev = ts, current
    return tuple(found)


@lru_cache(maxsize=256)
def _official_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, working weekend days) in `year` by the `holidays` package (+ _RU_TRANSFERS).

    Built from three years so a transfer whose day comes from a neighbouring year is seen.
    """
    table = holidays_pkg.country_holidays(country, years=range(year - 1, year + 2))
    off = {d for d in table if d.year == year}
    working = {d for d in getattr(table, "weekend_workdays", ()) if d.year == year}
    if country in ("RU", "RUS") and year in _RU_TRANSFERS:
        off.update(_RU_TRANSFERS[year]["off"])
        working.update(_RU_TRANSFERS[year]["working"])
    return frozenset(off - working), frozenset(working)


class Calendar:
    """Working days and hours in one zone; business time between aware datetimes.

    Build it with `Calendar.from_config(raw_calendar_table)`; the keyword constructor takes the
    same values already typed (raising ValueError) and is handy in tests.
    """

    def __init__(
        self,
        *,
        timezone: str | ZoneInfo = "Europe/Moscow",
        hours: str = "10:00-19:00",
        days: Iterable[str] = DEFAULT_DAYS,
        holidays: str | None = "RU",
        closed: Iterable[date | str] = (),
        working: Iterable[date | str] = (),
        hours_by_day: Mapping[str, str] | None = None,
    ) -> None:
        self.zone = _zone(timezone)
        self.hours = parse_hours(hours)
        self.days = frozenset(_day_index(d) for d in days)
        if not self.days:
            raise ValueError("days must name at least one day")
        self.country = _country(holidays)
        self.closed = frozenset(_as_date(d) for d in closed)
        self.working = frozenset(_as_date(d) for d in working)
        both = sorted(self.closed & self.working)
        if both:
            raise ValueError(f"{both[0].isoformat()} is both closed and working")
        self.hours_by_day = {
            _day_index(day): parse_hours(text) for day, text in (hours_by_day or {}).items()
        }
        self._windows_cache: dict[date, tuple[tuple[int, int], ...]] = {}

    def __repr__(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days))
        return (
            f"Calendar({self.zone.key}, {_fmt_hours(self.hours)}, {days}, "
            f"holidays={self.country or 'none'})"
        )

    # -- config -------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None, *, source: str = "syncd.toml") -> Calendar:
        """The calendar from the raw `[calendar]` TOML table (None: the section is absent).

        Raises ConfigError as `syncd.toml: [calendar] key: problem`.
        """

        def fail(key: str | None, problem: str) -> ConfigError:
            return ConfigError(f"{source}: [calendar]{' ' + key if key else ''}: {problem}")

        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise fail(None, f"must be a table, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise fail(unknown[0], f"unknown key; the keys are {', '.join(_KEYS)}")

        def get(key: str, kind: type, default: Any) -> Any:
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, kind):
                what = {str: "a string", list: "a list", dict: "a table"}[kind]
                raise fail(key, f"must be {what}, got {type(value).__name__} {value!r}")
            return value

        def check(key: str, parse: Any, value: Any) -> Any:
            try:
                return parse(value)
            except ValueError as e:
                raise fail(key, str(e)) from None

        timezone = check("timezone", _zone, get("timezone", str, "Europe/Moscow"))
        hours = get("hours", str, "10:00-19:00")
        check("hours", parse_hours, hours)
        days = get("days", list, list(DEFAULT_DAYS))
        for day in days:
            check("days", _day_index, day)
        if not days:
            raise fail("days", "must name at least one day")
        country = check("holidays", _country, get("holidays", str, "RU"))
        closed = [check("closed", _as_date, d) for d in get("closed", list, [])]
        working = [check("working", _as_date, d) for d in get("working", list, [])]
        both = sorted(set(closed) & set(working))
        if both:
            raise fail("working", f"{both[0].isoformat()} is also in closed")
        by_day = get("hours_by_day", dict, {})
        for day, text in by_day.items():
            check("hours_by_day", _day_index, day)
            if not isinstance(text, str):
                raise fail(
                    f"hours_by_day.{day}", f"must be a string like 10:00-18:00, got {text!r}"
                )
            check(f"hours_by_day.{day}", parse_hours, text)
        return cls(
            timezone=timezone,
            hours=hours,
            days=days,
            holidays=country,
            closed=closed,
            working=working,
            hours_by_day=by_day,
        )

    # -- days ---------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError(f"is_working_day takes a date, got the datetime {day!r}")
        if day in self.working:
            return True
        if day in self.closed:
            return False
        if self.country:
            off, on = _official_days(self.country, day.year)
            if day in on:
                return True
            if day in off:
                return False
        return day.weekday() in self.days

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for n in range(1, _NO_WORKING_DAY_IN + 1):
            candidate = day + timedelta(days=n)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {_NO_WORKING_DAY_IN} days after {day}")

    def hours_on(self, day: date) -> tuple[int, int]:
        """The day's (opening, closing) in minutes after midnight, working day or not."""
        return self.hours_by_day.get(day.weekday(), self.hours)

    def opening(self, day: date) -> datetime:
        """When a working day's hours begin (aware, in the calendar's zone).

        An opening the clocks skip opens at the switch; one they repeat, at its first occurrence.
        """
        if not self.is_working_day(day):
            raise ValueError(f"{day.isoformat()} is not a working day")
        windows = self._windows(day)
        start = windows[0][0] if windows else self._instant(day, self.hours_on(day)[0] * _MINUTE)
        return self._datetime(start)

    def closing(self, day: date) -> datetime:
        """When a working day's hours end (aware, in the calendar's zone).

        A closing the clocks skip is the switch; one they repeat, its second occurrence (the
        repeated hour is worked twice). Hours the clocks skip entirely: closing == opening.
        """
        if not self.is_working_day(day):
            raise ValueError(f"{day.isoformat()} is not a working day")
        windows = self._windows(day)
        end = windows[-1][1] if windows else self._instant(day, self.hours_on(day)[0] * _MINUTE)
        return self._datetime(end)

    # -- business time ------------------------------------------------------------------------

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """The exact business time in [start, end); zero when end <= start."""
        s, e = _us(start, "start"), _us(end, "end")
        if e <= s:
            return timedelta(0)
        total = 0
        day = self._local_date(s) - timedelta(days=1)
        last = self._local_date(e) + timedelta(days=1)
        while day <= last:
            if self.is_working_day(day):
                for a, b in self._windows(day):
                    overlap = min(b, e) - max(a, s)
                    if overlap > 0:
                        total += overlap
            day += timedelta(days=1)
        return timedelta(microseconds=total)

    def business_minutes(self, start: datetime, end: datetime) -> int:
        """Whole business minutes in [start, end): the exact business time, floored."""
        return self.business_time(start, end) // timedelta(minutes=1)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest moment at which `amount` of business time has passed since `start`.

        Outside working hours counting starts at the next opening; an amount that runs out
        exactly at a closing gives that closing. A zero amount gives `start` itself. The result
        is in the calendar's zone.
        """
        s = _us(start, "start")
        if not isinstance(amount, timedelta):
            raise TypeError(f"amount must be a timedelta, got {type(amount).__name__}")
        need = amount // _US
        if need < 0:
            raise ValueError(f"amount must not be negative, got {amount}")
        if need == 0:
            return self._datetime(s)
        day = self._local_date(s) - timedelta(days=1)
        idle = 0
        while True:
            had_time = False
            if self.is_working_day(day):
                for a, b in self._windows(day):
                    begin = max(a, s)
                    if begin < b:
                        had_time = True
                        if need <= b - begin:
                            return self._datetime(begin + need)
                        need -= b - begin
            idle = 0 if had_time else idle + 1
            if idle > _NO_WORKING_DAY_IN:
                raise ValueError(f"no working hours within {_NO_WORKING_DAY_IN} days")
            day += timedelta(days=1)

    def add_business_minutes(self, start: datetime, minutes: int) -> datetime:
        """The moment `minutes` business minutes have passed since `start`.

        The inverse of business_minutes: business_minutes(start, result) == minutes.
        """
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise TypeError(f"minutes must be an integer, got {minutes!r}")
        if minutes < 0:
            raise ValueError(f"minutes must not be negative, got {minutes}")
        return self.add_business_time(start, timedelta(minutes=minutes))

    def ack_deadline(self, arrived: datetime, cutoff: time = DEFAULT_CUTOFF) -> datetime:
        """When a request must be acknowledged, by the studio's cutoff rule.

        A request that arrives on a working day before `cutoff` (wall clock in the calendar's
        zone, strictly before: 11:59:59 is before 12:00, 12:00:00 is not) and before that day's
        closing is acknowledged by the day's closing; arriving before opening counts as before
        the cutoff. Otherwise (at or after the cutoff, after closing, or on a day that is not a
        working day) the deadline is `cutoff` on the next working day.
        """
        a = _us(arrived, "arrived")
        local = self._datetime(a)
        day = local.date()
        if (
            self.is_working_day(day)
            and local.time().replace(tzinfo=None) < cutoff
            and arrived < self.closing(day)
        ):
            return self.closing(day)
        target = self.next_working_day(day)
        at = ((cutoff.hour * 60 + cutoff.minute) * 60 + cutoff.second) * _SECOND
        return self._datetime(self._instant(target, at + cutoff.microsecond))

    # -- internals ----------------------------------------------------------------------------

    def _datetime(self, us: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=us)).astimezone(self.zone)

    def _local_date(self, us: int) -> date:
        return self._datetime(us).date()

    def _segments(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """[lo, hi) cut where the zone's offset changes: (from, to, offset), all microseconds."""
        first = (_EPOCH + timedelta(microseconds=lo)).year
        last = (_EPOCH + timedelta(microseconds=hi)).year
        cuts = sorted(
            {
                t * _SECOND
                for year in range(first, last + 1)
                for t in _transitions(self.zone.key, year)
                if lo < t * _SECOND < hi
            }
        )
        out = []
        for a, b in pairwise([lo, *cuts, hi]):
            offset = datetime.fromtimestamp(a // _SECOND, self.zone).utcoffset()
            out.append((a, b, offset // _US if offset is not None else 0))
        return out

    def _windows(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's working hours as instants (microseconds): usually one interval.

        The instants whose wall clock shows `day` within its hours; on a day the clocks go back
        inside the hours it may be two.
        """
        cached = self._windows_cache.get(day)
        if cached is not None:
            return cached
        opening, closing = self.hours_on(day)
        lo_wall, hi_wall = _wall_us(day, opening * _MINUTE), _wall_us(day, closing * _MINUTE)
        intervals: list[tuple[int, int]] = []
        for a, b, offset in self._segments(lo_wall - 26 * _HOUR, hi_wall + 26 * _HOUR):
            x, y = max(a, lo_wall - offset), min(b, hi_wall - offset)
            if x < y:
                if intervals and intervals[-1][1] == x:
                    intervals[-1] = (intervals[-1][0], y)
                else:
                    intervals.append((x, y))
        result = tuple(intervals)
        self._windows_cache[day] = result
        return result

    def _instant(self, day: date, after_midnight: int) -> int:
        """The first instant at which the wall clock shows `day` + `after_midnight` µs or later.

        An ordinary time: its instant; a time the clocks skip: the switch; a time the clocks
        repeat: its first occurrence.
        """
        wall = _wall_us(day, after_midnight)
        for a, b, offset in self._segments(wall - 26 * _HOUR, wall + 26 * _HOUR):
            x = max(a, wall - offset)
            if x < b:
                return x
        raise AssertionError("unreachable: the wall clock passes every time")  # pragma: no cover


def _fmt_hours(hours: tuple[int, int]) -> str:
    (h1, m1), (h2, m2) = divmod(hours[0], 60), divmod(hours[1], 60)
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"
