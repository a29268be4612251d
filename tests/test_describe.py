"""describe(): specs in plain words, macros and @every included, Vixie's day rule kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_togo_scheduler.describe import describe, describe_interval
from django_togo_scheduler.exceptions import InvalidSpec
from django_togo_scheduler.specs import validate_spec


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("* * * * *", "Every minute"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("  30   7 * * *", "At 07:30"),
        ("0 18 * * sat,SUN", "At 18:00, only on Saturday and Sunday"),
        ("0 0 * * 7", "At 00:00, only on Sunday"),
        ("15 */2 * * *", "At 15 minutes past the hour, every 2 hours"),
        (
            "0 9 * JAN-MAR MON-FRI",
            "At 09:00, Monday through Friday, January through March",
        ),
        # macros, expanded by us
        ("@hourly", "Every hour"),
        ("@daily", "At 00:00"),
        ("@midnight", "At 00:00"),
        ("@weekly", "At 00:00, only on Sunday"),
        ("@monthly", "At 00:00, on day 1 of the month"),
        ("@yearly", "At 00:00, on day 1 of the month, only in January"),
        ("@ANNUALLY", "At 00:00, on day 1 of the month, only in January"),
        # @every, described by us
        ("@every 30s", "Every 30 seconds"),
        ("@every 1m", "Every minute"),
        ("@every 1h30m", "Every 1 hour and 30 minutes"),
        ("@every 90s", "Every 1 minute and 30 seconds"),
        ("@every 1d", "Every day"),
        ("@every 2d3h", "Every 2 days and 3 hours"),
    ],
)
def test_describe__plain_words(spec, words):
    assert describe(spec) == words


def test_describe__two_restricted_day_fields_are_or():
    # Vixie cron: the 1st, the 15th, and every Monday.
    assert describe("0 0 1,15 * MON") == (
        "At 00:00, on day 1 and 15 of the month, or on Monday"
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        # A day field starting with "*" makes the rule an AND in Vixie cron,
        # where cron-descriptor alone would say "or on Monday".
        ("0 0 */2 * MON", "At 00:00, every 2 days, only on Monday"),
        (
            "0 0 1,15 * */2",
            "At 00:00, on day 1 and 15 of the month, every 2 days of the week",
        ),
    ],
)
def test_describe__a_star_day_field_is_and(spec, words):
    assert describe(spec) == words
    assert " or " not in describe(spec)


@pytest.mark.parametrize(
    "spec", ["", "61 * * * *", "@reboot", "@every", "@every 0s", "0 0 L * *", "* * * *"]
)
def test_describe__an_invalid_spec_raises_the_specs_message(spec):
    with pytest.raises(InvalidSpec) as ours:
        describe(spec)
    with pytest.raises(InvalidSpec) as theirs:
        validate_spec(spec)

    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "Every second"),
        (3600, "Every hour"),
        (86400 + 1, "Every 1 day and 1 second"),
    ],
)
def test_describe_interval(seconds, words):
    assert describe_interval(seconds) == words


_FIELD_ITEMS = [
    st.sampled_from(["*", "*/5", "0", "30", "0-29", "5,10,15", "10-50/10", "7/3"]),
    st.sampled_from(["*", "*/2", "0", "9", "9-17", "8,12,18", "1-23/4"]),
    st.sampled_from(["*", "*/2", "1", "15", "1-7", "1,15", "10-20/5", "31"]),
    st.sampled_from(["*", "*/3", "1", "JAN", "1-6", "jun-aug", "3,6,9,12"]),
    st.sampled_from(["*", "*/2", "0", "7", "1-5", "MON-FRI", "sat,sun", "5/1"]),
]


@settings(max_examples=300, deadline=None)
@given(st.tuples(*_FIELD_ITEMS))
def test_describe__every_valid_spec_gets_words(fields):
    spec = " ".join(fields)
    try:
        validate_spec(spec)
    except InvalidSpec:
        return  # e.g. day 31 in a 30-day month only
    words = describe(spec)

    assert words and words[0].isupper()
    assert "error" not in words.lower()
