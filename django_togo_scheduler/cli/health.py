"""``scheduler status | explain``: are schedulers alive, do runs start, is anything
overdue, why a slot went as it did."""

from __future__ import annotations

import json as json_module
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from django_togo_scheduler import clock
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.explain import explain
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from django_togo_scheduler.processes import LIVE_WITHIN, live_processes
from django_togo_scheduler.specs import parse_duration

from .base import Handler, Subparsers, format_table, when, zone

UNSTARTED_AFTER = "5m"  # default of --unstarted-after
LISTED = 10  # runs named per queue in the text output (--json lists up to 100)


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    status = sub.add_parser(
        "status",
        help="Live schedulers, abandoned inline threads, overdue schedules and runs "
        "handed out but never started; exits 1 when no scheduler ticked recently or "
        "runs go unstarted (a liveness probe).",
        parents=parents,
    )
    status.add_argument(
        "--within",
        default=f"{LIVE_WITHIN.seconds}s",
        help=f"How recent a tick must be to count as live (default {LIVE_WITHIN.seconds}s).",
    )
    status.add_argument(
        "--unstarted-after",
        default=UNSTARTED_AFTER,
        help="Exit 1 when a run was handed out (to an RQ queue or an inline pool) "
        f"longer than this ago and has not started (default {UNSTARTED_AFTER}).",
    )
    status.add_argument(
        "--fail-on-overdue",
        action="store_true",
        help="Exit 1 when a schedule is overdue (its max_age passed without a success).",
    )
    status.add_argument(
        "--json", action="store_true", help="Print one JSON object instead of text."
    )
    why = sub.add_parser(
        "explain",
        help="Why a job did or didn't run at a slot, and when it runs next.",
        parents=parents,
    )
    why.add_argument("name", help="The schedule's name.")
    why.add_argument(
        "--at",
        default=None,
        help="ISO 8601 time (naive: the schedule's zone); the slot at or before it. "
        "Default: now.",
    )
    return {"status": do_status, "explain": do_explain}


@dataclass
class Health:
    """What ``scheduler status`` reports."""

    now: datetime
    within: str
    unstarted_after: str
    schedulers: list[SchedulerProcess]
    overdue: list[tuple[str, datetime | None]]
    unstarted: list[Run]  # the oldest handed-out runs that have not started
    unstarted_count: int

    def problems(self, fail_on_overdue: bool) -> list[str]:
        """Why the probe fails; empty when it passes."""
        problems = []
        if not self.schedulers:
            problems.append(f"no scheduler ticked within {self.within}")
        if self.unstarted_count:
            problems.append(
                f"{self.unstarted_count} run(s) handed out more than "
                f"{self.unstarted_after} ago have not started"
            )
        if fail_on_overdue and self.overdue:
            problems.append(f"{len(self.overdue)} schedule(s) overdue")
        return problems


def health(now: datetime, within: str, unstarted_after: str) -> Health:
    """Read the schedulers' heartbeats, the overdue flags and the unstarted runs."""
    cutoff = now - parse_duration(unstarted_after)
    unstarted = Run.objects.filter(status=Run.Status.QUEUED, dispatched_at__lt=cutoff)
    return Health(
        now=now,
        within=within,
        unstarted_after=unstarted_after,
        schedulers=live_processes(now, parse_duration(within)),
        overdue=list(
            ScheduledJob.objects.filter(overdue_since__isnull=False)
            .order_by("name")
            .values_list("name", "overdue_since")
        ),
        unstarted=list(unstarted.order_by("id")[:100]),
        unstarted_count=unstarted.count(),
    )


def do_status(
    out: OutputWrapper,
    *,
    within: str,
    unstarted_after: str = UNSTARTED_AFTER,
    fail_on_overdue: bool,
    json: bool = False,
    **options: Any,
) -> None:
    """The probe: CommandError (exit status 1) naming what fails."""
    report = health(clock.now(), within, unstarted_after)
    tz = zone(app_settings.TIMEZONE)
    problems = report.problems(fail_on_overdue)
    lines = [as_json(report, tz, problems)] if json else text_lines(report, tz)
    for line in lines:
        out.write(line)
    if problems:
        raise CommandError("; ".join(problems), returncode=1)


def text_lines(report: Health, tz: Any) -> list[str]:
    """The report as text: the schedulers' table, then one line per finding."""
    now = report.now
    if report.schedulers:
        rows = [
            (
                str(p),
                when(p.started_at, tz),
                when(p.last_tick_at, tz),
                f"{(now - p.last_tick_at).total_seconds():.0f}s ago",
                p.abandoned_threads,
            )
            for p in report.schedulers
        ]
        headers = ("SCHEDULER", "STARTED", "LAST TICK", "AGE", "ABANDONED")
        lines = format_table(headers, rows)
    else:
        lines = [f"No scheduler ticked within {report.within}."]
    abandoned = [p for p in report.schedulers if p.abandoned_threads]
    if abandoned:
        lines.append(
            "Abandoned threads: "
            + ", ".join(f"{p} has {p.abandoned_threads}" for p in abandoned)
            + " (inline handlers still running past their timeout: they cannot be "
            "stopped; a restart of the scheduler frees them)"
        )
    if report.overdue:
        lines.append(
            "Overdue: "
            + ", ".join(
                f"{name} (since {when(since, tz)})" for name, since in report.overdue
            )
        )
    lines.extend(unstarted_lines(report))
    return lines


def unstarted_lines(report: Health) -> list[str]:
    """One line per queue (or the inline pools) whose handed-out runs do not start."""
    by_queue: dict[str, list[Run]] = defaultdict(list)
    for run in report.unstarted:
        by_queue[run.queue].append(run)
    lines = []
    for queue, runs in sorted(by_queue.items()):
        named = ", ".join(f"#{run.pk} {run.job}" for run in runs[:LISTED])
        more = f" and {len(runs) - LISTED} more" if len(runs) > LISTED else ""
        where, hint = (
            (f"RQ queue {queue!r}", "is an rqworker running for it?")
            if queue
            else ("inline", "the inline pool holding them is full or hung")
        )
        lines.append(
            f"Unstarted for more than {report.unstarted_after}: {where}: "
            f"{named}{more} ({hint})"
        )
    rest = report.unstarted_count - len(report.unstarted)
    if rest > 0:
        lines.append(f"Unstarted: {rest} more run(s) not listed.")
    return lines


def as_json(report: Health, tz: Any, problems: list[str]) -> str:
    """The report as one JSON object."""
    return json_module.dumps(
        {
            "healthy": not problems,
            "problems": problems,
            "schedulers": [
                {
                    "scheduler": str(p),
                    "host": p.host,
                    "pid": p.pid,
                    "started_at": when(p.started_at, tz),
                    "last_tick_at": when(p.last_tick_at, tz),
                    "age_seconds": round(
                        (report.now - p.last_tick_at).total_seconds(), 3
                    ),
                    "abandoned_threads": p.abandoned_threads,
                }
                for p in report.schedulers
            ],
            "overdue": [
                {"name": name, "since": when(since, tz)}
                for name, since in report.overdue
            ],
            "unstarted_count": report.unstarted_count,
            "unstarted": [
                {
                    "id": run.pk,
                    "job": run.job,
                    "queue": run.queue,
                    "dispatched_at": when(run.dispatched_at, tz),
                }
                for run in report.unstarted
            ],
        },
        indent=2,
    )


def do_explain(
    out: OutputWrapper, *, name: str, at: str | None, **options: Any
) -> None:
    """Why ``name`` did or didn't run at the slot at or before ``at``."""
    for line in explain(name, at, now=clock.now()).lines():
        out.write(line)
