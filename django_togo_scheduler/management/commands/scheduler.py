"""``manage.py scheduler``: inspect and operate schedules from the shell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...exceptions import TogoSchedulerError


class BadInput(Exception):
    """Input the command rejects with exit status 2 and a one-line message."""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a plain text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["-" if c is None or c == "" else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _when(value: datetime | None, tz: Any) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else "-"


def _last_line(text: str) -> str:
    # A traceback's last line names the exception; enough for a table cell.
    lines = text.strip().splitlines()
    return lines[-1][:80] if lines else ""


class Command(BaseCommand):
    help = "Inspect and operate schedules: list, runs, trigger, pause, resume, next, prune."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="The schedules, their next run and last status.")
        runs = sub.add_parser("runs", help="Run history, newest first.")
        runs.add_argument("--job", help="Only this job's runs.")
        runs.add_argument("--status", help="Only runs with this status.")
        runs.add_argument("--limit", type=int, default=20, help="How many runs (default 20).")
        trigger = sub.add_parser("trigger", help="Run a job now, outside its schedule.")
        trigger.add_argument("name")
        pause = sub.add_parser("pause", help="Stop a schedule from firing.")
        pause.add_argument("name")
        pause.add_argument("--reason", default=None)
        resume = sub.add_parser("resume", help="Restart a paused schedule from its next slot.")
        resume.add_argument("name")
        nxt = sub.add_parser("next", help="The next fire times of a spec.")
        nxt.add_argument("spec")
        nxt.add_argument("--count", type=int, default=5)
        nxt.add_argument("--timezone", default=None)
        prune = sub.add_parser("prune", help="Delete finished runs older than a duration.")
        prune.add_argument("--older-than", default=None, help="e.g. 30d (default RUN_RETENTION).")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except (BadInput, TogoSchedulerError, LookupError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self.stderr.write(f"scheduler {action}: {message}")
            raise SystemExit(2) from None

    def do_list(self, **options: Any) -> None:
        from ...conf import app_settings
        from ...models import Run, ScheduledJob
        from ...registry import registry
        from ...specs import get_timezone

        default_tz = app_settings.TIMEZONE
        rows = []
        for job in ScheduledJob.objects.order_by("name"):
            last = Run.objects.filter(job=job.name).order_by("-id").values_list("status", flat=True).first()
            tz = get_timezone(job.timezone or default_tz)
            state = "paused" if job.paused else "active"
            if not registry.is_registered(job.name):
                state += ", NO HANDLER"
            rows.append((job.name, job.spec, job.timezone or default_tz, state, _when(job.next_run_at, tz), last))
        if not rows:
            self.stdout.write("No schedules.")
            return
        for line in format_table(("NAME", "SPEC", "TIMEZONE", "STATE", "NEXT RUN", "LAST"), rows):
            self.stdout.write(line)

    def do_runs(self, *, job: str | None, status: str | None, limit: int, **options: Any) -> None:
        from ...models import Run
        from ...service import get_scheduler

        if status is not None and status not in Run.Status.values:
            raise BadInput(f"unknown status {status!r}; one of {', '.join(Run.Status.values)}")
        if limit < 1:
            raise BadInput(f"--limit must be at least 1, not {limit}")
        rows = [
            (
                r.pk,
                r.job,
                r.status,
                r.trigger,
                _when(r.scheduled_for, None),
                _when(r.started_at, None),
                f"{r.duration.total_seconds():.3f}" if r.duration is not None else None,
                _last_line(r.error),
            )
            for r in get_scheduler().runs(job=job, status=status)[:limit]
        ]
        if not rows:
            self.stdout.write("No runs.")
            return
        headers = ("ID", "JOB", "STATUS", "TRIGGER", "SCHEDULED FOR", "STARTED", "SECONDS", "ERROR")
        for line in format_table(headers, rows):
            self.stdout.write(line)

    def do_trigger(self, *, name: str, **options: Any) -> None:
        from ...models import Run
        from ...service import get_scheduler

        run = get_scheduler().trigger(name)
        if run.status == Run.Status.SKIPPED:
            self.stdout.write(f"Run #{run.pk} of {name} skipped: its previous run is still in flight.")
        else:
            self.stdout.write(f"Run #{run.pk} of {name} queued; the running scheduler picks it up.")

    def do_pause(self, *, name: str, reason: str | None, **options: Any) -> None:
        from ...service import get_scheduler

        get_scheduler().pause(name, reason=reason)
        self.stdout.write(f"Paused {name}.")

    def do_resume(self, *, name: str, **options: Any) -> None:
        from ...models import ScheduledJob
        from ...service import get_scheduler

        get_scheduler().resume(name)
        next_run_at = ScheduledJob.objects.get(name=name).next_run_at
        self.stdout.write(f"Resumed {name}; next run {_when(next_run_at, None)}.")

    def do_next(self, *, spec: str, count: int, timezone: str | None, **options: Any) -> None:
        from ... import clock
        from ...conf import app_settings
        from ...specs import fire_times, get_timezone

        if not 1 <= count <= 1000:
            raise BadInput(f"--count must be between 1 and 1000, not {count}")
        tz = get_timezone(timezone or app_settings.TIMEZONE)
        for at in fire_times(spec, clock.now(), tz, count):
            self.stdout.write(at.astimezone(tz).isoformat())

    def do_prune(self, *, older_than: str | None, **options: Any) -> None:
        from ... import clock, engine
        from ...conf import app_settings
        from ...specs import parse_duration

        text = older_than or app_settings.RUN_RETENTION
        if not text:
            raise BadInput("no --older-than given and RUN_RETENTION is not set")
        deleted = engine.prune(clock.now(), parse_duration(text))
        self.stdout.write(f"Deleted {deleted} run(s) that finished more than {text} ago.")
