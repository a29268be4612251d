"""Parsing and output helpers shared by the ``scheduler`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from django.core.management.base import CommandError, CommandParser

from django_togo_scheduler.exceptions import InvalidTimezone
from django_togo_scheduler.specs import get_timezone


class Subparsers(Protocol):
    """The ``add_parser`` side of ``parser.add_subparsers()``."""

    def add_parser(self, name: str, **kwargs: Any) -> CommandParser:
        """A parser for subcommand ``name``."""


# A subcommand: gets the command's stdout and the parsed options, writes its output.
Handler = Callable[..., None]


class BadInput(Exception):
    """Input the command rejects with exit status 2 and a one-line message."""


class SubcommandParser(CommandParser):
    """A subcommand's parser: a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> Any:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}")


def shared_options() -> SubcommandParser:
    """Django's options every command takes, accepted after the subcommand too.

    Without them ``scheduler list --settings=x`` fails: the options after a
    subcommand are parsed by the subcommand's parser. They default to
    ``SUPPRESS`` so that, when absent, the main parser's defaults stand.
    """
    shared = SubcommandParser(add_help=False)
    suppress = argparse.SUPPRESS
    shared.add_argument(
        "-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=suppress
    )
    shared.add_argument("--settings", default=suppress)
    shared.add_argument("--pythonpath", default=suppress)
    for flag in ("--traceback", "--no-color", "--force-color", "--skip-checks"):
        shared.add_argument(flag, action="store_true", default=suppress)
    return shared


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a plain text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [
        ["-" if c is None or c == "" else str(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def when(value: datetime | None, tz: tzinfo) -> str:
    """``value`` in ``tz`` as ISO 8601 with its offset, or ``-``."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value else "-"


def zone(name: str) -> tzinfo:
    """The zone ``name``; UTC for a name zoneinfo does not know.

    A zone the database holds but zoneinfo no longer knows (the engine pauses
    such a schedule) must not break a whole listing.
    """
    try:
        return get_timezone(name)
    except InvalidTimezone:
        return UTC


def last_line(text: str) -> str:
    """A traceback's last line (it names the exception): enough for a table cell."""
    lines = text.strip().splitlines()
    return lines[-1][:80] if lines else ""
