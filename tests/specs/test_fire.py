"""Tests of django_togo_scheduler.specs (pure: no database, no settings).

Expected fire instants are written by hand from the rules in API.md, not copied
from the code's output; comments give the local wall time each one stands for.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from django_togo_scheduler import specs
from django_togo_scheduler.exceptions import (
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
)
from django_togo_scheduler.specs import Spec, fire, fire_times, parse_spec

UTC = UTC
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


# --- validation ----------------------------------------------------------------------


def test_validate_spec__normalises_whitespace() -> None:
    assert specs.validate_spec("  */5   *\t* *  * \n") == "*/5 * * * *"
    assert specs.validate_spec(" @every   30s ") == "@every 30s"
    assert specs.validate_spec("@daily") == "@daily"


@pytest.mark.parametrize(
    "spec",
    [
        "0 0 29 2 *",
        "0 0 30 2 1",
        "0 0 31 4,6 1-5",
        "59/15 * * * *",
        "0 0 * jan-MAR Mon-fri",
        "0 0 * * 7",
        "0 0 * * 5-7",
        "0-59/1 0-23 1-31 1-12 0-7",
        "*/90 * * * *",
        "1,2,3-5,10-20/3 * * * *",
        "0 0 * * SUN,sat",
        "0 0 1 DEC/3 *",
        "@every 90s",
        "@EVERY 1D",
        "@Daily",
        "@HOURLY",
    ],
)
def test_validate_spec__accepts(spec: str) -> None:
    assert specs.validate_spec(spec) == spec


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("61 * * * *", "minute value 61 out of range 0-59"),
        ("* 24 * * *", "hour value 24 out of range 0-23"),
        ("* * 0 * *", "day-of-month value 0 out of range 1-31"),
        ("* * 32 * *", "day-of-month value 32 out of range 1-31"),
        ("* * * 0 *", "month value 0 out of range 1-12"),
        ("* * * 13 *", "month value 13 out of range 1-12"),
        ("* * * * 8", "day-of-week value 8 out of range 0-7"),
        ("0-60/5 * * * *", "minute value 60 out of range 0-59"),
        (
            "0 0 0 * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6: a seconds field is not supported",
        ),
        (
            "* * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4",
        ),
        ("* * * * * * *", "expected 5 fields"),
        ("*", "expected 5 fields"),
        ("H * * * *", "hashed values ('H') are not supported"),
        ("H(0-29)/10 * * * *", "hashed values ('H') are not supported"),
        ("0 h * * *", "hashed values ('H') are not supported"),
        ("@reboot", "@reboot is not supported"),
        ("@REBOOT", "@reboot is not supported"),
        ("@fortnightly", "unknown macro '@fortnightly'"),
        ("@", "unknown macro '@'"),
        ("@every30s", "unknown macro '@every30s'"),
        ("@daily 5", "@daily takes no argument"),
        ("@every", "@every needs a duration"),
        ("@every 0s", "'0s': each amount must be a positive integer"),
        ("@every 500ms", "'500ms' is not a duration"),
        ("@every 1h 30m", "'1h 30m' is not a duration"),
        ("0 0 L * *", "'L' (last day) is not supported"),
        ("0 0 LW * *", "'L' (last day) is not supported"),
        ("0 0 * * 5L", "'L' (last day) is not supported"),
        ("0 0 15W * *", "'W' (nearest weekday) is not supported"),
        (
            "0 0 * * 1#2",
            "'#' (nth weekday of the month) is not supported (day-of-week item '1#2')",
        ),
        ("0 0 * * MON#2", "invalid day-of-week item 'MON#2'"),
        ("0 0 * * JULY", "invalid day-of-week item 'JULY'"),
        ("0 0 ? * *", "'?' is not supported, use '*' (day-of-month item '?')"),
        ("5-1 * * * *", "minute range '5-1' is reversed (5 > 1)"),
        (
            "* * * * FRI-SUN",
            "day-of-week range 'FRI-SUN' is reversed (5 > 0); end a range on Sunday with 7",
        ),
        ("* * * DEC-JAN *", "month range 'DEC-JAN' is reversed (12 > 1)"),
        ("*/0 * * * *", "minute item '*/0': the step must be at least 1"),
        ("1-5/0 * * * *", "the step must be at least 1"),
        ("1,,2 * * * *", "empty item in the minute field"),
        ("1, * * * *", "empty item in the minute field"),
        ("* * * , *", "empty item in the month field"),
        ("JAN * * * *", "no names in the minute field: 'JAN'"),
        ("* * * FOO *", "unknown month name 'FOO'"),
        ("* * * * MON-FOO", "unknown day-of-week name 'FOO'"),
        ("* * * * JAN", "unknown day-of-week name 'JAN'"),
        ("* * * * MONDAY", "invalid day-of-week item 'MONDAY'"),
        ("1-2-3 * * * *", "invalid minute item '1-2-3'"),
        ("1/2/3 * * * *", "invalid minute item '1/2/3'"),
        ("*/ * * * *", "invalid minute item '*/'"),
        ("\u0663 * * * *", "invalid minute item"),
        ("0000000061 * * * *", "invalid minute item '0000000061'"),
        ("0 0 30 2 *", "can never fire: day-of-month 30 does not occur in month 2"),
        ("0 0 31 4,6 *", "can never fire: day-of-month 31 does not occur in month 4,6"),
        (
            "0 0 30,31 2 */2",
            "can never fire: day-of-month 30,31 does not occur in month 2",
        ),
    ],
)
def test_parse_spec__rejects(spec: str, problem: str) -> None:
    with pytest.raises(InvalidSpec) as excinfo:
        parse_spec(spec)
    message = str(excinfo.value)
    assert message.startswith(repr(spec) + ": ")
    assert problem in message


@pytest.mark.parametrize("spec", ["", "   ", "\n\t"])
def test_parse_spec__rejects_empty(spec: str) -> None:
    with pytest.raises(InvalidSpec, match="the spec is empty") as excinfo:
        parse_spec(spec)
    assert repr(spec) in str(excinfo.value)


@pytest.mark.parametrize("spec", [None, 5, b"* * * * *", ["* * * * *"], {"a": 1}])
def test_parse_spec__rejects_non_string(spec: object) -> None:
    with pytest.raises(InvalidSpec, match="a spec must be a string, not"):
        parse_spec(spec)  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec):
        specs.validate_spec(spec)  # type: ignore[arg-type]


def test_parse_spec__cached_and_immutable() -> None:
    spec = parse_spec("*/7 * * * *")
    assert parse_spec("*/7 * * * *") is spec
    assert parse_spec(" */7  * * * * ") == spec
    assert hash(parse_spec(" */7  * * * * ")) == hash(spec)
    with pytest.raises(AttributeError):
        spec.text = "x"  # type: ignore[misc]


def test_parse_spec__attributes() -> None:
    cron = parse_spec("*/5 * * * *")
    assert (cron.text, cron.is_every, cron.is_wildcard, cron.interval) == (
        "*/5 * * * *",
        False,
        True,
        None,
    )
    assert parse_spec("30 * * * *").is_wildcard
    assert parse_spec("0 */2 * * *").is_wildcard
    assert not parse_spec("30 2 * * *").is_wildcard
    assert not parse_spec("0-59 0-23 * * *").is_wildcard
    every = parse_spec("@every 1h30m")
    assert (every.is_every, every.is_wildcard, every.interval) == (
        True,
        False,
        timedelta(minutes=90),
    )


@pytest.mark.parametrize(
    ("macro", "wildcard", "expected"),
    [
        # From Wednesday 2026-05-13 10:20 UTC.
        ("@hourly", True, utc(2026, 5, 13, 11)),
        ("@daily", False, utc(2026, 5, 14)),
        ("@midnight", False, utc(2026, 5, 14)),
        ("@weekly", False, utc(2026, 5, 17)),  # Sunday
        ("@monthly", False, utc(2026, 6, 1)),
        ("@yearly", False, utc(2027, 1, 1)),
        ("@annually", False, utc(2027, 1, 1)),
        ("@Daily", False, utc(2026, 5, 14)),
    ],
)
def test_parse_spec__macros(macro: str, wildcard: bool, expected: datetime) -> None:
    spec = parse_spec(macro)
    assert spec.text == macro
    assert spec.is_wildcard is wildcard
    assert spec.next_after(utc(2026, 5, 13, 10, 20), UTC) == expected


# --- field semantics (evaluated in UTC) -----------------------------------------------


def test_parse_spec__equal_range_is_one_value() -> None:
    # croniter 7 reads "5-5" as the whole field; we read it as minute 5.
    assert fires("5-5 * * * *", utc(2026, 5, 13, 10), UTC, 2) == [
        utc(2026, 5, 13, 10, 5),
        utc(2026, 5, 13, 11, 5),
    ]
    assert fires("5-5/2 * * * *", utc(2026, 5, 13, 10), UTC, 2) == [
        utc(2026, 5, 13, 10, 5),
        utc(2026, 5, 13, 11, 5),
    ]
    # 2026-06-01 is a Monday.
    assert fires("0 0 * * MON-MON", utc(2026, 6, 1), UTC, 2) == [
        utc(2026, 6, 8),
        utc(2026, 6, 15),
    ]


def test_parse_spec__start_with_step() -> None:
    assert fires("59/15 * * * *", utc(2026, 5, 13, 10), UTC, 2) == [
        utc(2026, 5, 13, 10, 59),
        utc(2026, 5, 13, 11, 59),
    ]
    assert fires("40/10 * * * *", utc(2026, 5, 13, 10), UTC, 3) == [
        utc(2026, 5, 13, 10, 40),
        utc(2026, 5, 13, 10, 50),
        utc(2026, 5, 13, 11, 40),
    ]
    # "N/step" in day-of-week runs to Saturday: 6/1 is Saturday, 5/1 Friday and Saturday.
    assert fires("0 0 * * 6/1", utc(2026, 6, 1), UTC, 2) == [
        utc(2026, 6, 6),
        utc(2026, 6, 13),
    ]
    assert fires("0 0 * * 5/1", utc(2026, 6, 1), UTC, 3) == [
        utc(2026, 6, 5),
        utc(2026, 6, 6),
        utc(2026, 6, 12),
    ]


def test_parse_spec__sunday_is_0_and_7() -> None:
    # 2026-06-07 and 2026-06-14 are Sundays; 6-05 is a Friday.
    assert fires("0 0 * * 7", utc(2026, 6, 1), UTC, 2) == [
        utc(2026, 6, 7),
        utc(2026, 6, 14),
    ]
    assert fires("0 0 * * 5-7", utc(2026, 6, 1), UTC, 4) == [
        utc(2026, 6, 5),
        utc(2026, 6, 6),
        utc(2026, 6, 7),
        utc(2026, 6, 12),
    ]
    assert fires("0 0 * * 1-7/3", utc(2026, 6, 1), UTC, 3) == [
        utc(2026, 6, 4),
        utc(2026, 6, 7),
        utc(2026, 6, 8),
    ]


def test_parse_spec__names_and_steps() -> None:
    assert fires("0 12 1 jan-dec/5 *", utc(2026, 1, 1, 13), UTC, 3) == [
        utc(2026, 6, 1, 12),
        utc(2026, 11, 1, 12),
        utc(2027, 1, 1, 12),
    ]
    assert fires("0 0 * * */2", utc(2026, 6, 1), UTC, 4) == [  # Sun Tue Thu Sat
        utc(2026, 6, 2),
        utc(2026, 6, 4),
        utc(2026, 6, 6),
        utc(2026, 6, 7),
    ]


def test_parse_spec__day_rule_or_when_both_restricted() -> None:
    # The 13th or any Friday: 2026-06-05, 06-12, 06-13 (Saturday), 06-19.
    assert fires("0 0 13 * 5", utc(2026, 6, 1), UTC, 4) == [
        utc(2026, 6, 5),
        utc(2026, 6, 12),
        utc(2026, 6, 13),
        utc(2026, 6, 19),
    ]
    # A day that never exists in February still leaves its Mondays: 2027-02-01, 02-08.
    assert fires("0 0 30 2 1", utc(2027, 1, 31), UTC, 2) == [
        utc(2027, 2, 1),
        utc(2027, 2, 8),
    ]
    # "1-31" does not start with "*", so "1-31 or Monday" is every day.
    assert fires("0 0 1-31 * 1", utc(2026, 6, 2), UTC, 2) == [
        utc(2026, 6, 3),
        utc(2026, 6, 4),
    ]
    assert fires("0 0 13 * 0-6", utc(2026, 6, 2), UTC, 2) == [
        utc(2026, 6, 3),
        utc(2026, 6, 4),
    ]


def test_parse_spec__day_rule_and_when_a_field_starts_with_star() -> None:
    # Odd days that are Mondays (croniter alone would OR them).
    assert fires("0 0 */2 * 1", utc(2026, 6, 1), UTC, 4) == [
        utc(2026, 6, 15),
        utc(2026, 6, 29),
        utc(2026, 7, 13),
        utc(2026, 7, 27),
    ]
    # The 1st of a month on a Sunday, Tuesday, Thursday or Saturday:
    # 2026-06-01 Mon no, 07-01 Wed no, 08-01 Sat yes, 09-01 Tue yes.
    assert fires("0 0 1 * */2", utc(2026, 5, 31), UTC, 2) == [
        utc(2026, 8, 1),
        utc(2026, 9, 1),
    ]


def test_parse_spec__leap_day() -> None:
    assert fires("0 0 29 2 *", utc(2026, 1, 1), UTC, 2) == [
        utc(2028, 2, 29),
        utc(2032, 2, 29),
    ]
    # Feb 29 on a Sunday: 2088, then 2128 (2100 is no leap year): 40 years.
    assert fires("0 0 29 2 */7", utc(2088, 3, 1), UTC, 1) == [utc(2128, 2, 29)]
    assert parse_spec("0 0 29 2 */7").last_at_or_before(utc(2128, 2, 28), UTC) == utc(
        2088, 2, 29
    )


def test_croniter__quirks_we_correct() -> None:
    # Documents why we hand croniter explicit lists; fails when croniter changes.
    start = datetime(2026, 6, 1)
    assert croniter("5-5 * * * *", start).get_next(datetime) == datetime(
        2026, 6, 1, 0, 1
    )
    assert croniter("0 0 */2 * 1", start).get_next(datetime) == datetime(2026, 6, 3)
    assert croniter.is_valid("0 0 30 2 *")
    assert croniter.is_valid("* * * * * 30")  # seconds last


# --- time zone arguments --------------------------------------------------------------


def test_next_after__naive_rejected() -> None:
    spec = parse_spec("* * * * *")
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        spec.next_after(datetime(2026, 1, 1), UTC)
    with pytest.raises(ValueError, match="moment must be timezone-aware"):
        spec.last_at_or_before(datetime(2026, 1, 1), UTC)
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next(spec.iter_after(datetime(2026, 1, 1), UTC))
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        parse_spec("@every 1m").next_after(datetime(2026, 1, 1), UTC)


def test_next_after__any_input_zone_utc_output() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    after = datetime(2026, 5, 13, 19, 20, tzinfo=tokyo)  # 10:20 UTC, 12:20 in Berlin
    result = parse_spec("30 12 * * *").next_after(after, BERLIN)
    assert result == utc(2026, 5, 13, 10, 30)
    assert result.tzinfo is UTC


def test_next_after__strictly_after_and_microseconds() -> None:
    spec = parse_spec("*/5 * * * *")
    assert spec.next_after(utc(2026, 5, 13, 10, 5), UTC) == utc(2026, 5, 13, 10, 10)
    assert spec.next_after(utc(2026, 5, 13, 10, 5) - US, UTC) == utc(2026, 5, 13, 10, 5)
    assert spec.next_after(utc(2026, 5, 13, 10, 4, 59, 999999), BERLIN) == utc(
        2026, 5, 13, 10, 5
    )
    assert spec.last_at_or_before(utc(2026, 5, 13, 10, 5), UTC) == utc(
        2026, 5, 13, 10, 5
    )
    assert spec.last_at_or_before(utc(2026, 5, 13, 10, 5) - US, UTC) == utc(
        2026, 5, 13, 10, 0
    )
    assert spec.last_at_or_before(utc(2026, 5, 13, 10, 9, 59, 999999), BERLIN) == utc(
        2026, 5, 13, 10, 5
    )


def test_iter_after__successive() -> None:
    iterator = parse_spec("0 9 * * 1").iter_after(utc(2026, 6, 1, 9), UTC)
    assert [next(iterator) for _ in range(3)] == [
        utc(2026, 6, 8, 9),
        utc(2026, 6, 15, 9),
        utc(2026, 6, 22, 9),
    ]


def test_fire_times__count() -> None:
    assert fire_times("0 0 * * *", utc(2026, 1, 1), UTC, 0) == []
    assert fire_times("0 0 * * *", utc(2026, 1, 1), UTC, 2) == [
        utc(2026, 1, 2),
        utc(2026, 1, 3),
    ]
    for count in (-1, True, 1.0, "2"):
        with pytest.raises(ValueError, match="count must be an int >= 0"):
            fire_times("0 0 * * *", utc(2026, 1, 1), UTC, count)  # type: ignore[arg-type]


def test_fire_times__invalid_spec() -> None:
    with pytest.raises(InvalidSpec):
        fire_times("61 * * * *", utc(2026, 1, 1), UTC, 1)


# --- @every -------------------------------------------------------------------------


def test_every__epoch_aligned() -> None:
    spec = parse_spec("@every 7m")
    # 2026-01-01 00:00 UTC is 1767225600 s = 4207680 * 420 s after the epoch: a slot.
    assert spec.next_after(utc(2026, 1, 1), UTC) == utc(2026, 1, 1, 0, 7)
    assert spec.last_at_or_before(utc(2026, 1, 1), UTC) == utc(2026, 1, 1)
    assert spec.next_after(utc(2026, 1, 1, 0, 10), UTC) == utc(2026, 1, 1, 0, 14)
    assert spec.last_at_or_before(utc(2026, 1, 1, 0, 10), UTC) == utc(2026, 1, 1, 0, 7)
    assert spec.next_after(utc(2026, 1, 1, 0, 7) - US, UTC) == utc(2026, 1, 1, 0, 7)
    assert spec.last_at_or_before(utc(2026, 1, 1, 0, 7) - US, UTC) == utc(2026, 1, 1)
    for instant in fire_times("@every 7m", utc(2026, 3, 29, 0, 55), BERLIN, 20):
        assert int(instant.timestamp()) % 420 == 0


def test_every__independent_of_zone() -> None:
    after = utc(2026, 3, 29, 0, 30)  # the Berlin spring-forward night
    assert fire_times("@every 1d", utc(2026, 3, 28, 1), BERLIN, 1) == [utc(2026, 3, 29)]
    assert fire_times("@every 90m", after, BERLIN, 2) == [
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 29, 3),
    ]
    assert fire_times("@every 1d", after, LORD_HOWE, 2) == [
        utc(2026, 3, 30),
        utc(2026, 3, 31),
    ]
    assert fire_times("@every 1d1h", utc(1970, 1, 2, 1), UTC, 1) == [utc(1970, 1, 3, 2)]
    assert parse_spec("@every 90s").next_after(utc(2026, 1, 1), NEW_YORK) == utc(
        2026, 1, 1, 0, 1, 30
    )


def test_parse_spec__every_longer_than_the_calendar() -> None:
    # Found by tests/test_specs_oracle.py: "@every 2932898d" was accepted, then
    # next_after() raised OverflowError (in the admin preview, the CLI, schedule()).
    # 1970-01-01 + 2,932,896 days is 9999-12-31, the last day datetime holds.
    with pytest.raises(InvalidSpec, match="can never fire: 2932897d is longer") as info:
        parse_spec("@every 2932897d")
    assert str(info.value).startswith("'@every 2932897d': ")
    with pytest.raises(InvalidSpec, match="can never fire"):
        parse_spec("@every 999999999999s")
    spec = parse_spec("@every 2932896d")
    assert spec.next_after(utc(2026, 1, 1), UTC) == utc(9999, 12, 31)
    assert spec.last_at_or_before(utc(2026, 1, 1), UTC) == utc(1970, 1, 1)


def test_fire_times__end_of_the_calendar() -> None:
    # Found with the above: fire_times() raised OverflowError once the next slot
    # fell past the year 9999; it returns the slots the calendar holds instead.
    # 1970-01-01 + 1,000,000 days = 4707-11-29; + 2,000,000 days = 7445-10-25.
    assert fire_times("@every 1000000d", utc(2026, 1, 1), UTC, 5) == [
        utc(4707, 11, 29),
        utc(7445, 10, 25),
    ]
    assert fire_times("@every 1000000d", utc(9000, 1, 1), BERLIN, 5) == []
    assert fire_times("@yearly", utc(9997, 6, 1), BERLIN, 5) == [
        utc(9997, 12, 31, 23),  # 9998-01-01 00:00 CET
        utc(9998, 12, 31, 23),  # 9999-01-01 00:00 CET
    ]
    # Feb 29 on a Sunday, 28 or 40 years apart: 9948, 9976, then past 9999.
    assert [
        year
        for year in range(9900, 10000)
        if calendar.isleap(year) and calendar.weekday(year, 2, 29) == 6
    ] == [9920, 9948, 9976]
    assert fire_times("0 0 29 2 */7", utc(9930, 1, 1), UTC, 5) == [
        utc(9948, 2, 29),
        utc(9976, 2, 29),
    ]
    assert len(fire_times("* * * * *", utc(9999, 12, 31, 23, 50), UTC, 20)) == 9


def test_fire_times__errors_before_the_end_still_raise() -> None:
    # Only running off the end of the calendar ends the walk quietly.
    with pytest.raises(ValueError, match="gives no UTC offset"):
        fire_times("30 2 * * *", utc(2026, 1, 1), NoOffset(), 3)
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        fire_times("@every 1000000d", datetime(2026, 1, 1), UTC, 3)


# --- daylight saving: Europe/Berlin ---------------------------------------------------
# Spring 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00 UTC.
# Fall 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00 UTC (02:00-02:59 twice).


def test_fire_times__berlin_fixed_spring_forward() -> None:
    assert fires("30 2 * * *", utc(2026, 3, 27, 12), BERLIN, 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST, the end of the gap
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_fire_times__berlin_fixed_fall_back() -> None:
    assert fires("30 2 * * *", utc(2026, 10, 23, 12), BERLIN, 3) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, first pass only
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]
    # From inside the second pass, 02:30 CET of that day is not fired again.
    assert fires("30 2 * * *", utc(2026, 10, 25, 1), BERLIN, 1) == [
        utc(2026, 10, 26, 1, 30)
    ]


def test_fire_times__berlin_fixed_gap_slots_fire_once() -> None:
    assert fires("0,30 2 * * *", utc(2026, 3, 28), BERLIN, 5) == [
        utc(2026, 3, 28, 1, 0),
        utc(2026, 3, 28, 1, 30),  # 02:00, 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:00 and 02:30 both skipped: once at 03:00 CEST
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 30, 0, 30),  # 02:00, 02:30 CEST
    ]
    # 02:00 (skipped) and 03:00 are the same instant: one fire.
    assert fires("0 2,3 * * *", utc(2026, 3, 28), BERLIN, 5) == [
        utc(2026, 3, 28, 1),
        utc(2026, 3, 28, 2),  # 02:00, 03:00 CET
        utc(2026, 3, 29, 1),  # 03:00 CEST
        utc(2026, 3, 30, 0),
        utc(2026, 3, 30, 1),  # 02:00, 03:00 CEST
    ]


def test_fire_times__berlin_wildcard_hour_in_gap_fires_nothing() -> None:
    assert fires("*/30 2 * * *", utc(2026, 3, 28), BERLIN, 4) == [
        utc(2026, 3, 28, 1, 0),
        utc(2026, 3, 28, 1, 30),  # 02:00, 02:30 CET
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 30, 0, 30),  # 02:00, 02:30 CEST
    ]


def test_fire_times__berlin_hourly() -> None:
    assert fires("0 * * * *", utc(2026, 3, 28, 23, 30), BERLIN, 3) == [
        utc(2026, 3, 29, 0),  # 01:00 CET
        utc(2026, 3, 29, 1),  # 03:00 CEST (02:00 skipped)
        utc(2026, 3, 29, 2),  # 04:00 CEST
    ]
    assert fires("0 * * * *", utc(2026, 10, 24, 23, 30), BERLIN, 3) == [
        utc(2026, 10, 25, 0),  # 02:00 CEST
        utc(2026, 10, 25, 1),  # 02:00 CET
        utc(2026, 10, 25, 2),  # 03:00 CET
    ]


def test_fire_times__berlin_every_15_minutes() -> None:
    assert fires("*/15 * * * *", utc(2026, 3, 29, 0, 40), BERLIN, 3) == [
        utc(2026, 3, 29, 0, 45),  # 01:45 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 29, 1, 15),  # 03:15 CEST
    ]
    assert fires("*/15 * * * *", utc(2026, 10, 24, 23, 50), BERLIN, 10) == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 15),  # 02:00, 02:15 CEST
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 0, 45),  # 02:30, 02:45 CEST
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 15),  # 02:00, 02:15 CET
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 1, 45),  # 02:30, 02:45 CET
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 2, 15),  # 03:00, 03:15 CET
    ]


def test_next_after__berlin_inside_repeated_hour() -> None:
    spec = parse_spec("10 * * * *")
    # 02:20 CEST (first pass): 02:10 comes again at 02:10 CET.
    assert spec.next_after(utc(2026, 10, 25, 0, 20), BERLIN) == utc(2026, 10, 25, 1, 10)
    # 02:05 CEST (first pass): 02:10 CEST first.
    assert spec.next_after(utc(2026, 10, 25, 0, 5), BERLIN) == utc(2026, 10, 25, 0, 10)
    # 02:20 CET (second pass): 03:10 CET.
    assert spec.next_after(utc(2026, 10, 25, 1, 20), BERLIN) == utc(2026, 10, 25, 2, 10)
    assert spec.last_at_or_before(utc(2026, 10, 25, 1, 20), BERLIN) == utc(
        2026, 10, 25, 1, 10
    )
    assert spec.last_at_or_before(utc(2026, 10, 25, 1, 5), BERLIN) == utc(
        2026, 10, 25, 0, 10
    )
    assert spec.last_at_or_before(utc(2026, 10, 25, 0, 5), BERLIN) == utc(
        2026, 10, 24, 23, 10
    )
    fixed = parse_spec("30 2 * * *")
    assert fixed.last_at_or_before(utc(2026, 10, 25, 1, 45), BERLIN) == utc(
        2026, 10, 25, 0, 30
    )
    assert fixed.last_at_or_before(utc(2026, 10, 25, 0, 29), BERLIN) == utc(
        2026, 10, 24, 0, 30
    )


def test_last_at_or_before__berlin_gap() -> None:
    fixed = parse_spec("30 2 * * *")
    assert fixed.last_at_or_before(utc(2026, 3, 29, 1), BERLIN) == utc(2026, 3, 29, 1)
    assert fixed.last_at_or_before(utc(2026, 3, 29, 1) - US, BERLIN) == utc(
        2026, 3, 28, 1, 30
    )
    assert fixed.last_at_or_before(utc(2026, 3, 30), BERLIN) == utc(2026, 3, 29, 1)
    twice = parse_spec("0,30 2 * * *")
    assert twice.last_at_or_before(utc(2026, 3, 29, 1, 5), BERLIN) == utc(
        2026, 3, 29, 1
    )
    assert parse_spec("*/30 2 * * *").last_at_or_before(
        utc(2026, 3, 29, 23, 59), BERLIN
    ) == utc(2026, 3, 28, 1, 30)


# --- daylight saving: America/New_York ----------------------------------------------
# Spring 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00 UTC.
# Fall 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00 UTC (01:00-01:59 twice).


def test_fire_times__new_york_fixed_spring_forward() -> None:
    assert fires("30 2 * * *", utc(2026, 3, 6, 12), NEW_YORK, 3) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 0),  # skipped: 03:00 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]
    assert fires("30 1 * * *", utc(2026, 3, 6, 12), NEW_YORK, 3) == [
        utc(2026, 3, 7, 6, 30),  # 01:30 EST
        utc(2026, 3, 8, 6, 30),  # 01:30 EST, before the change
        utc(2026, 3, 9, 5, 30),  # 01:30 EDT
    ]


def test_fire_times__new_york_fixed_fall_back() -> None:
    assert fires("30 1 * * *", utc(2026, 10, 30, 12), NEW_YORK, 3) == [
        utc(2026, 10, 31, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT, first pass only
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
    ]
    assert fires("30 2 * * *", utc(2026, 10, 30, 12), NEW_YORK, 3) == [
        utc(2026, 10, 31, 6, 30),  # 02:30 EDT
        utc(2026, 11, 1, 7, 30),  # 02:30 EST (not repeated)
        utc(2026, 11, 2, 7, 30),  # 02:30 EST
    ]


def test_fire_times__new_york_hourly() -> None:
    assert fires("0 * * * *", utc(2026, 3, 8, 5, 30), NEW_YORK, 3) == [
        utc(2026, 3, 8, 6),  # 01:00 EST
        utc(2026, 3, 8, 7),  # 03:00 EDT
        utc(2026, 3, 8, 8),  # 04:00 EDT
    ]
    assert fires("0 * * * *", utc(2026, 11, 1, 4, 30), NEW_YORK, 3) == [
        utc(2026, 11, 1, 5),  # 01:00 EDT
        utc(2026, 11, 1, 6),  # 01:00 EST
        utc(2026, 11, 1, 7),  # 02:00 EST
    ]


def test_fire_times__new_york_every_15_minutes() -> None:
    assert fires("*/15 * * * *", utc(2026, 3, 8, 6, 40), NEW_YORK, 3) == [
        utc(2026, 3, 8, 6, 45),  # 01:45 EST
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT
        utc(2026, 3, 8, 7, 15),  # 03:15 EDT
    ]
    assert fires("*/15 * * * *", utc(2026, 11, 1, 5, 40), NEW_YORK, 4) == [
        utc(2026, 11, 1, 5, 45),  # 01:45 EDT
        utc(2026, 11, 1, 6, 0),  # 01:00 EST
        utc(2026, 11, 1, 6, 15),  # 01:15 EST
        utc(2026, 11, 1, 6, 30),  # 01:30 EST
    ]


# --- daylight saving: Australia/Lord_Howe (30-minute shifts) ------------------------
# Fall 2026-04-05: 02:00 +11:00 -> 01:30 +10:30 at 2026-04-04 15:00 UTC (01:30-01:59 twice).
# Spring 2026-10-04: 02:00 +10:30 -> 02:30 +11:00 at 2026-10-03 15:30 UTC (02:00-02:29 skipped).


def test_zoneinfo__lord_howe_2026_transitions() -> None:
    before = datetime(2026, 4, 4, 14, 59, tzinfo=UTC).astimezone(LORD_HOWE)
    after = datetime(2026, 4, 4, 15, 0, tzinfo=UTC).astimezone(LORD_HOWE)
    assert (before.hour, before.minute, after.hour, after.minute) == (1, 59, 1, 30)
    before = datetime(2026, 10, 3, 15, 29, tzinfo=UTC).astimezone(LORD_HOWE)
    after = datetime(2026, 10, 3, 15, 30, tzinfo=UTC).astimezone(LORD_HOWE)
    assert (before.hour, before.minute, after.hour, after.minute) == (1, 59, 2, 30)


def test_fire_times__lord_howe_fixed() -> None:
    assert fires("15 2 * * *", utc(2026, 10, 2), LORD_HOWE, 3) == [
        utc(2026, 10, 2, 15, 45),  # 10-03 02:15 +10:30
        utc(2026, 10, 3, 15, 30),  # 10-04 02:15 skipped: 02:30 +11:00
        utc(2026, 10, 4, 15, 15),  # 10-05 02:15 +11:00
    ]
    assert fires("0 2 * * *", utc(2026, 10, 3), LORD_HOWE, 1) == [
        utc(2026, 10, 3, 15, 30)
    ]
    assert fires("45 1 * * *", utc(2026, 4, 3), LORD_HOWE, 3) == [
        utc(2026, 4, 3, 14, 45),  # 04-04 01:45 +11:00
        utc(2026, 4, 4, 14, 45),  # 04-05 01:45 +11:00, first pass only
        utc(2026, 4, 5, 15, 15),  # 04-06 01:45 +10:30
    ]


def test_fire_times__lord_howe_wildcard() -> None:
    assert fires("*/15 * * * *", utc(2026, 4, 4, 14, 20), LORD_HOWE, 6) == [
        utc(2026, 4, 4, 14, 30),
        utc(2026, 4, 4, 14, 45),  # 01:30, 01:45 +11:00
        utc(2026, 4, 4, 15, 0),
        utc(2026, 4, 4, 15, 15),  # 01:30, 01:45 +10:30
        utc(2026, 4, 4, 15, 30),
        utc(2026, 4, 4, 15, 45),  # 02:00, 02:15 +10:30
    ]
    assert fires("*/15 * * * *", utc(2026, 10, 3, 15, 5), LORD_HOWE, 3) == [
        utc(2026, 10, 3, 15, 15),  # 01:45 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:30 +11:00 (02:00, 02:15 skipped)
        utc(2026, 10, 3, 15, 45),  # 02:45 +11:00
    ]
    assert fires("0 * * * *", utc(2026, 10, 3, 14), LORD_HOWE, 2) == [
        utc(2026, 10, 3, 14, 30),  # 01:00 +10:30
        utc(2026, 10, 3, 16, 0),  # 03:00 +11:00 (02:00 skipped)
    ]
    assert fires("0 * * * *", utc(2026, 4, 4, 13, 30), LORD_HOWE, 3) == [
        utc(2026, 4, 4, 14, 0),  # 01:00 +11:00
        utc(2026, 4, 4, 15, 30),  # 02:00 +10:30
        utc(2026, 4, 4, 16, 30),  # 03:00 +10:30
    ]


# --- Pacific/Apia skipped 2011-12-30 entirely: 23:59:59 -10:00 -> 00:00 +14:00 --------
def test_fire_times__apia_skipped_day() -> None:
    assert fires("30 2 * * *", utc(2011, 12, 28), APIA, 4) == [
        utc(2011, 12, 28, 12, 30),  # 12-28 02:30 -10:00
        utc(2011, 12, 29, 12, 30),  # 12-29 02:30 -10:00
        utc(2011, 12, 30, 10, 0),  # 12-30 skipped: 12-31 00:00 +14:00
        utc(2011, 12, 30, 12, 30),  # 12-31 02:30 +14:00
    ]
    assert fires("0 */6 * * *", utc(2011, 12, 30, 3), APIA, 3) == [
        utc(2011, 12, 30, 4),  # 12-29 18:00 -10:00
        utc(2011, 12, 30, 10),  # 12-31 00:00 +14:00
        utc(2011, 12, 30, 16),  # 12-31 06:00 +14:00
    ]
    assert parse_spec("30 2 * * *").last_at_or_before(
        utc(2011, 12, 30, 12), APIA
    ) == utc(2011, 12, 30, 10)


# --- unusual tzinfo implementations --------------------------------------------------


class FoldBlindBerlin(tzinfo):
    """CET/CEST for 2026 only, ignoring fold, as pre-PEP 495 tzinfo classes did."""

    SPRING = datetime(2026, 3, 29, 1)  # UTC

    def utcoffset(self, dt: datetime | None) -> timedelta:
        assert dt is not None
        return timedelta(
            hours=2 if dt.replace(tzinfo=None) >= datetime(2026, 3, 29, 2) else 1
        )

    def tzname(self, dt: datetime | None) -> str:
        return "CEST" if self.dst(dt) else "CET"

    def dst(self, dt: datetime | None) -> timedelta:
        return self.utcoffset(dt) - timedelta(hours=1)

    def fromutc(self, dt: datetime) -> datetime:
        naive = dt.replace(tzinfo=None)
        return (naive + timedelta(hours=2 if naive >= self.SPRING else 1)).replace(
            tzinfo=self
        )


def test_next_after__fold_blind_tzinfo() -> None:
    tz = FoldBlindBerlin()
    assert fires("30 2 * * *", utc(2026, 3, 27, 12), tz, 3) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]
    assert fires("*/30 2 * * *", utc(2026, 3, 28, 12), tz, 1) == [utc(2026, 3, 30)]


class NoOffset(tzinfo):
    """A broken tzinfo: converting into it works, asking its offset does not."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "?"

    def dst(self, dt: datetime | None) -> None:
        return None

    def fromutc(self, dt: datetime) -> datetime:
        return dt.replace(tzinfo=self)


def test_next_after__tzinfo_without_offset() -> None:
    for spec in ("30 2 * * *", "*/5 * * * *"):
        with pytest.raises(ValueError, match="gives no UTC offset"):
            parse_spec(spec).next_after(utc(2026, 1, 1), NoOffset())
        with pytest.raises(ValueError, match="gives no UTC offset"):
            parse_spec(spec).last_at_or_before(utc(2026, 1, 1), NoOffset())


def test_next_after__fixed_offset_zone() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    assert parse_spec("30 2 * * *").next_after(utc(2026, 1, 1), tz) == utc(
        2026, 1, 1, 21
    )


# --- properties ---------------------------------------------------------------------

ZONES = [UTC, BERLIN, NEW_YORK, LORD_HOWE, ZoneInfo("Asia/Kolkata"), APIA]
ZONE_TRANSITIONS = [
    (BERLIN, utc(2026, 3, 29, 1)),
    (BERLIN, utc(2026, 10, 25, 1)),
    (NEW_YORK, utc(2026, 3, 8, 7)),
    (NEW_YORK, utc(2026, 11, 1, 6)),
    (LORD_HOWE, utc(2026, 4, 4, 15)),
    (LORD_HOWE, utc(2026, 10, 3, 15, 30)),
    (APIA, utc(2011, 12, 30, 10)),
]
TRANSITIONS = [transition for _, transition in ZONE_TRANSITIONS]


def cron_fields(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    pair = st.tuples(value, value).map(sorted)
    step = st.integers(1, high + 1)
    item = st.one_of(
        st.just("*"),
        st.builds("*/{}".format, step),
        st.builds(str, value),
        pair.map("{0[0]}-{0[1]}".format),
        st.builds("{0[0]}-{0[1]}/{1}".format, pair, step),
        st.builds("{}/{}".format, value, step),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


@st.composite
def cron_specs(draw: st.DrawFn) -> str:
    ranges = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
    spec = " ".join(draw(cron_fields(low, high)) for low, high in ranges)
    try:
        parse_spec(spec)
    except InvalidSpec:  # a day that never occurs in the listed months
        return "*/7 * * * *"
    return spec


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    near = draw(st.sampled_from(TRANSITIONS))
    exact = st.sampled_from([0, 1, -1, 10**6, -(10**6), 1800 * 10**6, -1800 * 10**6])
    offset = draw(st.one_of(exact, st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6)))
    far = draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2060, 1, 1), timezones=st.just(UTC))
    )
    return draw(st.sampled_from([near + timedelta(microseconds=offset), far]))


GARBAGE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "*",
                "*/",
                "/",
                "-",
                ",",
                "@",
                "@every",
                "@daily",
                "@reboot",
                "H",
                "L",
                "W",
                "#",
                "?",
                "JAN",
                "mon",
                "7",
                "0",
                "59",
                "61",
                "5-1",
                "5-5",
                " ",
                "\t",
                "\u0663",
                "30s",
                "1h30m",
                "0s",
            ]
        ),
        st.text(max_size=4),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), GARBAGE))
def test_parse_spec__garbage_gives_spec_or_invalid_spec(text: str) -> None:
    try:
        spec = parse_spec(text)
    except InvalidSpec as exc:
        if len(text.strip()) > specs.MAX_SPEC_LENGTH:  # named by its first characters
            assert str(exc).startswith(f"{text.strip()[:40]!r}...")
        else:
            assert repr(" ".join(text.split())) in str(exc) or repr(text) in str(exc)
    else:
        assert isinstance(spec, Spec)
        assert spec.next_after(utc(2026, 1, 1), BERLIN) > utc(2026, 1, 1)


@settings(max_examples=300, deadline=None)
@given(cron_specs(), instants(), st.sampled_from(ZONES))
def test_last_at_or_before__agrees_with_next_after(
    spec_text: str, moment: datetime, tz: tzinfo
) -> None:
    spec = parse_spec(spec_text)
    last = spec.last_at_or_before(moment, tz)
    assert last <= moment
    assert spec.next_after(last, tz) > moment  # nothing fires in (last, moment]
    assert spec.next_after(last - US, tz) == last  # last is a fire instant
    following = spec.next_after(moment, tz)
    assert following > moment
    assert spec.last_at_or_before(following, tz) == following
    assert spec.last_at_or_before(following - US, tz) == last


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(
        ["@every 1s", "@every 7m", "@every 1h30m", "@every 1d", "@every 13h17m3s"]
    ),
    instants(),
    st.sampled_from(ZONES),
)
def test_every__properties(spec_text: str, moment: datetime, tz: tzinfo) -> None:
    spec = parse_spec(spec_text)
    assert spec.interval is not None
    seconds = int(spec.interval.total_seconds())
    last = spec.last_at_or_before(moment, tz)
    following = spec.next_after(moment, tz)
    assert last <= moment < following == last + spec.interval
    assert (last - fire._EPOCH) % timedelta(seconds=seconds) == timedelta(0)


# A brute-force oracle: walk every UTC minute and every wall minute of a window.
ORACLE_SPECS = [
    ("0 */6 * * *", True, lambda w: w.minute == 0 and w.hour % 6 == 0),
    ("0 0 * * *", False, lambda w: (w.hour, w.minute) == (0, 0)),
    ("*/15 * * * *", True, lambda w: w.minute % 15 == 0),
    ("0 * * * *", True, lambda w: w.minute == 0),
    ("*/20 1-3 * * *", True, lambda w: w.minute % 20 == 0 and 1 <= w.hour <= 3),
    ("30 2 * * *", False, lambda w: (w.hour, w.minute) == (2, 30)),
    ("30 1 * * *", False, lambda w: (w.hour, w.minute) == (1, 30)),
    ("0,30 2 * * *", False, lambda w: w.hour == 2 and w.minute in (0, 30)),
    ("15,45 1-2 * * *", False, lambda w: w.hour in (1, 2) and w.minute in (15, 45)),
]


def oracle(
    wildcard: bool, matches: object, start: datetime, end: datetime, tz: tzinfo
) -> list[datetime]:
    """Fire instants in (start, end] found by looking at every minute."""
    assert callable(matches)
    minute = timedelta(minutes=1)
    found = set()
    instant = start.replace(second=0, microsecond=0)
    while instant <= end:  # every real minute: its wall time, which pass
        local = instant.astimezone(tz)
        if matches(local) and (wildcard or local.fold == 0):
            found.add(instant)
        instant += minute
    wall = start.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    wall -= timedelta(hours=26)
    while not wildcard and wall <= end.astimezone(tz).replace(tzinfo=None):
        # every wall minute: a skipped one fires at the first minute showing later
        as_utc = wall.replace(tzinfo=tz).astimezone(UTC)
        if matches(wall) and as_utc.astimezone(tz).replace(tzinfo=None) != wall:
            jump = as_utc - timedelta(hours=26)
            while jump.astimezone(tz).replace(tzinfo=None) < wall:
                jump += minute
            found.add(jump)
        wall += minute
    return sorted(instant for instant in found if start < instant <= end)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ORACLE_SPECS),
    st.sampled_from(ZONE_TRANSITIONS),
    st.integers(-4 * 60, 3 * 60),
    st.integers(0, 59),
    st.integers(0, 6 * 3600 * 10**6),
)
def test_fire_times__match_brute_force(
    case: tuple[str, bool, object],
    zone_transition: tuple[tzinfo, datetime],
    minutes: int,
    second: int,
    probe: int,
) -> None:
    spec_text, wildcard, matches = case
    tz, transition = zone_transition
    start = transition + timedelta(minutes=minutes, seconds=second)
    end = start + timedelta(hours=6)
    expected = oracle(wildcard, matches, start, end, tz)
    fired = fire_times(spec_text, start, tz, len(expected) + 1)
    assert [instant for instant in fired if instant <= end] == expected
    moment = start + timedelta(microseconds=probe)
    before = [instant for instant in expected if instant <= moment]
    if before:
        assert parse_spec(spec_text).last_at_or_before(moment, tz) == before[-1]


def test_calendar__feb_29_sunday_gap_is_40_years() -> None:
    # The 40-year Feb-29-on-Sunday gap used above, recomputed from the calendar.
    sundays = [
        year
        for year in range(2080, 2140)
        if calendar.isleap(year) and calendar.weekday(year, 2, 29) == 6
    ]
    assert sundays == [2088, 2128]


def test_parse_spec__too_long_is_invalid_with_a_short_message():
    long_spec = "1," * 150 + "1 * * * *"
    with pytest.raises(InvalidSpec) as info:
        parse_spec(long_spec)
    assert "at most 200 characters" in str(info.value)
    assert len(str(info.value)) < 120
