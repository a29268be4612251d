"""``manage.py scheduler``: inspect and operate schedules from the shell.

The subcommands live in :mod:`django_togo_scheduler.cli`, one module per group.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_togo_scheduler.cli import health, manual, runs, schedules
from django_togo_scheduler.cli.base import (
    BAD_INPUT,
    BadInput,
    CheckedCommand,
    DescribedSubparsers,
    Handler,
    SubcommandParser,
    shared_options,
)
from django_togo_scheduler.exceptions import TogoSchedulerError


class Command(CheckedCommand):
    help = (
        "Inspect and operate schedules: list, runs, trigger, pause, resume, next, "
        "prune, status, explain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Each subcommand's help line is also its --help's description.
        sub = DescribedSubparsers(
            parser.add_subparsers(
                dest="action",
                required=True,
                parser_class=SubcommandParser,
                title="subcommands",
                metavar="SUBCOMMAND",
                help="`scheduler SUBCOMMAND --help` describes each one.",
            )
        )
        parents = [shared_options()]
        self.handlers: dict[str, Handler] = {}
        for group in (schedules, manual, runs, health):
            self.handlers.update(group.add_parsers(sub, parents))

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            self.handlers[action](self.stdout, **options)
        except (BadInput, TogoSchedulerError, LookupError, ValueError) as exc:
            message = (
                exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            )
            # Bad input: exit status 2 and one line, whatever the message
            # (scripts read the first line of stderr); Django prints it as
            # "CommandError: scheduler <action>: ...".
            raise CommandError(
                f"scheduler {action}: {' '.join(str(message).splitlines())}",
                returncode=BAD_INPUT,
            ) from exc
