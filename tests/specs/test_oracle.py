"""Spec evaluation fuzzed with hypothesis against an independent oracle.

The oracle below is written from the cron man page rules and the daylight-saving
rules of API.md ("Specs"). It uses neither croniter nor anything of the specs
package: only zoneinfo, to learn when each zone's UTC offset changes.

- Fields: numbers, names (JAN-DEC, SUN-SAT, any case), ``*``, ``a-b``, ``/step``
  after ``*``, a range or a single value (``N/step`` runs from N to the end of the
  field: Saturday in day-of-week, as documented in test_parse.py), lists; an
  equal-ended range is that one value; day-of-week 7 is Sunday. If either day field
  starts with ``*`` both must match, else either.
- A wildcard spec (minute or hour field starts with ``*``) fires by real time: at
  each real minute whose local wall time matches.
- A fixed-time spec fires once per matching wall time W, at the first real minute
  whose wall time is W or later: W itself when it exists (its first pass when it
  is repeated), the end of the gap when the clock jumped over it; two skipped wall
  times that jump to the same instant fire once.
- ``@every D``: the multiples of D seconds since the Unix epoch.
- Text the oracle cannot read, and a spec that can never fire (no date matches in
  a 400-year cycle; an ``@every`` whose first slot after 1970 is past the year
  9999), must raise InvalidSpec.

Between two changes of a zone's UTC offset, wall time runs in step with real time,
so the oracle walks one stretch of constant offset at a time and, inside it, the
calendar, jumping over months, days and hours that do not match. That it agrees
with a literal minute-by-minute walk is itself checked below.

``TOGO_FUZZ_EXAMPLES=20000`` raises the example count of every property for a long
run by hand; with the defaults the module takes about 10-20 s.
"""

from __future__ import annotations

import bisect
import functools
import operator
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from django_togo_scheduler.exceptions import InvalidSpec
from django_togo_scheduler.specs import Spec, fire_times, parse_spec, validate_spec

ZONES = [
    ZoneInfo("UTC"),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute shifts
]
EPOCH = datetime(1970, 1, 1)  # naive UTC, as every instant inside the oracle
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


def examples(default: int) -> int:
    """The example count of a property: ``default``, or TOGO_FUZZ_EXAMPLES if set."""
    return int(os.environ.get("TOGO_FUZZ_EXAMPLES", default))


def fuzz(default: int) -> settings:
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# --- the oracle: reading a spec -----------------------------------------------------

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        [
            "JAN",
            "FEB",
            "MAR",
            "APR",
            "MAY",
            "JUN",
            "JUL",
            "AUG",
            "SEP",
            "OCT",
            "NOV",
            "DEC",
        ],
        1,
    )
}
DAY_NAMES = {
    name: number
    for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
NUMBER = re.compile("[0-9]+")  # ASCII digits only
DURATION = re.compile("(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


@dataclass(frozen=True)
class OracleField:
    low: int
    high: int  # highest value written
    end: int  # where "*" and "N/step" stop
    names: dict[str, int]


ORACLE_FIELDS = (
    OracleField(0, 59, 59, {}),  # minute
    OracleField(0, 23, 23, {}),  # hour
    OracleField(1, 31, 31, {}),  # day of month
    OracleField(1, 12, 12, MONTH_NAMES),  # month
    OracleField(0, 7, 6, DAY_NAMES),  # day of week; 7 is Sunday
)


class Rejected(Exception):
    """The oracle's verdict: the text is not a valid spec."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6
    either_day: bool  # both day fields restricted: either matching is enough
    wildcard: bool  # fires by real time

    def day_matches(self, day: date) -> bool:
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.either_day:
            return by_date or by_weekday
        return by_date and by_weekday


@dataclass(frozen=True)
class Every:
    seconds: int


def oracle_value(fld: OracleField, text: str) -> int:
    if NUMBER.fullmatch(text):
        if fld.low <= int(text) <= fld.high:
            return int(text)
        raise Rejected(f"{text} out of range")
    if text.upper() in fld.names:
        return fld.names[text.upper()]
    raise Rejected(f"bad value {text!r}")


def oracle_item(fld: OracleField, item: str) -> set[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not NUMBER.fullmatch(step_text) or int(step_text) < 1:
            raise Rejected(f"bad step {step_text!r}")
        step = int(step_text)
    if base == "*":
        first, last = fld.low, fld.end
    elif "-" in base:
        ends = base.split("-")
        if len(ends) != 2:
            raise Rejected(f"bad range {base!r}")
        first, last = oracle_value(fld, ends[0]), oracle_value(fld, ends[1])
        if first > last:
            raise Rejected(f"reversed range {base!r}")
    else:
        first = last = oracle_value(fld, base)
        if slash:  # N/step: from N to the end of the field
            last = max(first, fld.end)
    return {
        value % 7 if fld.high == 7 else value for value in range(first, last + 1, step)
    }


def oracle_cron(fields: list[str]) -> Cron:
    if len(fields) != 5:
        raise Rejected(f"{len(fields)} fields")
    sets = []
    for fld, text in zip(ORACLE_FIELDS, fields, strict=True):
        values: set[int] = set()
        for item in text.split(","):
            values |= oracle_item(fld, item)
        sets.append(frozenset(values))
    minutes, hours, days, months, weekdays = sets
    return Cron(
        minutes,
        hours,
        days,
        months,
        weekdays,
        either_day=not fields[2].startswith("*") and not fields[4].startswith("*"),
        wildcard=fields[0].startswith("*") or fields[1].startswith("*"),
    )


def oracle_parse(text: str) -> Cron | Every:
    """Read ``text`` as the man page does, or raise Rejected."""
    words = re.split("[ \t]+", text.strip(" \t"))
    if not words[0].startswith("@"):
        return oracle_cron(words)
    keyword = words[0].lower()
    if keyword == "@every":
        if len(words) != 2:
            raise Rejected("@every takes one duration")
        match = DURATION.fullmatch(words[1].lower())
        if match is None or not any(match.groups()):
            raise Rejected("bad duration")
        amounts = [int(amount) if amount else None for amount in match.groups()]
        if 0 in amounts:
            raise Rejected("zero amount")
        units = (86400, 3600, 60, 1)
        return Every(sum(u * a for u, a in zip(units, amounts, strict=True) if a))
    if keyword not in MACROS or len(words) != 1:
        raise Rejected("bad macro")
    return oracle_cron(MACROS[keyword].split())


# --- the oracle: calendar walk ------------------------------------------------------


def next_wall(cron: Cron, wall: datetime, last: datetime) -> datetime | None:
    """The first matching wall time at or after ``wall`` (a whole minute), up to ``last``."""
    while wall <= last:
        if wall.month not in cron.months:
            wall = (wall.replace(day=28) + 4 * DAY).replace(day=1, hour=0, minute=0)
        elif not cron.day_matches(wall.date()):
            wall = datetime.combine(wall.date() + DAY, time())
        elif wall.hour not in cron.hours:
            wall = wall.replace(minute=0) + HOUR
        elif wall.minute not in cron.minutes:
            wall += MINUTE
        else:
            return wall
    return None


def prev_wall(cron: Cron, wall: datetime, first: datetime) -> datetime | None:
    """The last matching wall time at or before ``wall`` (a whole minute), down to ``first``."""
    while wall >= first:
        if wall.month not in cron.months:
            wall = wall.replace(day=1, hour=0, minute=0) - MINUTE
        elif not cron.day_matches(wall.date()):
            wall = wall.replace(hour=0, minute=0) - MINUTE
        elif wall.hour not in cron.hours:
            wall = wall.replace(minute=0) - MINUTE
        elif wall.minute not in cron.minutes:
            wall -= MINUTE
        else:
            return wall
    return None


@functools.cache
def can_fire(reading: Cron | Every) -> bool:
    """Whether the spec fires at some instant after 1970 that datetime can hold."""
    if isinstance(reading, Every):
        return reading.seconds <= (datetime.max - EPOCH) // timedelta(seconds=1)
    # Whether some date matches: weekdays repeat every 400 years.
    return next_wall(reading, datetime(2000, 1, 1), datetime(2399, 12, 31)) is not None


# --- the oracle: a zone as stretches of constant UTC offset -------------------------

TABLE_START, TABLE_END = datetime(1990, 1, 1), datetime(2070, 1, 1)


def offset_at(tz: tzinfo, instant: datetime) -> timedelta:
    """How far the wall clock is ahead of UTC at ``instant`` (naive UTC)."""
    local = instant.replace(tzinfo=UTC).astimezone(tz)
    return local.replace(tzinfo=None) - instant


@dataclass(frozen=True)
class Stretches:
    """From starts[i] to starts[i + 1] (or TABLE_END) the offset is offsets[i]."""

    starts: list[datetime]
    offsets: list[timedelta]
    last_walls: list[datetime]  # the last wall time shown in each stretch
    min_offset: timedelta
    max_offset: timedelta

    def end(self, index: int) -> datetime:
        last = index + 1 == len(self.starts)
        return TABLE_END if last else self.starts[index + 1]

    def index(self, instant: datetime) -> int:
        return bisect.bisect_right(self.starts, instant) - 1


@functools.cache
def stretches(tz: tzinfo) -> Stretches:
    starts, offsets = [TABLE_START], [offset_at(tz, TABLE_START)]
    day = TABLE_START
    while day < TABLE_END:  # offsets here change months apart, never twice a day
        following = day + DAY
        if offset_at(tz, following) != offsets[-1]:
            low, high = day, following  # bisect to the microsecond
            while high - low > US:
                middle = low + (high - low) // 2
                if offset_at(tz, middle) == offsets[-1]:
                    low = middle
                else:
                    high = middle
            starts.append(high)
            offsets.append(offset_at(tz, high))
        day = following
    whole = [*starts, *offsets]
    assert all(value.second == 0 and value.microsecond == 0 for value in starts)
    assert all(offset % MINUTE == timedelta(0) for offset in offsets), whole
    table = Stretches(starts, offsets, [], min(offsets), max(offsets))
    table.last_walls.extend(
        table.end(i) - MINUTE + offsets[i] for i in range(len(starts))
    )
    assert table.last_walls == sorted(table.last_walls)
    return table


def floor_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def first_passage(zone: Stretches, wall: datetime) -> datetime | None:
    """The first real minute whose wall time is ``wall`` or later (fixed-time firing)."""
    index = bisect.bisect_left(zone.last_walls, wall)
    if index == len(zone.starts):
        return None
    if index == 0 and wall - zone.offsets[0] < zone.starts[0]:
        return None  # before the table
    return max(zone.starts[index], wall - zone.offsets[index])


def oracle_next(reading: Cron | Every, tz: tzinfo, after: datetime) -> datetime | None:
    """The first fire instant strictly after ``after`` (aware), aware UTC; None past the table."""
    moment = after.astimezone(UTC).replace(tzinfo=None)
    if isinstance(reading, Every):
        period = timedelta(seconds=reading.seconds)
        return ((moment - EPOCH) // period * period + period + EPOCH).replace(
            tzinfo=UTC
        )
    zone = stretches(tz)
    result = None
    if reading.wildcard:
        instant = floor_minute(moment) + MINUTE
        for index in range(zone.index(instant), len(zone.starts)):
            offset = zone.offsets[index]
            begin = max(instant, zone.starts[index])
            wall = next_wall(reading, begin + offset, zone.end(index) - MINUTE + offset)
            if wall is not None:
                result = wall - offset
                break
    else:
        # No wall time before moment + min_offset can first pass after moment.
        wall = floor_minute(moment + zone.min_offset)
        while (found := next_wall(reading, wall, TABLE_END)) is not None:
            passage = first_passage(zone, found)
            if passage is None:
                break
            if passage > moment:
                result = passage
                break
            wall = found + MINUTE
    return None if result is None else result.replace(tzinfo=UTC)


def oracle_last(reading: Cron | Every, tz: tzinfo, moment: datetime) -> datetime | None:
    """The latest fire instant at or before ``moment`` (aware), aware UTC; None past the table."""
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    if isinstance(reading, Every):
        period = timedelta(seconds=reading.seconds)
        return ((moment - EPOCH) // period * period + EPOCH).replace(tzinfo=UTC)
    zone = stretches(tz)
    result = None
    if reading.wildcard:
        instant = floor_minute(moment)
        for index in range(zone.index(instant), -1, -1):
            offset = zone.offsets[index]
            end = min(instant, zone.end(index) - MINUTE)
            wall = prev_wall(reading, end + offset, zone.starts[index] + offset)
            if wall is not None:
                result = wall - offset
                break
    else:
        # No wall time after moment + max_offset can first pass by moment.
        wall = floor_minute(moment + zone.max_offset)
        while (found := prev_wall(reading, wall, TABLE_START)) is not None:
            passage = first_passage(zone, found)
            if passage is None:
                break
            if passage <= moment:
                result = passage
                break
            wall = found - MINUTE
    return None if result is None else result.replace(tzinfo=UTC)


# --- strategies ---------------------------------------------------------------------

# Values near the daylight-saving hours and the month ends come up more often.
FIELD_VALUES = (
    st.one_of(st.integers(0, 59), st.sampled_from([0, 1, 15, 29, 30, 31, 45, 59])),
    st.one_of(st.integers(0, 23), st.sampled_from([0, 1, 2, 3, 23])),
    st.one_of(st.integers(1, 31), st.sampled_from([1, 28, 29, 30, 31])),
    st.one_of(st.integers(1, 12), st.sampled_from([2, 3, 4, 10, 11])),
    st.integers(0, 7),
)
NAMES: tuple[dict[int, str], ...] = (
    {},
    {},
    {},
    {number: name for name, number in MONTH_NAMES.items()},
    {number: name for name, number in DAY_NAMES.items()},
)


@st.composite
def field_values(draw: st.DrawFn, index: int) -> str:
    """One value of field ``index``, as a number or (month, weekday) a name in any case."""
    value = draw(FIELD_VALUES[index])
    name = NAMES[index].get(value)
    if name is None or not draw(st.booleans()):
        return str(value)
    spelled: str = draw(st.sampled_from([name, name.lower(), name.capitalize()]))
    return spelled


def cron_fields(index: int) -> st.SearchStrategy[str]:
    value = field_values(index)
    # Ranges are written low to high by number (only "7" for Sunday may end one).
    pair = st.tuples(value, value).map(
        lambda ends: sorted(
            ends, key=lambda end: oracle_value(ORACLE_FIELDS[index], end)
        )
    )
    step = st.one_of(st.integers(1, 4), st.integers(1, ORACLE_FIELDS[index].high + 2))
    item = st.one_of(
        st.just("*"),
        st.builds("*/{}".format, step),
        value,
        pair.map("-".join),
        st.builds("{0[0]}-{0[1]}/{1}".format, pair, step),
        st.builds("{}/{}".format, value, step),
    )
    field = st.lists(item, min_size=1, max_size=3).map(",".join)
    if index >= 2:  # day fields left open half of the time, so most specs fire often
        return st.one_of(st.just("*"), field)
    return field


SEPARATOR = st.sampled_from([" ", " ", " ", "  ", "\t", " \t "])
CRON_FIELDS = [
    cron_fields(index) for index in range(5)
]  # built once: drawing is faster


@st.composite
def cron_texts(draw: st.DrawFn) -> str:
    fields = [draw(CRON_FIELDS[index]) for index in range(5)]
    text = "".join(field + draw(SEPARATOR) for field in fields[:-1]) + fields[-1]
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " \t"]))


@st.composite
def macro_texts(draw: st.DrawFn) -> str:
    macro = draw(st.sampled_from(sorted(MACROS)))
    return draw(st.sampled_from([macro, macro.upper(), macro[:2].upper() + macro[2:]]))


AMOUNTS = {
    "d": st.one_of(st.integers(1, 400), st.integers(1, 10**9)),  # up to past year 9999
    "h": st.integers(1, 48),
    "m": st.one_of(st.integers(1, 120), st.sampled_from([1, 5, 15, 30])),
    "s": st.one_of(st.integers(1, 100_000), st.sampled_from([1, 7, 30])),
}


@st.composite
def every_texts(draw: st.DrawFn) -> str:
    units = draw(st.sets(st.sampled_from("dhms"), min_size=1))
    upper = draw(st.booleans())
    duration = "".join(
        f"{draw(AMOUNTS[unit])}{unit.upper() if upper else unit}"
        for unit in "dhms"
        if unit in units
    )
    return draw(st.sampled_from(["@every ", "@EVERY ", "@every\t"])) + duration


# Specs aimed at the daylight-saving nights: hours 1-3 local, any day.
DST_HOURS = st.lists(
    st.sampled_from(["1", "2", "3", "1-2", "2-3", "1-3", "*/2", "0-23/3", "*", "2/1"]),
    min_size=1,
    max_size=2,
).map(",".join)
DST_MINUTES = st.one_of(
    CRON_FIELDS[0],
    st.sampled_from(["0", "30", "15,45", "29-31", "*/30", "*/15", "59", "0-59/7"]),
)

# The clocks change on a Sunday in these zones: Sunday as 0, 7, "N/step", a range end.
DST_DAYS = st.sampled_from(
    ["* * *", "* * *", "*/2 3,10,11 *", "* * 0", "* * 7", "* * 1/2", "* * 5/1"]
    + ["* * 6/1", "* * 4/3", "* * SAT-7", "1-7 * 0", "* * 1-6", "25-31 * sun"]
)


@st.composite
def dst_cron_texts(draw: st.DrawFn) -> str:
    days = draw(DST_DAYS)
    return f"{draw(DST_MINUTES)} {draw(DST_HOURS)} {days}"


# Specs aimed at the month ends: short months, Feb 29, days that never occur.
MONTH_END_DAYS = st.sampled_from(
    ["29", "30", "31", "29-31", "30,31", "28-31/3", "31/1"]
)
MONTH_END_MONTHS = st.sampled_from(
    ["2", "FEB", "feb", "4", "2,4", "4-11/2", "2-3", "*"]
)
MONTH_END_WEEKDAYS = st.sampled_from(["*", "*", "0", "7", "*/3", "1-5"])


@st.composite
def month_end_texts(draw: st.DrawFn) -> str:
    time_of_day = draw(st.sampled_from(["0 0", "30 2", "*/30 *", "59 23"]))
    days, months = draw(MONTH_END_DAYS), draw(MONTH_END_MONTHS)
    return f"{time_of_day} {days} {months} {draw(MONTH_END_WEEKDAYS)}"


SPECS = st.one_of(
    cron_texts(),
    cron_texts(),
    dst_cron_texts(),
    month_end_texts(),
    month_end_texts(),
    macro_texts(),
    every_texts(),
)


def transitions(tz: tzinfo) -> list[datetime]:
    return [start for start in stretches(tz).starts[1:] if 2020 <= start.year <= 2030]


SHIFTS = st.one_of(
    st.integers(-75, 75).map(lambda minutes: minutes * MINUTE),  # either pass, the gap
    st.integers(-75 * 60 * 10**6, 75 * 60 * 10**6).map(lambda us: us * US),
    st.integers(-4 * 60, 4 * 60).map(lambda minutes: minutes * MINUTE),
    st.sampled_from(
        [0, 1, -1, 60, -60, 1800, -1800, 3600, -3600, 5400, -5400, 7200]
    ).map(lambda seconds: timedelta(seconds=seconds)),
    st.sampled_from([0, 1, -1]).map(lambda micro: timedelta(microseconds=micro)),
    st.integers(-26 * 3600 * 10**6, 26 * 3600 * 10**6).map(lambda us: us * US),
)


ANYWHERE = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31, 23, 59))


@functools.cache
def instants_in(tz: tzinfo) -> st.SearchStrategy[datetime]:
    """Naive UTC instants in 2020-2030, often near a change of the zone's offset."""
    choices = [ANYWHERE.map(floor_minute), ANYWHERE]
    if changes := transitions(tz):
        near = st.builds(operator.add, st.sampled_from(changes), SHIFTS)
        choices = [near, *choices, near]
    return st.one_of(choices)


@st.composite
def zoned_instants(
    draw: st.DrawFn, *, dst_only: bool = False
) -> tuple[tzinfo, datetime]:
    """A zone and an aware instant in 2020-2030, often near a change of its offset.

    ``dst_only``: a zone with daylight saving and an instant near a change.
    """
    tz = draw(st.sampled_from(ZONES[1:] if dst_only else [*ZONES[1:], ZONES[0]]))
    if dst_only:
        instant = draw(st.sampled_from(transitions(tz))) + draw(SHIFTS)
    else:
        instant = draw(instants_in(tz))
    instant = instant.replace(tzinfo=UTC)
    # Any aware datetime will do: sometimes give it in the zone itself.
    if draw(st.booleans()):
        instant = instant.astimezone(tz)
    return tz, instant


# --- the properties -----------------------------------------------------------------


def check_against_oracle(text: str, tz: tzinfo, moment: datetime) -> None:
    """parse_spec(text) agrees with the oracle: valid or not, and when it fires."""
    try:
        reading = oracle_parse(text)
    except Rejected:
        event("invalid")
        with pytest.raises(InvalidSpec):
            parse_spec(text)
        return
    if not can_fire(reading):
        event("invalid: never fires")
        # Over-long @every amounts may be refused as "not a duration" first.
        problem = "can never fire" if isinstance(reading, Cron) else None
        with pytest.raises(InvalidSpec, match=problem):
            parse_spec(text)
        return
    spec = parse_spec(text)
    assert isinstance(spec, Spec)
    assert spec.is_every is isinstance(reading, Every)
    assert spec.is_wildcard is (isinstance(reading, Cron) and reading.wildcard)
    following = oracle_next(reading, tz, moment)
    latest = oracle_last(reading, tz, moment)
    assume(following is not None and latest is not None)  # beyond the oracle's table
    assert following is not None and latest is not None
    kind = (
        type(reading).__name__
        if isinstance(reading, Every)
        else ("wildcard" if reading.wildcard else "fixed-time")
    )
    event(kind)
    changes = stretches(tz).starts[1:]
    if isinstance(reading, Cron) and changes:
        for fire in (following, latest):
            near = min(abs(fire.replace(tzinfo=None) - change) for change in changes)
            if near <= 2 * HOUR:
                event(f"{kind}: fires within 2 h of an offset change")
            if fire.replace(tzinfo=None) in changes:
                event(f"{kind}: fires at an offset change")
    got = spec.next_after(moment, tz)
    assert (got, got.utcoffset()) == (following, timedelta(0)), (
        f"next_after({moment.astimezone(UTC)}) of {text!r} in {tz}: "
        f"{got} ({got.astimezone(tz)}), oracle {following} ({following.astimezone(tz)})"
    )
    got = spec.last_at_or_before(moment, tz)
    assert (got, got.utcoffset()) == (latest, timedelta(0)), (
        f"last_at_or_before({moment.astimezone(UTC)}) of {text!r} in {tz}: "
        f"{got} ({got.astimezone(tz)}), oracle {latest} ({latest.astimezone(tz)})"
    )
    # What the admin preview shows: the next five, or as many as the calendar holds.
    preview = fire_times(text, moment, tz, 5)
    assert preview[0] == following
    assert preview == sorted(set(preview))
    assert len(preview) == 5 or preview[-1] > datetime.max.replace(tzinfo=UTC) - (
        timedelta(seconds=reading.seconds) if isinstance(reading, Every) else 366 * DAY
    )


@fuzz(500)
@given(SPECS, zoned_instants())
def test_next_after__agrees_with_oracle(
    text: str, zone_and_moment: tuple[tzinfo, datetime]
) -> None:
    check_against_oracle(text, *zone_and_moment)


@fuzz(500)
@given(st.one_of(dst_cron_texts(), cron_texts()), zoned_instants(dst_only=True))
def test_next_after__dst_nights_agree_with_oracle(
    text: str, zone_and_moment: tuple[tzinfo, datetime]
) -> None:
    check_against_oracle(text, *zone_and_moment)


# Cron-ish tokens glued together at random: mostly invalid, sometimes valid in
# unusual shapes ("007", "*/60", "sun-7/3", "@EVERY\t1D"). Numbers stay short:
# parse_spec refuses numbers of ten digits or more on purpose.
TOKENS = [
    "*", "*", "/", "/", "-", "-", ",", ",", "0", "1", "2", "3", "5", "7", "8",
    "12", "13", "23", "24", "29", "30", "31", "32", "59", "60", "JAN", "dec",
    "Feb", "SUN", "sat", "Mon", "FOO", "L", "W", "#", "?", "H", "@",
]  # fmt: skip
SOUP = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5).map("".join)
# Items of the right shape with parts that may be wrong: out of range, reversed,
# a zero step, a name in the wrong field, a foreign marker, an empty part.
ATOMS = st.sampled_from([
    "*", "0", "1", "2", "5", "6", "7", "8", "12", "13", "23", "24", "29", "31",
    "32", "59", "60", "00", "007", "JAN", "dec", "sun", "Sat", "FOO", "", "L",
    "1L", "W", "#2", "?", "H",
])  # fmt: skip
NUMBERS = st.sampled_from(
    ["0", "1", "5", "7", "12", "23", "31", "59", "JAN", "dec", "sun"]
)
STEPS = st.sampled_from(["0", "00", "1", "2", "7", "60", "", "*", "-1", "1/2"])
SHAPED = st.one_of(
    st.builds("{}-{}".format, ATOMS, ATOMS),
    st.builds("{}/{}".format, ATOMS, STEPS),
    st.builds("{}-{}/{}".format, ATOMS, ATOMS, STEPS),
    ATOMS,
)
FIELD_TOKENS = st.one_of(SOUP, st.lists(SHAPED, min_size=1, max_size=3).map(",".join))
DURATION_TOKENS = st.lists(
    st.sampled_from(
        ["0", "1", "2", "30", "90", "d", "h", "m", "s", "D", "S", "ms", "-", "9999999"]
    ),
    max_size=5,
).map("".join)
ONE_BAD_FIELD = st.builds(  # one field of soup among valid ones: often a valid spec
    lambda index, soup, fields: " ".join([*fields[:index], soup, *fields[index + 1 :]]),
    st.integers(0, 4),
    st.one_of(
        st.lists(SHAPED, min_size=1, max_size=2).map(",".join),
        st.builds("{}-{}".format, NUMBERS, NUMBERS),  # reversed about half of the time
        st.builds("{}/{}".format, NUMBERS, st.sampled_from(["0", "00", "1", "2"])),
        SOUP,
    ),
    st.tuples(*CRON_FIELDS),
)
TOKEN_SPECS = st.one_of(
    ONE_BAD_FIELD,
    ONE_BAD_FIELD,
    st.lists(FIELD_TOKENS, min_size=1, max_size=7).flatmap(
        lambda fields: st.lists(
            SEPARATOR, min_size=len(fields), max_size=len(fields)
        ).map(lambda gaps: "".join(g + f for g, f in zip(gaps, fields, strict=True)))
    ),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(
            ["@every", "@EVERY", "@every ", "@daily", "@reboot", "@", "@hourly "]
        ),
        SEPARATOR,
        DURATION_TOKENS,
    ),
)


@fuzz(600)
@given(TOKEN_SPECS, zoned_instants())
def test_parse_spec__token_soup_agrees_with_oracle(
    text: str, zone_and_moment: tuple[tzinfo, datetime]
) -> None:
    check_against_oracle(text, *zone_and_moment)


GARBAGE = st.one_of(
    st.text(),
    st.text(st.characters(codec="ascii")),
    st.text(alphabet="*/-,0123456789 \tLW#?HJANMONSUN@\x00\u0663\u00a0\u2003\x1c"),
    TOKEN_SPECS.map(lambda text: text.replace(" ", "\x00", 1)),
    st.builds(
        lambda text, times: text * times,
        st.one_of(TOKEN_SPECS, st.text(min_size=1, max_size=8)),
        st.integers(100, 3000),
    ),  # long strings
    st.builds(
        "{}{}".format,
        TOKEN_SPECS,
        st.sampled_from(["\x00", " \x00", "\u200b", "\ufeff", " *"]),
    ),
)


@fuzz(400)
@given(GARBAGE, zoned_instants())
def test_parse_spec__garbage_gives_spec_or_invalid_spec(
    text: str, zone_and_moment: tuple[tzinfo, datetime]
) -> None:
    tz, moment = zone_and_moment
    try:
        spec = parse_spec(text)
    except InvalidSpec as exc:
        assert isinstance(exc, ValueError)
        assert str(exc)
        return
    assert isinstance(spec, Spec)
    assert validate_spec(text) == spec.text
    following = spec.next_after(moment, tz)
    assert following > moment
    assert spec.last_at_or_before(moment, tz) <= moment
    preview = fire_times(text, moment, tz, 5)  # what the admin preview shows
    assert preview[0] == following
    assert preview == sorted(set(preview))


NOT_STRINGS = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(),
    st.binary().map(bytearray),
    st.lists(st.text(), max_size=3),
    st.lists(st.text(), max_size=3).map(tuple),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.just(b"* * * * *"),
    st.just(["* * * * *"]),
    st.just(object()),
)


@fuzz(100)
@given(NOT_STRINGS)
def test_validate_spec__not_a_string(value: object) -> None:
    with pytest.raises(InvalidSpec, match="a spec must be a string"):
        validate_spec(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec, match="a spec must be a string"):
        parse_spec(value)  # type: ignore[arg-type]


# --- the oracle checked against a literal minute-by-minute walk ---------------------


def literal_walk(
    cron: Cron, tz: tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    """Fire instants in [start, end] (naive UTC, whole minutes), minute by minute.

    Wildcard: each real minute whose wall time matches. Fixed-time: each real
    minute fires the matching wall times past the latest one shown before it.
    """

    def wall(instant: datetime) -> datetime:
        return instant.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)

    def matches(moment: datetime) -> bool:
        return (
            moment.month in cron.months
            and cron.day_matches(moment.date())
            and moment.hour in cron.hours
            and moment.minute in cron.minutes
        )

    fired = []
    shown = wall(start - MINUTE)  # the latest wall time shown so far
    instant = start
    while instant <= end:
        now = wall(instant)
        if cron.wildcard:
            hit = matches(now)
        else:
            passed = shown + MINUTE
            hit = False
            while passed <= now:  # one minute, or the whole gap after a jump
                hit = hit or matches(passed)
                passed += MINUTE
        if hit:
            fired.append(instant)
        shown = max(shown, now)
        instant += MINUTE
    return fired


@fuzz(60)
@given(cron_texts(), st.data())
def test_oracle__agrees_with_literal_minute_walk(
    text: str, data: st.DataObject
) -> None:
    reading = oracle_parse(text)
    assert isinstance(reading, Cron)
    assume(can_fire(reading))
    tz = data.draw(st.sampled_from(ZONES[1:]))
    start = data.draw(st.sampled_from(transitions(tz))) - 3 * HOUR
    start += data.draw(st.integers(0, 120)) * MINUTE
    end = start + 6 * HOUR
    expected = literal_walk(reading, tz, start, end)
    found = []
    moment = start.replace(tzinfo=UTC) - US
    previous = oracle_last(reading, tz, moment)
    while (following := oracle_next(reading, tz, moment)) is not None:
        if following > end.replace(tzinfo=UTC):
            break
        found.append(following.replace(tzinfo=None))
        assert oracle_last(reading, tz, following) == following
        assert oracle_last(reading, tz, following - US) == previous
        moment = previous = following
    assert found == expected


@fuzz(200)
@given(st.sampled_from(ZONES), st.datetimes(TABLE_START, TABLE_END - US))
def test_oracle__stretches_match_zoneinfo(tz: tzinfo, instant: datetime) -> None:
    zone = stretches(tz)
    assert zone.offsets[zone.index(instant)] == offset_at(tz, instant)


def test_oracle__reads_known_specs() -> None:
    # A few readings written out by hand, so the oracle's own parser is pinned.
    berlin = ZONES[1]
    cron = oracle_parse("5-5 */6 * * 5/1")
    assert isinstance(cron, Cron)
    assert [cron.minutes, cron.hours, cron.weekdays] == [{5}, {0, 6, 12, 18}, {5, 6}]
    assert (cron.either_day, cron.wildcard) == (False, True)
    cron = oracle_parse("0 0 13 jan-Mar/2 sun-sun,7")
    assert isinstance(cron, Cron)
    assert [cron.months, cron.weekdays] == [{1, 3}, {0}]
    assert cron.either_day
    assert oracle_parse("@EVERY 1h30m") == Every(5400)
    for text in [
        "5-1 * * * *",
        "* * * * FRI-SUN",
        "*/0 * * * *",
        "@daily 5",
        "1-2-3 * * * *",
    ]:
        with pytest.raises(Rejected):
            oracle_parse(text)
    never = oracle_parse("0 0 30 2 *")
    assert isinstance(never, Cron)
    assert not can_fire(never)
    # Berlin, 2026-03-29 02:00 -> 03:00 at 01:00 UTC; 2026-10-25 03:00 -> 02:00 at 01:00 UTC.
    fixed = oracle_parse("30 2 * * *")
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert oracle_next(fixed, berlin, after) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert oracle_next(fixed, berlin, after) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    after = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert oracle_next(fixed, berlin, after) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )
    hourly = oracle_parse("30 * * * *")
    assert oracle_next(hourly, berlin, after) == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )
    assert oracle_last(fixed, berlin, datetime(2026, 3, 29, 1, tzinfo=UTC) - US) == (
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC)
    )
