"""Schedule specs: parsing, validation and fire times in a time zone.

Pure: reads no setting, touches no database, never reads the clock. croniter only
walks naive wall times; parsing, the Vixie day rule and the daylight-saving rules
of Vixie cron / cronie are done here, as croniter 7 gets them wrong for us.
"""

from __future__ import annotations

import copy
import functools
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django_togo_scheduler.exceptions import (
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
)

EVERY_MINUTE = "* * * * *"
EVERY_FIVE_MINUTES = "*/5 * * * *"
EVERY_TEN_MINUTES = "*/10 * * * *"
EVERY_FIFTEEN_MIN = "*/15 * * * *"
EVERY_THIRTY_MIN = "*/30 * * * *"
HOURLY = "0 * * * *"
DAILY = "0 0 * * *"
WEEKLY = "0 0 * * 0"
MONTHLY = "0 0 1 * *"

MAX_SPEC_LENGTH = 200  # characters, as ScheduledJob.spec stores
SPEC_CACHE_SIZE = 8192  # parsed specs kept by parse_spec; many schedules share one

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
# A valid cron spec fires at least every 40 years (Feb 29 on a Sunday: 2088, then
# 2128), so a walk that fails later than this has run off the end of the calendar.
_LAST_SURE_YEAR = datetime.max.year - 40
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_MONTH_NAMES = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC"
_DAY_NAMES = "SUN MON TUE WED THU FRI SAT"
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb 29 does occur

# A list item: "*", "N" or "N-M", each optionally "/step". ASCII digits only (int()
# takes other scripts too) and few of them, so int() never sees a huge string.
_ITEM = re.compile(
    r"(?:(?P<star>\*)|(?P<low>[0-9]{1,9}|[A-Za-z]{3})(?:-(?P<high>[0-9]{1,9}|[A-Za-z]{3}))?)"
    r"(?:/(?P<step>[0-9]{1,9}))?",
    re.ASCII,
)
# Items in the syntax of other crons get a hint instead of "invalid item".
_FOREIGN = re.compile(r"[0-9HLW#?()/*,-]+", re.I)
_FOREIGN_MARKERS = {
    "H": "hashed values ('H') are not supported",
    "L": "'L' (last day) is not supported",
    "W": "'W' (nearest weekday) is not supported",
    "#": "'#' (nth weekday of the month) is not supported",
    "?": "'?' is not supported, use '*'",
}
_DURATION = re.compile("".join(f"(?:([0-9]{{1,12}}){unit})?" for unit in "dhms"))
_DURATION_UNITS = (86400, 3600, 60, 1)  # seconds in a d, h, m, s


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int  # highest value accepted (7 = Sunday again for day-of-week)
    cycle_high: int  # where "*" and "N/step" end: "5/1" in day-of-week is Fri, Sat
    names: Mapping[str, int]


_FIELDS = (
    _Field("minute", 0, 59, 59, {}),
    _Field("hour", 0, 23, 23, {}),
    _Field("day-of-month", 1, 31, 31, {}),
    _Field("month", 1, 12, 12, {n: i for i, n in enumerate(_MONTH_NAMES.split(), 1)}),
    _Field("day-of-week", 0, 7, 6, {n: i for i, n in enumerate(_DAY_NAMES.split())}),
)
_EVERY_VALUE = [frozenset(range(fld.low, fld.cycle_high + 1)) for fld in _FIELDS]


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``30s``, ``5m``, ``1h30m`` or ``1d2h`` (whole seconds)."""
    if not isinstance(text, str):
        raise InvalidDuration(f"a duration must be a string, not {type(text).__name__}")
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        raise InvalidDuration(
            f"{text!r} is not a duration such as 30s, 5m, 1h30m, 1d2h"
        )
    units = zip(_DURATION_UNITS, match.groups(), strict=True)
    given = [(unit, int(amount)) for unit, amount in units if amount]
    if any(amount == 0 for _, amount in given):
        raise InvalidDuration(f"{text!r}: each amount must be a positive integer")
    seconds = sum(unit * amount for unit, amount in given)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidDuration(f"{text!r} is too long a duration") from None


def get_timezone(name: str) -> ZoneInfo:
    """Return the zoneinfo zone called ``name`` or raise InvalidTimezone."""
    if not isinstance(name, str):
        raise InvalidTimezone(f"{name!r} is not a time zone name")
    try:
        return ZoneInfo(name)
    # ValueError: paths ("../etc", "/etc/x", "") and files that are not zones;
    # OSError: directories ("America") and over-long names.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimezone(f"unknown time zone {name!r}") from None


def every(duration: str) -> str:
    """Return the spec firing every ``duration``: ``every("30s") == "@every 30s"``."""
    try:
        parse_duration(duration)
    except InvalidDuration as exc:
        raise InvalidSpec(f"every(): {exc}") from None
    return f"@every {duration.strip().lower()}"


def daily_at(hour: int, minute: int = 0) -> str:
    """Return the spec firing daily at ``hour:minute``: ``daily_at(7, 30) == "30 7 * * *"``."""
    _check_int("daily_at", "hour", hour, 23)
    _check_int("daily_at", "minute", minute, 59)
    return f"{minute} {hour} * * *"


def hourly_at(minute: int) -> str:
    """Return the spec firing hourly at ``minute``: ``hourly_at(15) == "15 * * * *"``."""
    _check_int("hourly_at", "minute", minute, 59)
    return f"{minute} * * * *"


def weekly_on(weekday: int, hour: int = 0, minute: int = 0) -> str:
    """Return the spec firing on ``weekday`` (0 = Sunday ... 6) at ``hour:minute``."""
    _check_int("weekly_on", "weekday", weekday, 6, " (0 = Sunday)")
    _check_int("weekly_on", "hour", hour, 23)
    _check_int("weekly_on", "minute", minute, 59)
    return f"{minute} {hour} * * {weekday}"


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, but daily_at(True) is a bug, not 1 o'clock.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(func: str, name: str, value: object, high: int, note: str = "") -> None:
    if not _is_int(value) or not 0 <= value <= high:
        message = f"{name} must be an int in 0-{high}{note}, got {value!r}"
        raise InvalidSpec(f"{func}(): {message}")


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed, valid spec; get one from :func:`parse_spec`.

    ``is_wildcard`` marks cron specs whose minute or hour field starts with ``*``:
    they fire by real time across daylight-saving changes, the others by wall clock.
    """

    text: str
    is_every: bool = False
    is_wildcard: bool = False
    interval: timedelta | None = None
    # A croniter over naive wall times that is never advanced itself: each search
    # walks a shallow copy, so a cached Spec is safe to share between threads.
    _cron: Any = field(default=None, compare=False, repr=False)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime:
        """Return the first fire instant strictly after ``after`` (aware), in UTC."""
        start = _to_utc(after, "after")
        if self.interval is not None:
            return _every_floor(start, self.interval) + self.interval
        return self._search(start, tz, forward=True)

    def last_at_or_before(self, moment: datetime, tz: tzinfo) -> datetime:
        """Return the latest fire instant at or before ``moment`` (aware), in UTC."""
        end = _to_utc(moment, "moment")
        if self.interval is not None:
            return _every_floor(end, self.interval)
        return self._search(end + _MICROSECOND, tz, forward=False)

    def iter_after(self, after: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Yield the successive fire instants strictly after ``after``, in UTC.

        The iteration ends with the calendar (the year 9999) instead of failing.
        """
        current = _to_utc(after, "after")
        while True:
            try:
                current = self.next_after(current, tz)
            except (OverflowError, ValueError):
                if self.interval is None and current.year < _LAST_SURE_YEAR:
                    raise
                return  # no fire instant left before datetime.max
            yield current

    def _search(self, moment: datetime, tz: tzinfo, *, forward: bool) -> datetime:
        """Return the nearest fire instant strictly after (or before) ``moment``."""
        local = moment.astimezone(tz)
        wall = local.replace(tzinfo=None, fold=0)
        # In a repeated hour wall order is not time order. From its first pass the
        # second pass of earlier wall times is still to come (wildcard specs fire
        # then); from its second pass, later wall times fired in the first pass.
        if not forward:
            wall += max(_offsets(wall, tz)) - _offset(local)
        elif self.is_wildcard:
            wall += min(_offsets(wall, tz)) - _offset(local)
        ahead, order = (operator.gt, 1) if forward else (operator.lt, -1)
        best: datetime | None = None  # the other pass of a repeated time, if ahead
        # The nearest instant of each wall time never moves back along the walk,
        # so the first one ahead ends it, unless the other pass of an earlier wall
        # time comes sooner still.
        for candidate in self._walk(wall, forward=forward):
            instants = _fire_instants(candidate, tz, self.is_wildcard)[::order]
            if not instants:
                continue
            if best is not None and not ahead(best, instants[0]):
                return best
            if ahead(instants[0], moment):
                return instants[0]
            if best is None and len(instants) == 2 and ahead(instants[1], moment):
                best = instants[1]
        raise AssertionError("unreachable: the walk never ends")  # pragma: no cover

    def _walk(self, wall: datetime, *, forward: bool) -> Iterator[datetime]:
        """Yield matching wall times after (or at and before) ``wall``, in walk order."""
        cron = copy.copy(self._cron)
        # Whole minutes only: croniter goes through float timestamps, which could
        # round 10:04:59.999999 up to 10:05 and so skip the 10:05 slot.
        minute = wall.replace(second=0, microsecond=0)
        step = cron.get_next if forward else cron.get_prev
        candidate: datetime = step(datetime, minute if forward else minute + _MINUTE)
        while True:
            yield candidate
            candidate = step(datetime)


def validate_spec(spec: str) -> str:
    """Return ``spec`` normalised (stripped, single spaces) or raise InvalidSpec."""
    return parse_spec(spec).text


def parse_spec(spec: str) -> Spec:
    """Parse ``spec`` into a :class:`Spec` (cached) or raise InvalidSpec naming it."""
    if not isinstance(spec, str):  # before the cache, which would choke on a list
        raise InvalidSpec(f"a spec must be a string, not {type(spec).__name__}")
    if len(spec.strip()) > MAX_SPEC_LENGTH:
        # ScheduledJob.spec holds this many characters; also keeps messages short.
        raise InvalidSpec(
            f"{spec.strip()[:40]!r}...: a spec is at most {MAX_SPEC_LENGTH} characters long"
        )
    return _parse_cached(spec)


def fire_times(spec: str, after: datetime, tz: tzinfo, count: int) -> list[datetime]:
    """Return the next ``count`` fire instants of ``spec`` strictly after ``after``, in UTC.

    Fewer when the calendar ends first (the year 9999).
    """
    if not _is_int(count) or count < 0:
        raise ValueError(f"count must be an int >= 0, got {count!r}")
    return list(islice(parse_spec(spec).iter_after(after, tz), count))


@functools.lru_cache(maxsize=SPEC_CACHE_SIZE)
def _parse_cached(spec: str) -> Spec:
    text = " ".join(spec.split())
    if not text:
        raise InvalidSpec(f"{spec!r}: the spec is empty")
    try:
        if text.startswith("@"):
            return _parse_macro(text)
        return _parse_cron(text, text.split(" "))
    except InvalidSpec as exc:
        raise InvalidSpec(f"{text!r}: {exc}") from None


def _parse_macro(text: str) -> Spec:
    keyword, _, argument = text.partition(" ")
    keyword = keyword.lower()
    if keyword == "@every":
        if not argument:
            raise InvalidSpec("@every needs a duration such as 30s, 5m or 1h30m")
        try:
            interval = parse_duration(argument)
        except InvalidDuration as exc:
            raise InvalidSpec(str(exc)) from None
        if interval > _LATEST - _EPOCH:  # its first slot after 1970 is past 9999
            raise InvalidSpec(
                f"the spec can never fire: {argument} is longer than the calendar "
                "runs after 1970 (to the year 9999)"
            )
        return Spec(text, is_every=True, interval=interval)
    if keyword == "@reboot":
        raise InvalidSpec("@reboot is not supported")
    if keyword not in _MACROS:
        raise InvalidSpec(
            f"unknown macro {keyword!r}; use one of {', '.join(_MACROS)} or @every"
        )
    if argument:
        raise InvalidSpec(f"{keyword} takes no argument")
    return _parse_cron(text, _MACROS[keyword].split(" "))


def _parse_cron(text: str, tokens: list[str]) -> Spec:
    if len(tokens) != 5:
        seconds = ": a seconds field is not supported" if len(tokens) == 6 else ""
        raise InvalidSpec(
            f"expected 5 fields ({_FIELD_NAMES}), got {len(tokens)}{seconds}"
        )
    sets = [
        _parse_field(fld, token) for fld, token in zip(_FIELDS, tokens, strict=True)
    ]
    # Vixie cron: a day field starting with "*" (even "*/2") makes the day rule
    # an AND; only two restricted day fields are ORed.
    day_or = not tokens[2].startswith("*") and not tokens[4].startswith("*")
    _check_can_fire(sets[2], sets[3], day_or)
    expression = _croniter_expression(sets, day_or)
    # Imported here: a start with nothing to parse does not pay for croniter
    # (and dateutil) at all; parse_spec's cache keeps this path rare.
    from croniter import croniter

    cron = croniter(expression, datetime(1970, 1, 1), day_or=day_or)
    wildcard = tokens[0].startswith("*") or tokens[1].startswith("*")
    return Spec(text, is_wildcard=wildcard, _cron=cron)


def _parse_field(fld: _Field, token: str) -> frozenset[int]:
    values: set[int] = set()
    for item in token.split(","):
        values |= _parse_item(fld, item)
    return frozenset(values)


def _parse_item(fld: _Field, item: str) -> set[int]:
    match = _ITEM.fullmatch(item)
    if match is None:
        raise InvalidSpec(_item_problem(fld, item))
    step = int(match["step"] or 1)
    if step == 0:
        raise InvalidSpec(f"{fld.name} item {item!r}: the step must be at least 1")
    low, high = fld.low, fld.cycle_high  # "*"
    if not match["star"]:
        low = high = _parse_value(fld, match["low"])
        if match["high"]:
            high = _parse_value(fld, match["high"])
        elif match["step"]:  # "N/step" runs to the end of the cycle
            high = max(low, fld.cycle_high)
        if low > high:
            hint = (
                "; end a range on Sunday with 7" if fld.high == 7 and high == 0 else ""
            )
            raise InvalidSpec(
                f"{fld.name} range {item!r} is reversed ({low} > {high}){hint}"
            )
    # Sunday is both 0 and 7; "% 7" folds 7 onto 0 in the day-of-week field only.
    return {
        value % 7 if fld.high == 7 else value for value in range(low, high + 1, step)
    }


def _item_problem(fld: _Field, item: str) -> str:
    if not item:
        return f"empty item in the {fld.name} field"
    for marker, problem in _FOREIGN_MARKERS.items():
        if marker in item.upper() and _FOREIGN.fullmatch(item):
            return f"{problem} ({fld.name} item {item!r})"
    return f"invalid {fld.name} item {item!r}"


def _parse_value(fld: _Field, token: str) -> int:
    if token.isdigit():
        if fld.low <= int(token) <= fld.high:
            return int(token)
        raise InvalidSpec(f"{fld.name} value {token} out of range {fld.low}-{fld.high}")
    value = fld.names.get(token.upper())
    if value is None:
        kind = (
            f"unknown {fld.name} name"
            if fld.names
            else f"no names in the {fld.name} field:"
        )
        raise InvalidSpec(f"{kind} {token!r}")
    return value


def _check_can_fire(days: frozenset[int], months: frozenset[int], day_or: bool) -> None:
    # With day_or the day-of-week side alone fires; otherwise some listed day must
    # exist in some listed month. Every date that exists, Feb 29 included, falls
    # on each weekday within 40 years, so day-of-week never makes it impossible.
    if day_or or any(min(days) <= _MONTH_DAYS[month - 1] for month in months):
        return
    raise InvalidSpec(
        f"the spec can never fire: day-of-month {','.join(map(str, sorted(days)))} "
        f"does not occur in month {','.join(map(str, sorted(months)))}"
    )


def _croniter_expression(sets: list[frozenset[int]], day_or: bool) -> str:
    # Explicit value lists, so croniter's readings of "5-5", "N/step" and "*/2" in
    # the day fields never come into play; croniter only walks the calendar.
    full = [values == span for values, span in zip(sets, _EVERY_VALUE, strict=True)]
    if day_or and (full[2] or full[4]):
        full[2] = full[4] = True  # "1-31" OR Monday is every day
    return " ".join(
        "*" if is_full else ",".join(map(str, sorted(values)))
        for is_full, values in zip(full, sets, strict=True)
    )


def _to_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def _every_floor(moment: datetime, interval: timedelta) -> datetime:
    # timedelta // timedelta is exact integer arithmetic on microseconds.
    return _EPOCH + (moment - _EPOCH) // interval * interval


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:  # a tzinfo whose fromutc() works but utcoffset() does not
        raise ValueError(f"time zone {moment.tzinfo!r} gives no UTC offset")
    return offset


def _offsets(wall: datetime, tz: tzinfo) -> tuple[timedelta, timedelta]:
    first = wall.replace(tzinfo=tz, fold=0)  # wall may carry fold=1 from astimezone()
    return _offset(first), _offset(first.replace(fold=1))


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _fire_instants(wall: datetime, tz: tzinfo, wildcard: bool) -> tuple[datetime, ...]:
    """Return the UTC instants, in order, at which a matching wall time fires.

    An instant is real if it shows ``wall`` again on the way back (a round trip
    through UTC); that tells skipped and repeated wall times apart for any tzinfo.
    """
    offsets = _offsets(wall, tz)
    real = sorted(
        instant
        for instant in {(wall - offset).replace(tzinfo=UTC) for offset in offsets}
        if _wall(instant, tz) == wall
    )
    if not real:  # skipped: fixed-time specs fire when the clock jumps past it
        return () if wildcard else (_gap_end(wall, tz, *offsets),)
    return tuple(real) if wildcard else (real[0],)


def _gap_end(wall: datetime, tz: tzinfo, *offsets: timedelta) -> datetime:
    """Return the instant the clock jumped over the skipped ``wall``."""
    low = (wall - max(offsets)).replace(tzinfo=UTC)  # shows an earlier time
    high = (wall - min(offsets)).replace(tzinfo=UTC)  # shows a later time
    if low == high:  # a tzinfo that ignores fold: bracket by a day instead
        low, high = low - _DAY, high + _DAY
    # Bisect to the microsecond: shifts need not be whole hours (Lord Howe's is
    # 30 minutes) and old transitions need not fall on whole minutes.
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if _wall(middle, tz) > wall:
            high = middle
        else:
            low = middle
    return high
