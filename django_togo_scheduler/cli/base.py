"""Parsing and output helpers shared by the ``scheduler`` subcommands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    OutputWrapper,
    SystemCheckError,
)

from django_togo_scheduler.exceptions import InvalidTimezone
from django_togo_scheduler.specs import get_timezone
from django_togo_scheduler.text import iso_in

BAD_INPUT = 2  # exit status for invalid input: a setting, a declaration, an option


class CheckedCommand(BaseCommand):
    """A command whose system check errors are invalid input: exit status 2."""

    def check(self, *args: Any, **kwargs: Any) -> None:
        """The system checks; an error exits with ``BAD_INPUT``."""
        try:
            super().check(*args, **kwargs)
        except SystemCheckError as exc:
            exc.returncode = BAD_INPUT
            raise


class Subparsers(Protocol):
    """The ``add_parser`` side of ``parser.add_subparsers()``."""

    def add_parser(self, name: str, **kwargs: Any) -> CommandParser:
        """A parser for subcommand ``name``."""


class DescribedSubparsers:
    """Subparsers whose ``help`` (the line in ``scheduler --help``) is also the
    description ``scheduler <sub> --help`` starts with."""

    def __init__(self, sub: Subparsers) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> CommandParser:
        """A parser for subcommand ``name``, described by its help text."""
        kwargs.setdefault("description", kwargs.get("help"))
        return self._sub.add_parser(name, **kwargs)


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
        "-v",
        "--verbosity",
        type=int,
        choices=[0, 1, 2, 3],
        default=suppress,
        help="Verbosity level; 0=minimal output, 1=normal output, 2=verbose "
        "output, 3=very verbose output",
    )
    shared.add_argument(
        "--settings",
        default=suppress,
        help='The Python path to a settings module, e.g. "myproject.settings.main". '
        "If this isn't provided, the DJANGO_SETTINGS_MODULE environment variable "
        "will be used.",
    )
    shared.add_argument(
        "--pythonpath",
        default=suppress,
        help="A directory to add to the Python path, e.g. "
        '"/home/djangoprojects/myproject".',
    )
    for flag, text in FLAGS.items():
        shared.add_argument(flag, action="store_true", default=suppress, help=text)
    return shared


# Django's flags every command takes, with Django's help texts.
FLAGS = {
    "--traceback": "Display a full stack trace on CommandError exceptions.",
    "--no-color": "Don't colorize the command output.",
    "--force-color": "Force colorization of the command output.",
    "--skip-checks": "Skip system checks.",
}


def add_json_option(parser: CommandParser) -> None:
    """``--json``: print a JSON array of objects instead of the table."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print a JSON array of objects instead of the table (keys: see the docs).",
    )


def write_json(out: OutputWrapper, data: Any) -> None:
    """Write ``data`` as indented JSON (times as ISO 8601 strings: see :func:`iso`)."""
    out.write(json.dumps(data, indent=2, ensure_ascii=False))


def iso(value: datetime | None, tz: tzinfo) -> str | None:
    """``value`` in ``tz`` as ISO 8601 with its offset, or None: for JSON output."""
    return value.astimezone(tz).isoformat() if value is not None else None


def text_or_none(value: str) -> str | None:
    """``value``, or None for an empty string: for JSON output."""
    return value or None


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
    return iso_in(value, tz)


def zone(name: str) -> tzinfo:
    """The zone ``name``; UTC for a name zoneinfo does not know.

    A zone the database holds but zoneinfo no longer knows (the engine pauses
    such a schedule) must not break a whole listing.
    """
    try:
        return get_timezone(name)
    except InvalidTimezone:
        return UTC
