"""``scheduler runs | prune``: run history, and removing what is no longer needed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import OutputWrapper

from django_togo_scheduler import clock, service
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.declared import prune_orphans
from django_togo_scheduler.models import Run
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.specs import parse_duration
from django_togo_scheduler.text import error_line

from .base import (
    BadInput,
    Handler,
    Subparsers,
    add_json_option,
    format_table,
    iso,
    text_or_none,
    when,
    write_json,
    zone,
)

RUN_HEADERS = (
    "ID",
    "JOB",
    "STATUS",
    "TRIGGER",
    "SCHEDULED FOR",
    "STARTED",
    "SECONDS",
    "ERROR",
)


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    runs = sub.add_parser("runs", help="Run history, newest first.", parents=parents)
    runs.add_argument("--job", help="Only this job's runs.")
    runs.add_argument(
        "--status",
        help=f"Only runs with this status: {', '.join(Run.Status.values)}.",
    )
    runs.add_argument(
        "--limit", type=int, default=20, help="How many runs (default 20)."
    )
    add_json_option(runs)
    prune = sub.add_parser(
        "prune",
        help="Delete finished runs older than a duration; with --orphans, the "
        "orphaned schedules instead.",
        parents=parents,
    )
    prune.add_argument(
        "--older-than",
        default=None,
        help="A duration, e.g. 30d (default RUN_RETENTION; with --orphans, default: "
        "every orphaned schedule, however recent).",
    )
    prune.add_argument(
        "--orphans",
        action="store_true",
        help="Delete the orphaned schedules (declared schedules that the code of "
        "the last scheduler to start does not declare) now; their run history "
        "stays. Finished runs are not pruned then.",
    )
    return {"runs": do_runs, "prune": do_prune}


def do_runs(
    out: OutputWrapper,
    *,
    job: str | None,
    status: str | None,
    limit: int,
    json: bool = False,
    **options: Any,
) -> None:
    """Run history, newest first, as a table (or JSON)."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    runs = get_scheduler().runs(job=job, status=status)  # ValueError: bad status
    tz = zone(app_settings.TIMEZONE)
    if json:
        write_json(out, [_as_json(run, tz) for run in runs[:limit]])
        return
    rows = [
        (
            r.pk,
            r.job,
            r.status,
            r.trigger,
            when(r.scheduled_for, tz),
            when(r.started_at, tz),
            f"{r.duration.total_seconds():.3f}" if r.duration is not None else None,
            error_line(r.error, 80),
        )
        for r in runs[:limit]
    ]
    if not rows:
        out.write("No runs.")
        return
    for line in format_table(RUN_HEADERS, rows):
        out.write(line)


def _as_json(run: Run, tz: Any) -> dict[str, Any]:
    # The keys are documented in docs/commands.md: keep them stable.
    duration = run.duration
    return {
        "id": run.pk,
        "job": run.job,
        "status": run.status,
        "trigger": run.trigger,
        "scheduled_for": iso(run.scheduled_for, tz),
        "created_at": iso(run.created_at, tz),
        "started_at": iso(run.started_at, tz),
        "finished_at": iso(run.finished_at, tz),
        "duration": duration.total_seconds() if duration is not None else None,
        "queue": text_or_none(run.queue),
        "worker": text_or_none(run.worker),
        "error": text_or_none(run.error),
    }


def do_prune(
    out: OutputWrapper,
    *,
    older_than: str | None,
    orphans: bool = False,
    **options: Any,
) -> None:
    """Delete finished runs older than ``older_than`` (default RUN_RETENTION),
    or with ``orphans`` the orphaned schedules."""
    if orphans:
        _prune_orphans(out, older_than)
        return
    text = older_than or app_settings.RUN_RETENTION
    if not text:
        raise BadInput("no --older-than given and RUN_RETENTION is not set")
    deleted = service.prune(clock.now(), parse_duration(text))
    out.write(f"Deleted {deleted} run(s) that finished more than {text} ago.")


def _prune_orphans(out: OutputWrapper, older_than: str | None) -> None:
    age = parse_duration(older_than) if older_than else None
    names = prune_orphans(clock.now(), age)
    which = f" orphaned more than {older_than} ago" if older_than else ""
    if not names:
        out.write(f"Deleted 0 orphaned schedule(s){which}.")
        return
    out.write(
        f"Deleted {len(names)} orphaned schedule(s){which}: {', '.join(names)}. "
        "Their run history stays."
    )
