"""Tests of the helpers of django_togo_scheduler.specs: constants, spec builders,
parse_duration and get_timezone (pure: no database, no settings).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from django_togo_scheduler import specs
from django_togo_scheduler.exceptions import (
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
)
from django_togo_scheduler.specs import parse_spec
from tests.specs.helpers import BERLIN

# --- constants and helpers -------------------------------------------------------


def test_constants__values() -> None:
    assert specs.EVERY_MINUTE == "* * * * *"
    assert specs.EVERY_FIVE_MINUTES == "*/5 * * * *"
    assert specs.EVERY_TEN_MINUTES == "*/10 * * * *"
    assert specs.EVERY_FIFTEEN_MIN == "*/15 * * * *"
    assert specs.EVERY_THIRTY_MIN == "*/30 * * * *"
    assert specs.HOURLY == "0 * * * *"
    assert specs.DAILY == "0 0 * * *"
    assert specs.WEEKLY == "0 0 * * 0"
    assert specs.MONTHLY == "0 0 1 * *"


def test_constants__all_valid() -> None:
    for name in (
        "EVERY_MINUTE",
        "EVERY_FIVE_MINUTES",
        "EVERY_TEN_MINUTES",
        "EVERY_FIFTEEN_MIN",
        "EVERY_THIRTY_MIN",
        "HOURLY",
        "DAILY",
        "WEEKLY",
        "MONTHLY",
    ):
        value = getattr(specs, name)
        assert specs.validate_spec(value) == value


def test_every__returns_spec() -> None:
    assert specs.every("30s") == "@every 30s"
    assert specs.every(" 1H30M ") == "@every 1h30m"
    assert parse_spec(specs.every("5m")).interval == timedelta(minutes=5)


@pytest.mark.parametrize("duration", ["", "0s", "500ms", "5x", 30])
def test_every__invalid(duration: object) -> None:
    with pytest.raises(InvalidSpec, match=r"every\(\)"):
        specs.every(duration)  # type: ignore[arg-type]


def test_daily_at__returns_spec() -> None:
    assert specs.daily_at(7, 30) == "30 7 * * *"
    assert specs.daily_at(0) == "0 0 * * *"
    assert specs.daily_at(23, 59) == "59 23 * * *"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((24,), "hour must be an int in 0-23, got 24"),
        ((-1,), "hour must be an int in 0-23, got -1"),
        ((7, 60), "minute must be an int in 0-59, got 60"),
        ((True,), "hour must be an int in 0-23, got True"),
        ((7.0,), "hour must be an int in 0-23, got 7.0"),
        (("7",), "hour must be an int in 0-23, got '7'"),
        ((7, False), "minute must be an int in 0-59, got False"),
    ],
)
def test_daily_at__invalid(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=r"daily_at\(\): " + message):
        specs.daily_at(*args)  # type: ignore[arg-type]


def test_hourly_at__returns_spec() -> None:
    assert specs.hourly_at(15) == "15 * * * *"
    assert specs.hourly_at(0) == "0 * * * *"


@pytest.mark.parametrize("minute", [60, -1, True, None, 1.5])
def test_hourly_at__invalid(minute: object) -> None:
    with pytest.raises(
        InvalidSpec, match=r"hourly_at\(\): minute must be an int in 0-59"
    ):
        specs.hourly_at(minute)  # type: ignore[arg-type]


def test_weekly_on__returns_spec() -> None:
    assert specs.weekly_on(1, 9, 0) == "0 9 * * 1"
    assert specs.weekly_on(0) == "0 0 * * 0"
    assert specs.weekly_on(6, 23, 59) == "59 23 * * 6"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((7,), r"weekday must be an int in 0-6 \(0 = Sunday\), got 7"),
        ((-1,), r"weekday must be an int in 0-6 \(0 = Sunday\), got -1"),
        ((True,), r"weekday must be an int in 0-6 \(0 = Sunday\), got True"),
        ((1, 24), "hour must be an int in 0-23, got 24"),
        ((1, 9, 60), "minute must be an int in 0-59, got 60"),
    ],
)
def test_weekly_on__invalid(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidSpec, match=r"weekly_on\(\): " + message):
        specs.weekly_on(*args)  # type: ignore[arg-type]


def test_helpers__results_parse() -> None:
    for spec in (
        specs.every("1h"),
        specs.daily_at(7, 30),
        specs.hourly_at(15),
        specs.weekly_on(1, 9),
    ):
        assert specs.validate_spec(spec) == spec


# --- parse_duration and get_timezone -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d2h", timedelta(days=1, hours=2)),
        ("90s", timedelta(seconds=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("  1H30M\t", timedelta(hours=1, minutes=30)),
        ("05m", timedelta(minutes=5)),
    ],
)
def test_parse_duration__valid(text: str, expected: timedelta) -> None:
    assert specs.parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "500ms",
        "0s",
        "0m",
        "1h0m",
        "s",
        "5",
        "1m1h",
        "1h1h",
        "1.5h",
        "-5m",
        "+5m",
        "1h 30m",
        "1w",
        "\u0663s",
        "1" * 13 + "s",
        "5 m",
        "m5",
    ],
)
def test_parse_duration__invalid(text: str) -> None:
    with pytest.raises(InvalidDuration) as excinfo:
        specs.parse_duration(text)
    assert repr(text) in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_parse_duration__too_long() -> None:
    with pytest.raises(InvalidDuration, match="too long"):
        specs.parse_duration("999999999999d")


def test_parse_duration__not_a_string() -> None:
    with pytest.raises(InvalidDuration, match="must be a string, not int"):
        specs.parse_duration(30)  # type: ignore[arg-type]


def test_get_timezone__valid() -> None:
    assert specs.get_timezone("Europe/Berlin") == BERLIN
    assert specs.get_timezone("UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "Mars/Olympus",
        "utc",
        "../etc",
        "../../etc/passwd",
        "/etc/passwd",
        "America",
        "Europe//Berlin",
        "Europe/Berlin/",
        "zone.tab",
        "Europe/Berlin\x00",
        "a" * 300,
        "\udc80",
    ],
)
def test_get_timezone__invalid(name: str) -> None:
    with pytest.raises(InvalidTimezone) as excinfo:
        specs.get_timezone(name)
    assert repr(name) in str(excinfo.value)


def test_get_timezone__not_a_string() -> None:
    with pytest.raises(InvalidTimezone, match="None"):
        specs.get_timezone(None)  # type: ignore[arg-type]
