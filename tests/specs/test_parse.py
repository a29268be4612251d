"""Tests of django_togo_scheduler.specs.parse: validation, error messages, macros
and field semantics (pure: no database, no settings).

Expected fire instants are written by hand from the rules in API.md, not copied
from the code's output.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from django_togo_scheduler import specs
from django_togo_scheduler.exceptions import InvalidSpec
from django_togo_scheduler.specs import Spec, parse_spec
from tests.specs.helpers import BERLIN, fires, utc

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


# --- properties ---------------------------------------------------------------------

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


def test_parse_spec__too_long_is_invalid_with_a_short_message():
    long_spec = "1," * 150 + "1 * * * *"
    with pytest.raises(InvalidSpec) as info:
        parse_spec(long_spec)
    assert "at most 200 characters" in str(info.value)
    assert len(str(info.value)) < 120
