"""``scheduler list | pause | resume | next``: schedules and specs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import OutputWrapper
from django.db.models import OuterRef, Subquery

from django_togo_scheduler import clock
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import registry
from django_togo_scheduler.schedules import schedule_zone, zone_name
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.specs import fire_times

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


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    listing = sub.add_parser(
        "list",
        help="The schedules, their state (paused and why, overdue, orphaned, no "
        "handler), next run and last status.",
        parents=parents,
    )
    add_json_option(listing)
    pause = sub.add_parser(
        "pause", help="Stop a schedule from firing.", parents=parents
    )
    pause.add_argument("name", help="The schedule's name.")
    pause.add_argument(
        "--reason", default=None, help="Why it is paused (shown by list and the admin)."
    )
    resume = sub.add_parser(
        "resume", help="Restart a paused schedule from its next slot.", parents=parents
    )
    resume.add_argument("name", help="The schedule's name.")
    nxt = sub.add_parser("next", help="The next fire times of a spec.", parents=parents)
    nxt.add_argument("spec", help='A spec, e.g. "*/5 * * * *", @daily, "@every 90m".')
    nxt.add_argument(
        "--count",
        type=int,
        default=5,
        help="How many fire times, 1 to 1000 (default 5).",
    )
    nxt.add_argument(
        "--timezone",
        default=None,
        help="The zone to evaluate the spec in (default: the TIMEZONE setting).",
    )
    return {
        "list": do_list,
        "pause": do_pause,
        "resume": do_resume,
        "next": do_next,
    }


def do_list(out: OutputWrapper, *, json: bool = False, **options: Any) -> None:
    """The schedules by name: spec, zone, state, next run (none while paused), last status."""
    default_tz = app_settings.TIMEZONE
    last_status = (
        Run.objects.filter(job=OuterRef("name")).order_by("-id").values("status")[:1]
    )
    jobs = list(
        ScheduledJob.objects.annotate(last_run_status=Subquery(last_status)).order_by(
            "name"
        )
    )
    if json:
        write_json(out, [_as_json(job, default_tz) for job in jobs])
        return
    if not jobs:
        out.write("No schedules.")
        return
    rows = []
    for job in jobs:
        tz = zone(job.timezone or default_tz)
        rows.append(
            (
                job.name,
                job.spec,
                job.timezone or default_tz,
                _state(job, tz),
                None if job.paused else when(job.next_run_at, tz),
                getattr(job, "last_run_status", None),
            )
        )
    for line in format_table(
        ("NAME", "SPEC", "TIMEZONE", "STATE", "NEXT RUN", "LAST"), rows
    ):
        out.write(line)


def _state(job: ScheduledJob, tz: Any) -> str:
    state = "active"
    if job.paused:
        reason = " ".join(job.paused_reason.split())
        state = "paused" + (f": {reason}" if reason else "")
        state += f" (by {job.paused_by})" if job.paused_by else ""
    if job.overdue_since is not None:
        state += f", overdue since {when(job.overdue_since, tz)}"
    if job.orphaned_at is not None:
        state += f", orphaned since {when(job.orphaned_at, tz)}"
    if not registry.is_registered(job.name):
        state += ", NO HANDLER"
    return state


def _as_json(job: ScheduledJob, default_tz: str) -> dict[str, Any]:
    # The keys are documented in docs/commands.md: keep them stable.
    tz = zone(job.timezone or default_tz)
    return {
        "name": job.name,
        "spec": job.spec,
        "timezone": job.timezone or default_tz,
        "paused": job.paused,
        "paused_reason": text_or_none(job.paused_reason) if job.paused else None,
        "paused_by": text_or_none(job.paused_by) if job.paused else None,
        "paused_at": iso(job.paused_at, tz) if job.paused else None,
        "next_run_at": None if job.paused else iso(job.next_run_at, tz),
        "last_status": getattr(job, "last_run_status", None),
        "overdue_since": iso(job.overdue_since, tz),
        "orphaned_at": iso(job.orphaned_at, tz),
        "has_handler": registry.is_registered(job.name),
        "declared": job.declared,
        "source": text_or_none(job.source),
        "queue": text_or_none(job.queue),
        "timeout": job.timeout,
        "catchup": job.catchup,
        "max_age": text_or_none(job.max_age),
    }


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
    tz = zone(zone_name(job.timezone))
    out.write(f"Resumed {name}; next run {when(job.next_run_at, tz)}.")


def do_next(
    out: OutputWrapper, *, spec: str, count: int, timezone: str | None, **options: Any
) -> None:
    """The next ``count`` fire times of ``spec``, one a line."""
    if not 1 <= count <= 1000:
        raise BadInput(f"--count must be between 1 and 1000, not {count}")
    tz = schedule_zone(timezone or "")
    for at in fire_times(spec, clock.now(), tz, count):
        out.write(at.astimezone(tz).isoformat())
