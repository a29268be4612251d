"""What the specs tests share: the zones they fire in, and short ways to write instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django_togo_scheduler.specs import fire_times

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
APIA = ZoneInfo("Pacific/Apia")
US = timedelta(microseconds=1)


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    micro: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def fires(spec: str, after: datetime, tz: tzinfo, count: int) -> list[datetime]:
    result = fire_times(spec, after, tz, count)
    assert all(instant.tzinfo is UTC for instant in result)
    return result
