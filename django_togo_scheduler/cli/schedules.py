"""``scheduler list | pause | resume | next``: schedules and specs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import OutputWrapper
from django.db.models import OuterRef, Subquery

from django_togo_scheduler import clock
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import registry
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.specs import fire_times, get_timezone

from .base import BadInput, Handler, Subparsers, format_table, when, zone


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    sub.add_parser(
        "list",
        help="The schedules, their state, next run and last status.",
        parents=parents,
    )
    pause = sub.add_parser(
        "pause", help="Stop a schedule from firing.", parents=parents
    )
    pause.add_argument("name")
    pause.add_argument("--reason", default=None)
    resume = sub.add_parser(
        "resume", help="Restart a paused schedule from its next slot.", parents=parents
    )
    resume.add_argument("name")
    nxt = sub.add_parser("next", help="The next fire times of a spec.", parents=parents)
    nxt.add_argument("spec")
    nxt.add_argument("--count", type=int, default=5)
    nxt.add_argument("--timezone", default=None)
    return {
        "list": do_list,
        "pause": do_pause,
        "resume": do_resume,
        "next": do_next,
    }


def do_list(out: OutputWrapper, **options: Any) -> None:
    """The schedules by name: spec, zone, state (paused, overdue, no handler), next, last."""
    default_tz = app_settings.TIMEZONE
    last_status = (
        Run.objects.filter(job=OuterRef("name")).order_by("-id").values("status")[:1]
    )
    jobs = ScheduledJob.objects.annotate(
        last_run_status=Subquery(last_status)
    ).order_by("name")
    rows = []
    for job in jobs:
        tz = zone(job.timezone or default_tz)
        rows.append(
            (
                job.name,
                job.spec,
                job.timezone or default_tz,
                _state(job, tz),
                when(job.next_run_at, tz),
                getattr(job, "last_run_status", None),
            )
        )
    if not rows:
        out.write("No schedules.")
        return
    for line in format_table(
        ("NAME", "SPEC", "TIMEZONE", "STATE", "NEXT RUN", "LAST"), rows
    ):
        out.write(line)


def _state(job: ScheduledJob, tz: Any) -> str:
    state = "paused" if job.paused else "active"
    if job.overdue_since is not None:
        state += f", overdue since {when(job.overdue_since, tz)}"
    if not registry.is_registered(job.name):
        state += ", NO HANDLER"
    return state


def do_pause(
    out: OutputWrapper, *, name: str, reason: str | None, **options: Any
) -> None:
    """Pause ``name``."""
    get_scheduler().pause(name, reason=reason)
    out.write(f"Paused {name}.")


def do_resume(out: OutputWrapper, *, name: str, **options: Any) -> None:
    """Resume ``name`` and say when it fires next."""
    get_scheduler().resume(name)
    job = ScheduledJob.objects.get(name=name)
    tz = zone(job.timezone or app_settings.TIMEZONE)
    out.write(f"Resumed {name}; next run {when(job.next_run_at, tz)}.")


def do_next(
    out: OutputWrapper, *, spec: str, count: int, timezone: str | None, **options: Any
) -> None:
    """The next ``count`` fire times of ``spec``, one a line."""
    if not 1 <= count <= 1000:
        raise BadInput(f"--count must be between 1 and 1000, not {count}")
    tz = get_timezone(timezone or app_settings.TIMEZONE)
    for at in fire_times(spec, clock.now(), tz, count):
        out.write(at.astimezone(tz).isoformat())
