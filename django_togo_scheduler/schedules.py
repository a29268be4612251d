"""The one place schedules are written: created or replaced, paused, resumed.

The Service API, the declared-schedule sync, the system checks, the admin form
and the testing helper all come here: options are normalised once
(:func:`normalise_options`), a schedule's first slot is computed once
(:func:`first_slot`), and a pause always records why, by whom and when.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from .conf import app_settings
from .exceptions import UnknownJob
from .locking import write_transaction
from .models import Catchup, ScheduledJob
from .registry import SCHEDULE_OPTIONS
from .specs import get_timezone, parse_duration, parse_spec, validate_spec

logger = logging.getLogger(__name__)

BY_SCHEDULER = "scheduler"  # who paused a schedule the engine cannot evaluate

MAX_TIMEOUT = 365 * 24 * 3600  # seconds: a year, well inside the column's range


def normalise_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate schedule options; return them as ScheduledJob field values."""
    unknown = set(options) - SCHEDULE_OPTIONS
    if unknown:
        raise ValueError(f"Schedule {name!r}: unknown options {sorted(unknown)}.")
    fields: dict[str, Any] = {
        "timezone": options.get("timezone") or "",
        "queue": options.get("queue") or "",
        "timeout": options.get("timeout"),
        "catchup": options.get("catchup") or Catchup.LATEST,
        "max_age": options.get("max_age") or "",
    }
    if fields["timezone"]:
        get_timezone(fields["timezone"])
    timeout = fields["timeout"]
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int)
        or not 1 <= timeout <= MAX_TIMEOUT
    ):
        raise ValueError(
            f"Schedule {name!r}: timeout must be a number of seconds from 1 to "
            f"{MAX_TIMEOUT}, not {timeout!r}."
        )
    if fields["catchup"] not in Catchup.values:
        raise ValueError(
            f"Schedule {name!r}: catchup must be one of {Catchup.values}, not {fields['catchup']!r}."
        )
    if fields["max_age"]:
        parse_duration(fields["max_age"])
    if not isinstance(fields["queue"], str) or len(fields["queue"]) > 100:
        raise ValueError(
            f"Schedule {name!r}: queue must be a queue name (a string of at most "
            f"100 characters), not {str(fields['queue'])[:40]!r}."
        )
    return fields


def zone_name(timezone: str) -> str:
    """The zone a schedule is read in: its own, or else the ``TIMEZONE`` setting."""
    return timezone or app_settings.TIMEZONE


def schedule_zone(timezone: str) -> ZoneInfo:
    """:func:`zone_name` as a zone; ``InvalidTimezone`` when zoneinfo has no such zone."""
    return get_timezone(zone_name(timezone))


def first_slot(spec: str, timezone: str, now: datetime) -> datetime:
    """The first fire time of a schedule created, changed or resumed at ``now``."""
    return parse_spec(spec).next_after(now, schedule_zone(timezone))


def upsert_schedule(
    name: str,
    spec: str,
    options: dict[str, Any],
    now: datetime,
    *,
    declared: bool = False,
    source: str = "",
) -> ScheduledJob:
    """Create or update the schedule ``name``, keeping ``paused`` as it is.

    ``next_run_at`` is recomputed only when the spec or zone changed: a
    re-declared, unchanged schedule keeps its pending slot. An orphaned
    schedule (see :mod:`~django_togo_scheduler.declared`) is one no more.
    """
    spec = validate_spec(spec)
    fields = normalise_options(name, options)
    with write_transaction(ScheduledJob):
        job = ScheduledJob.objects.select_for_update().filter(name=name).first()
        if job is None:
            job = ScheduledJob(name=name)
        fields["declared"] = declared
        fields["source"] = source
        if job.orphaned_at is not None:
            logger.info(
                "Schedule %r is defined again; no longer orphaned.",
                name,
                extra={"job": name},
            )
        fields["orphaned_at"] = None
        moved = (
            job._state.adding or job.spec != spec or job.timezone != fields["timezone"]
        )
        changed = moved or any(
            getattr(job, key) != value for key, value in fields.items()
        )
        job.spec = spec
        for key, value in fields.items():
            setattr(job, key, value)
        if moved:
            job.next_run_at = first_slot(spec, job.timezone, now)
        if changed:
            job.save()
    return job


def pause(
    schedules: QuerySet[ScheduledJob], reason: str, by: str, now: datetime
) -> int:
    """Pause ``schedules`` (no slot fires until resumed), saying why and by whom."""
    return schedules.update(
        paused=True, paused_reason=reason, paused_by=by, paused_at=now, updated_at=now
    )


def pause_named(name: str, reason: str, by: str, now: datetime) -> None:
    """Pause the schedule ``name``; ``UnknownJob`` when there is none."""
    if not pause(ScheduledJob.objects.filter(name=name), reason, by, now):
        raise UnknownJob(f"There is no schedule named {name!r}.")


def resume(name: str, now: datetime) -> ScheduledJob:
    """Fire ``name`` again from its next slot after ``now``; missed slots are not
    replayed. ``UnknownJob`` when there is no schedule named ``name``."""
    with write_transaction(ScheduledJob):
        job = ScheduledJob.objects.select_for_update().filter(name=name).first()
        if job is None:
            raise UnknownJob(f"There is no schedule named {name!r}.")
        if job.paused:
            _clear_pause(job)
            job.next_run_at = first_slot(job.spec, job.timezone, now)
            job.save()
    return job


def lift_pause(schedules: QuerySet[ScheduledJob]) -> int:
    """Clear the pause of ``schedules`` and leave their next slot as it is (the
    testing helper's schedules it left out of a simulation)."""
    return schedules.update(
        paused=False, paused_reason="", paused_by="", paused_at=None
    )


def restart(job: ScheduledJob, now: datetime) -> None:
    """Move ``job``'s next slot to its first one after ``now``."""
    job.next_run_at = first_slot(job.spec, job.timezone, now)
    ScheduledJob.objects.filter(pk=job.pk).update(next_run_at=job.next_run_at)


def edit(
    job: ScheduledJob,
    changed: Collection[str],
    *,
    created: bool,
    by: str,
    now: datetime,
) -> None:
    """Prepare ``job``, edited in a form (``changed``: its changed fields), for its save.

    A new schedule, or a changed spec or zone, starts from its first slot after
    ``now``. Unpausing in the form is a resume: the slots missed while paused
    are not replayed (API.md), so the schedule restarts from its next slot too.
    """
    resumed = "paused" in changed and not job.paused
    if created or resumed or {"spec", "timezone"} & set(changed):
        job.next_run_at = first_slot(job.spec, job.timezone, now)
    if resumed:
        _clear_pause(job)
    elif "paused" in changed:
        job.paused_by, job.paused_at = by, now


def _clear_pause(job: ScheduledJob) -> None:
    job.paused = False
    job.paused_reason = job.paused_by = ""
    job.paused_at = None
