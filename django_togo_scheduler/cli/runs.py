"""``scheduler runs | prune``: run history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import OutputWrapper

from django_togo_scheduler import clock, engine
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.specs import parse_duration

from .base import BadInput, Handler, Subparsers, format_table, last_line, when, zone

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
    runs.add_argument("--status", help="Only runs with this status.")
    runs.add_argument(
        "--limit", type=int, default=20, help="How many runs (default 20)."
    )
    prune = sub.add_parser(
        "prune", help="Delete finished runs older than a duration.", parents=parents
    )
    prune.add_argument(
        "--older-than", default=None, help="e.g. 30d (default RUN_RETENTION)."
    )
    return {"runs": do_runs, "prune": do_prune}


def do_runs(
    out: OutputWrapper,
    *,
    job: str | None,
    status: str | None,
    limit: int,
    **options: Any,
) -> None:
    """Run history, newest first, as a table."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    runs = get_scheduler().runs(job=job, status=status)  # ValueError: bad status
    tz = zone(app_settings.TIMEZONE)
    rows = [
        (
            r.pk,
            r.job,
            r.status,
            r.trigger,
            when(r.scheduled_for, tz),
            when(r.started_at, tz),
            f"{r.duration.total_seconds():.3f}" if r.duration is not None else None,
            last_line(r.error),
        )
        for r in runs[:limit]
    ]
    if not rows:
        out.write("No runs.")
        return
    for line in format_table(RUN_HEADERS, rows):
        out.write(line)


def do_prune(out: OutputWrapper, *, older_than: str | None, **options: Any) -> None:
    """Delete finished runs older than ``older_than`` (default RUN_RETENTION)."""
    text = older_than or app_settings.RUN_RETENTION
    if not text:
        raise BadInput("no --older-than given and RUN_RETENTION is not set")
    deleted = engine.prune(clock.now(), parse_duration(text))
    out.write(f"Deleted {deleted} run(s) that finished more than {text} ago.")
