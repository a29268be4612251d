"""Schedule specs: parsing, validation and fire times in a time zone.

Pure: reads no setting, touches no database, never reads the clock. croniter only
walks naive wall times; parsing, the Vixie day rule and the daylight-saving rules
of Vixie cron / cronie are done here, as croniter 7 gets them wrong for us.

The package's modules, imported one way only (``parse`` -> ``fire``):

- ``fire``: :class:`Spec`, the thing that fires, with its next-fire-time methods
  and the daylight-saving rules. It imports nothing of the package.
- ``parse``: :func:`parse_spec` and :func:`validate_spec`, which build Specs from
  text (so ``parse`` imports ``fire``, never the reverse).
- ``_units``: :func:`parse_duration` and the limits ``parse`` needs too, apart
  so that neither module imports this ``__init__``.
- this ``__init__``: the spec constants and helpers (``every``, ``daily_at`` ...),
  :func:`get_timezone`, :func:`fire_times` (it parses, then fires, so it sits
  above both), and the public names of the others, re-exported.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from itertools import islice
from typing import TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django_togo_scheduler.exceptions import (
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
)

# Re-exported (``X as X``): the public names of the modules below.
from ._units import MAX_SPEC_LENGTH as MAX_SPEC_LENGTH
from ._units import SPEC_CACHE_SIZE as SPEC_CACHE_SIZE
from ._units import parse_duration as parse_duration
from .fire import Spec as Spec
from .parse import parse_spec as parse_spec
from .parse import validate_spec as validate_spec

EVERY_MINUTE = "* * * * *"
EVERY_FIVE_MINUTES = "*/5 * * * *"
EVERY_TEN_MINUTES = "*/10 * * * *"
EVERY_FIFTEEN_MIN = "*/15 * * * *"
EVERY_THIRTY_MIN = "*/30 * * * *"
HOURLY = "0 * * * *"
DAILY = "0 0 * * *"
WEEKLY = "0 0 * * 0"
MONTHLY = "0 0 1 * *"


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


def fire_times(spec: str, after: datetime, tz: tzinfo, count: int) -> list[datetime]:
    """Return the next ``count`` fire instants of ``spec`` strictly after ``after``, in UTC.

    Fewer when the calendar ends first (the year 9999).
    """
    if not _is_int(count) or count < 0:
        raise ValueError(f"count must be an int >= 0, got {count!r}")
    return list(islice(parse_spec(spec).iter_after(after, tz), count))
