"""``scheduler status | explain``: are schedulers alive, is anything overdue, why a slot went as it did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import OutputWrapper

from django_togo_scheduler import clock
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.explain import explain
from django_togo_scheduler.models import ScheduledJob
from django_togo_scheduler.processes import live_processes
from django_togo_scheduler.specs import parse_duration

from .base import Handler, Subparsers, format_table, when, zone


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    status = sub.add_parser(
        "status",
        help="Live schedulers and overdue schedules; exits 1 when no scheduler "
        "ticked recently (a liveness probe).",
        parents=parents,
    )
    status.add_argument(
        "--within",
        default="30s",
        help="How recent a tick must be to count as live (default 30s).",
    )
    status.add_argument(
        "--fail-on-overdue",
        action="store_true",
        help="Exit 1 when a schedule is overdue (its max_age passed without a success).",
    )
    why = sub.add_parser(
        "explain",
        help="Why a job did or didn't run at a slot, and when it runs next.",
        parents=parents,
    )
    why.add_argument("name")
    why.add_argument(
        "--at",
        default=None,
        help="ISO 8601 time (naive: the schedule's zone); the slot at or before it. "
        "Default: now.",
    )
    return {"status": do_status, "explain": do_explain}


def do_status(
    out: OutputWrapper, *, within: str, fail_on_overdue: bool, **options: Any
) -> None:
    """Live schedulers and overdue schedules; SystemExit(1) for a failing probe."""
    now = clock.now()
    tz = zone(app_settings.TIMEZONE)
    live = live_processes(now, parse_duration(within))
    if live:
        rows = [
            (
                f"{p.host}:{p.pid}",
                when(p.started_at, tz),
                when(p.last_tick_at, tz),
                f"{(now - p.last_tick_at).total_seconds():.0f}s ago",
            )
            for p in live
        ]
        for line in format_table(("SCHEDULER", "STARTED", "LAST TICK", "AGE"), rows):
            out.write(line)
    else:
        out.write(f"No scheduler ticked within {within}.")
    overdue = overdue_line(tz)
    if overdue:
        out.write(overdue)
    if not live or (fail_on_overdue and overdue):
        raise SystemExit(1)


def overdue_line(tz: Any) -> str:
    """``Overdue: a (since ...), b (since ...)``, or "" when nothing is overdue."""
    marked: list[tuple[str, datetime | None]] = list(
        ScheduledJob.objects.filter(overdue_since__isnull=False)
        .order_by("name")
        .values_list("name", "overdue_since")
    )
    if not marked:
        return ""
    return "Overdue: " + ", ".join(
        f"{name} (since {when(since, tz)})" for name, since in marked
    )


def do_explain(
    out: OutputWrapper, *, name: str, at: str | None, **options: Any
) -> None:
    """Why ``name`` did or didn't run at the slot at or before ``at``."""
    for line in explain(name, at, now=clock.now()).lines():
        out.write(line)
