"""Parsing and validation: spec text in, a :class:`~.fire.Spec` out, or InvalidSpec.

Parsing and the Vixie day rule are done here; croniter is only handed explicit
value lists to walk the calendar with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django_togo_scheduler.exceptions import InvalidDuration, InvalidSpec

from ._units import MAX_SPEC_LENGTH, SPEC_CACHE_SIZE, parse_duration
from .fire import _EPOCH, Spec

_LATEST = datetime.max.replace(tzinfo=UTC)
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
