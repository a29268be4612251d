"""How messages write a moment in a zone and the line of an error."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from django_togo_scheduler.text import error_line, iso_in

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "testapp/jobs.py", line 9, in fails\n'
    "RuntimeError: this job always fails\n"
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", ""),
        ("  \n\n", ""),
        ("boom\nmore", "boom"),
        (
            "Traceback (most recent call last):\n  File x\nKeyError: 'a'\n",
            "KeyError: 'a'",
        ),
    ],
)
def test_error_line(text, line):
    assert error_line(text) == line


def test_error_line__a_traceback_gives_its_exception_line_and_a_message_its_first():
    assert error_line(TRACEBACK) == "RuntimeError: this job always fails"
    assert error_line("worker died: box:1\nmore") == "worker died: box:1"
    assert error_line("\n") == ""


def test_error_line__cut_at_the_limit_with_an_ellipsis():
    assert error_line("x" * 10, 10) == "x" * 10
    assert error_line("x" * 11, 10) == "x" * 9 + "…"


def test_iso_in__the_moment_in_the_zone_to_the_second_or_a_dash():
    moment = datetime(2026, 3, 29, 1, 30, 15, 999999, tzinfo=UTC)
    assert iso_in(moment, ZoneInfo("Europe/Paris")) == "2026-03-29T03:30:15+02:00"
    assert iso_in(None, UTC) == "-"
