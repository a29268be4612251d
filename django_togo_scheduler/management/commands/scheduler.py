"""``manage.py scheduler``: inspect and operate schedules from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_togo_scheduler.exceptions import TogoSchedulerError


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


def _when(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else "-"


def _zone(name: str) -> tzinfo:
    # A zone name the database holds but zoneinfo no longer knows (the engine
    # pauses such a schedule) must not break the whole listing: show it in UTC.
    from django_togo_scheduler.exceptions import InvalidTimezone
    from django_togo_scheduler.specs import get_timezone

    try:
        return get_timezone(name)
    except InvalidTimezone:
        return UTC


def _last_line(text: str) -> str:
    # A traceback's last line names the exception; enough for a table cell.
    lines = text.strip().splitlines()
    return lines[-1][:80] if lines else ""


class Command(BaseCommand):
    help = "Inspect and operate schedules: list, runs, trigger, pause, resume, next, prune."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=SubcommandParser
        )
        parents = [shared_options()]
        sub.add_parser(
            "list",
            help="The schedules, their next run and last status.",
            parents=parents,
        )
        runs = sub.add_parser(
            "runs", help="Run history, newest first.", parents=parents
        )
        runs.add_argument("--job", help="Only this job's runs.")
        runs.add_argument("--status", help="Only runs with this status.")
        runs.add_argument(
            "--limit", type=int, default=20, help="How many runs (default 20)."
        )
        trigger = sub.add_parser(
            "trigger", help="Run a job now, outside its schedule.", parents=parents
        )
        trigger.add_argument("name")
        pause = sub.add_parser(
            "pause", help="Stop a schedule from firing.", parents=parents
        )
        pause.add_argument("name")
        pause.add_argument("--reason", default=None)
        resume = sub.add_parser(
            "resume",
            help="Restart a paused schedule from its next slot.",
            parents=parents,
        )
        resume.add_argument("name")
        nxt = sub.add_parser(
            "next", help="The next fire times of a spec.", parents=parents
        )
        nxt.add_argument("spec")
        nxt.add_argument("--count", type=int, default=5)
        nxt.add_argument("--timezone", default=None)
        prune = sub.add_parser(
            "prune", help="Delete finished runs older than a duration.", parents=parents
        )
        prune.add_argument(
            "--older-than", default=None, help="e.g. 30d (default RUN_RETENTION)."
        )
        status = sub.add_parser(
            "status",
            help="Live schedulers; exits 1 when none ticked recently (a liveness probe).",
            parents=parents,
        )
        status.add_argument(
            "--within",
            default="30s",
            help="How recent a tick must be to count as live (default 30s).",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except (BadInput, TogoSchedulerError, LookupError, ValueError) as exc:
            message = (
                exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            )
            # One line, whatever the message: scripts read the first line of stderr.
            self.stderr.write(
                f"scheduler {action}: {' '.join(str(message).splitlines())}"
            )
            raise SystemExit(2) from None

    def do_list(self, **options: Any) -> None:
        from django.db.models import OuterRef, Subquery

        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.models import Run, ScheduledJob
        from django_togo_scheduler.registry import registry

        default_tz = app_settings.TIMEZONE
        last_status = (
            Run.objects.filter(job=OuterRef("name"))
            .order_by("-id")
            .values("status")[:1]
        )
        jobs = ScheduledJob.objects.annotate(
            last_run_status=Subquery(last_status)
        ).order_by("name")
        rows = []
        for job in jobs:
            last = getattr(job, "last_run_status", None)
            tz = _zone(job.timezone or default_tz)
            state = "paused" if job.paused else "active"
            if not registry.is_registered(job.name):
                state += ", NO HANDLER"
            rows.append(
                (
                    job.name,
                    job.spec,
                    job.timezone or default_tz,
                    state,
                    _when(job.next_run_at, tz),
                    last,
                )
            )
        if not rows:
            self.stdout.write("No schedules.")
            return
        for line in format_table(
            ("NAME", "SPEC", "TIMEZONE", "STATE", "NEXT RUN", "LAST"), rows
        ):
            self.stdout.write(line)

    def do_runs(
        self, *, job: str | None, status: str | None, limit: int, **options: Any
    ) -> None:
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.models import Run
        from django_togo_scheduler.service import get_scheduler

        if status is not None and status not in Run.Status.values:
            raise BadInput(
                f"unknown status {status!r}; one of {', '.join(Run.Status.values)}"
            )
        if limit < 1:
            raise BadInput(f"--limit must be at least 1, not {limit}")
        tz = _zone(app_settings.TIMEZONE)
        rows = [
            (
                r.pk,
                r.job,
                r.status,
                r.trigger,
                _when(r.scheduled_for, tz),
                _when(r.started_at, tz),
                f"{r.duration.total_seconds():.3f}" if r.duration is not None else None,
                _last_line(r.error),
            )
            for r in get_scheduler().runs(job=job, status=status)[:limit]
        ]
        if not rows:
            self.stdout.write("No runs.")
            return
        headers = (
            "ID",
            "JOB",
            "STATUS",
            "TRIGGER",
            "SCHEDULED FOR",
            "STARTED",
            "SECONDS",
            "ERROR",
        )
        for line in format_table(headers, rows):
            self.stdout.write(line)

    def do_trigger(self, *, name: str, **options: Any) -> None:
        from django_togo_scheduler.models import Run
        from django_togo_scheduler.service import get_scheduler

        run = get_scheduler().trigger(name)
        if run.status == Run.Status.SKIPPED:
            self.stdout.write(
                f"Run #{run.pk} of {name} skipped: its previous run is still in flight."
            )
        else:
            self.stdout.write(
                f"Run #{run.pk} of {name} queued; the running scheduler picks it up."
            )

    def do_pause(self, *, name: str, reason: str | None, **options: Any) -> None:
        from django_togo_scheduler.service import get_scheduler

        get_scheduler().pause(name, reason=reason)
        self.stdout.write(f"Paused {name}.")

    def do_resume(self, *, name: str, **options: Any) -> None:
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.models import ScheduledJob
        from django_togo_scheduler.service import get_scheduler

        get_scheduler().resume(name)
        job = ScheduledJob.objects.get(name=name)
        tz = _zone(job.timezone or app_settings.TIMEZONE)
        self.stdout.write(f"Resumed {name}; next run {_when(job.next_run_at, tz)}.")

    def do_next(
        self, *, spec: str, count: int, timezone: str | None, **options: Any
    ) -> None:
        from django_togo_scheduler import clock
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.specs import fire_times, get_timezone

        if not 1 <= count <= 1000:
            raise BadInput(f"--count must be between 1 and 1000, not {count}")
        tz = get_timezone(timezone or app_settings.TIMEZONE)
        for at in fire_times(spec, clock.now(), tz, count):
            self.stdout.write(at.astimezone(tz).isoformat())

    def do_prune(self, *, older_than: str | None, **options: Any) -> None:
        from django_togo_scheduler import clock, engine
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.specs import parse_duration

        text = older_than or app_settings.RUN_RETENTION
        if not text:
            raise BadInput("no --older-than given and RUN_RETENTION is not set")
        deleted = engine.prune(clock.now(), parse_duration(text))
        self.stdout.write(
            f"Deleted {deleted} run(s) that finished more than {text} ago."
        )

    def do_status(self, *, within: str, **options: Any) -> None:
        from django_togo_scheduler import clock
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.processes import live_processes
        from django_togo_scheduler.specs import parse_duration

        now = clock.now()
        tz = _zone(app_settings.TIMEZONE)
        live = live_processes(now, parse_duration(within))
        if not live:
            self.stdout.write(f"No scheduler ticked within {within}.")
            raise SystemExit(1)
        rows = [
            (
                f"{p.host}:{p.pid}",
                _when(p.started_at, tz),
                _when(p.last_tick_at, tz),
                f"{(now - p.last_tick_at).total_seconds():.0f}s ago",
            )
            for p in live
        ]
        for line in format_table(("SCHEDULER", "STARTED", "LAST TICK", "AGE"), rows):
            self.stdout.write(line)
