"""Tests of django_togo_scheduler.specs.fire: fire times and the daylight-saving
rules (pure: no database, no settings).

Expected fire instants are written by hand from the rules in API.md, not copied
from the code's output; comments give the local wall time each one stands for.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_togo_scheduler.exceptions import InvalidSpec
from django_togo_scheduler.specs import fire, fire_times, parse_spec
from tests.specs.helpers import APIA, BERLIN, LORD_HOWE, NEW_YORK, US, fires, utc

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
    # Found by tests/specs/test_oracle.py: "@every 2932898d" was accepted, then
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
