"""The admin's wording of times, durations and errors, and the paginator's edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger

from django_togo_scheduler.admin.display import (
    breakable,
    format_clock,
    format_seconds,
    format_time,
    relative,
)
from django_togo_scheduler.admin.pagination import NoCountPaginator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


def test_format_time__one_format_zone_shown_seconds_when_there(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert format_time(NOW) == "2026-11-27 13:00 CET"  # the admin's zone
    assert format_time(NOW, TOKYO) == "2026-11-27 21:00 JST"
    assert format_time(NOW + timedelta(seconds=5), TOKYO) == "2026-11-27 21:00:05 JST"
    assert format_time(NOW, TOKYO, seconds=True) == "2026-11-27 21:00:00 JST"
    assert format_time(NOW, TOKYO, zone=False) == "2026-11-27 21:00"
    assert format_time(None) == "-"


def test_format_clock__dated_only_off_the_day_it_goes_with():
    late = NOW + timedelta(hours=2, minutes=59, seconds=59)  # 23:59:59 in Tokyo
    assert format_clock(late, TOKYO, NOW) == "23:59:59"
    assert (
        format_clock(late + timedelta(seconds=2), TOKYO, NOW) == "2026-11-28 00:00:01"
    )
    assert format_clock(NOW, TOKYO, None) == "2026-11-27 21:00:00"


def test_breakable__may_wrap_after_dots_and_escapes():
    assert breakable("billing.send_reminders") == "billing.<wbr>send_reminders"
    assert breakable("<b>.x") == "&lt;b&gt;.<wbr>x"


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=12), "in 12 s"),
        (timedelta(seconds=-12), "12 s ago"),
        (timedelta(minutes=3, seconds=10), "in 3\xa0minutes"),
        (timedelta(hours=-2, minutes=-5), "2\xa0hours ago"),
        (timedelta(days=9), "in 1\xa0week"),
    ],
)
def test_relative(delta, words):
    assert relative(NOW + delta, NOW) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "-"),
        (0.25, "0.25 s"),
        (12.34, "12.3 s"),
        (245, "4 min 5 s"),
        (7800, "2 h 10 min"),
        (-3, "-3.00 s"),
    ],
)
def test_format_seconds(seconds, words):
    span = None if seconds is None else timedelta(seconds=seconds)
    assert format_seconds(span) == words


@pytest.mark.parametrize(
    ("number", "error"),
    [("x", PageNotAnInteger), (None, PageNotAnInteger), (0, EmptyPage)],
)
def test_paginator__rejects_bad_page_numbers(number, error):
    with pytest.raises(error):
        NoCountPaginator([1, 2, 3], 2).page(number)
