"""Overdue schedules: ``max_age`` exceeded since the last successful run.

A schedule with ``max_age`` (e.g. ``"2h"``) is overdue when its last ``done`` run
finished more than ``max_age`` ago, or, if it never succeeded, when it was created
more than ``max_age`` ago. An *episode* starts when it becomes overdue and ends
with the next successful run (or when it is paused or loses its ``max_age``).
``overdue_since`` on the schedule marks the episode, and ``schedule_overdue`` is
sent once per episode: the update that sets ``overdue_since`` is guarded on it
being null, so of two schedulers checking at once only one sends the signal.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery

from .exceptions import InvalidDuration
from .models import Run, ScheduledJob
from .signals import schedule_overdue
from .specs import parse_duration

logger = logging.getLogger(__name__)

CHECK_EVERY = timedelta(
    seconds=30
)  # how often a scheduler loop checks for overdue schedules


def overdue_deadline(job: ScheduledJob, last_success_at: datetime | None) -> datetime:
    """When ``job`` becomes overdue, given its last success (or its creation)."""
    return (last_success_at or job.created_at) + parse_duration(job.max_age)


def check_overdue(now: datetime) -> list[ScheduledJob]:
    """Start and end overdue episodes as of ``now``; return the schedules overdue now.

    One query reads the candidates (active schedules with a ``max_age``, and any
    schedule still marked overdue) with their last success; rows are written only
    when an episode starts or ends.
    """
    overdue: list[ScheduledJob] = []
    for job in _candidates():
        last_success_at: datetime | None = getattr(job, "last_success_at", None)
        deadline = _deadline_or_none(job, last_success_at)
        if deadline is not None and now > deadline:
            if job.overdue_since is None:
                _start_episode(job, deadline, last_success_at)
            overdue.append(job)
        elif job.overdue_since is not None:
            _end_episode(job)
    return overdue


def _candidates() -> list[ScheduledJob]:
    last_success = (
        Run.objects.filter(
            job=OuterRef("name"), status=Run.Status.DONE, finished_at__isnull=False
        )
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    # Those still marked overdue are read too, so a pause or a removed max_age
    # ends their episode. The partial index togo_job_overdue_candidates holds
    # just these rows, in name order: no scan of the table, no sort.
    return list(
        ScheduledJob.objects.overdue_candidates()
        .annotate(last_success_at=Subquery(last_success))
        .order_by("name")
    )


def _deadline_or_none(
    job: ScheduledJob, last_success_at: datetime | None
) -> datetime | None:
    if job.paused or not job.max_age:
        return None
    try:
        return overdue_deadline(job, last_success_at)
    except InvalidDuration:
        # Written around the service's validation (raw SQL, an old row): say so
        # and treat the schedule as having no max_age.
        logger.warning(
            "Schedule %r has an invalid max_age %r; it is not checked for being overdue.",
            job.name,
            job.max_age,
            extra={"job": job.name},
        )
        return None


def _start_episode(
    job: ScheduledJob, deadline: datetime, last_success_at: datetime | None
) -> None:
    started = ScheduledJob.objects.filter(pk=job.pk, overdue_since__isnull=True).update(
        overdue_since=deadline
    )
    job.overdue_since = deadline
    if not started:
        return  # another scheduler started this episode and sent the signal
    logger.warning(
        "Schedule %r is overdue: no successful run within max_age %s (since %s).",
        job.name,
        job.max_age,
        deadline.isoformat(),
        extra={"job": job.name},
    )
    # Receivers run in the scheduler loop: one that raises must not stop it
    # (send_robust logs its exception on the "django.dispatch" logger).
    schedule_overdue.send_robust(
        sender=ScheduledJob, schedule=job, last_success_at=last_success_at
    )


def _end_episode(job: ScheduledJob) -> None:
    ScheduledJob.objects.filter(pk=job.pk).update(overdue_since=None)
    job.overdue_since = None
    logger.info("Schedule %r is no longer overdue.", job.name, extra={"job": job.name})
