"""The decision about one slot, and its reason: from its run, or from what the
schedule, the runs after the slot and the scheduler heartbeats say."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q

from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.engine.planning import Plan
from django_togo_scheduler.models import Run, SchedulerProcess
from django_togo_scheduler.processes import (
    FORGET_AFTER,
    HEARTBEAT_EVERY,
    LIVE_WITHIN,
    live_processes,
)
from django_togo_scheduler.registry import registry
from django_togo_scheduler.specs import parse_duration
from django_togo_scheduler.text import error_line
from django_togo_scheduler.transitions import SUPERSEDED, SUPERSEDED_UNTAKEN

from .view import ScheduleView

# A scheduler counts as running at an instant when it had started, had not
# stopped, and ticked no earlier than this before it (it beats every
# HEARTBEAT_EVERY).
ALIVE_MARGIN = 2 * HEARTBEAT_EVERY
# A running loop records a slot's run within milliseconds of the slot (it
# claims 50 ms ahead); a run recorded later than this came after a stall.
RECORDED_LATE = timedelta(seconds=1)


def with_run(run: Run) -> tuple[str, str]:
    """The decision and reason of a slot that has a run."""
    if run.status == Run.Status.SKIPPED:
        if run.error in (SUPERSEDED, SUPERSEDED_UNTAKEN):
            return "skipped (superseded)", run.error
        blocker = _blocker(run)
        where = f" (run #{blocker.pk} was in flight)" if blocker else ""
        return "skipped (overlap)", f"{run.error or 'skipped'}{where}"
    if run.status == Run.Status.QUEUED:
        if run.dispatched_at is None:
            return "queued", "recorded, waiting for a scheduler to hand it to a worker"
        where = f"queue {run.queue!r}" if run.queue else "the inline pool"
        return "queued", f"handed to {where}; not started yet"
    if run.status == Run.Status.RUNNING:
        return "running", f"running on {run.worker or 'an unknown worker'}"
    how = (
        "fired late, as a catch-up of a missed slot"
        if run.trigger == Run.Trigger.CATCHUP
        else "fired at its slot"
    )
    if run.status == Run.Status.FAILED:
        return "ran, failed", f"{how}; the run failed: {error_line(run.error)}"
    return "ran", f"{how}; the run succeeded"


def _blocker(run: Run) -> Run | None:
    # The run of the same job that was in flight when this slot was skipped.
    skipped_at = run.finished_at
    if skipped_at is None:
        return None
    return (
        Run.objects.filter(job=run.job, pk__lt=run.pk)
        .exclude(status=Run.Status.SKIPPED)
        .exclude(finished_at__lt=skipped_at)
        .order_by("-pk")
        .first()
    )


def without_run(
    view: ScheduleView, slot: datetime, plan: Plan | None
) -> tuple[str, str]:
    """The decision and reason of a slot no run was recorded for."""
    job = view.job
    if slot > view.now:
        if job.paused:
            return "paused", f"the schedule is paused{_pause_text(view)}"
        return "not yet due", "the slot is still in the future"
    if job.next_run_at is None or job.next_run_at <= slot:
        return _pending(view, slot, plan)
    return _passed(view, slot)


def _pending(view: ScheduleView, slot: datetime, plan: Plan | None) -> tuple[str, str]:
    # The schedule has not moved past the slot: nothing has claimed it yet.
    job = view.job
    if job.paused:
        return "paused", f"the schedule is paused{_pause_text(view)}"
    if not registry.is_registered(job.name):
        return (
            "handler missing",
            "no handler is registered under this name (in this process); a scheduler "
            "without one leaves the slot due for one that has it",
        )
    fate = view.fate(slot, plan)
    if not live_processes(view.now, LIVE_WITHIN):
        last = SchedulerProcess.objects.order_by("-last_tick_at").first()
        since = f"since {view.iso(last.last_tick_at)}" if last else "ever"
        return (
            "scheduler down",
            f"the slot is due but no scheduler has ticked {since}; the first tick "
            f"{fate}",
        )
    return "due", f"a scheduler is running; its next tick {fate}"


def _passed(view: ScheduleView, slot: datetime) -> tuple[str, str]:
    # The schedule moved past the slot and no run is recorded for it.
    job = view.job
    if slot < job.created_at:
        return (
            "not scheduled yet",
            f"the schedule was created at {view.iso(job.created_at)}, after this slot",
        )
    if job.paused and job.paused_at is not None and job.paused_at <= slot:
        return "paused", f"the schedule was paused{_pause_text(view)}"
    retention = app_settings.RUN_RETENTION
    if retention and slot < view.now - parse_duration(retention):
        return (
            "no run recorded",
            f"the slot is older than RUN_RETENTION ({retention}): its run may have been pruned",
        )
    alive = (
        SchedulerProcess.objects.filter(
            Q(stopped_at__isnull=True) | Q(stopped_at__gte=slot),
            started_at__lte=slot,
            last_tick_at__gte=slot - ALIVE_MARGIN,
        )
        .order_by("started_at")
        .first()
    )
    if alive is None:
        return "missed", _missed_reason(view, slot)
    seen = _first_seen(view, slot)
    if seen is not None and seen[0] - slot > view.grace:
        return (
            "missed",
            f"scheduler {alive} was alive, but no tick saw the slot within "
            f"{view.grace_text()}: it could not tick (the database unreachable, the "
            f"machine suspended, the process stopped); {seen[1]}; {view.policy()}",
        )
    return (
        "not fired",
        f"scheduler {alive} was running but recorded no run: the schedule was "
        "paused, or its spec or time zone changed, at that time",
    )


def _first_seen(view: ScheduleView, slot: datetime) -> tuple[datetime, str] | None:
    """When the tick that moved the schedule past ``slot`` came, if the runs say.

    The run recorded next after the slot tells: when it was recorded more than
    ``MISFIRE_GRACE`` after the slot, and late for its own slot too, it was
    recorded by the first tick after a stall. A run recorded at its own slot
    says nothing about the slot before it (a pause would look the same).
    """
    later = _next_recorded(view, slot)
    if later is None or later.scheduled_for is None:
        return None
    if later.created_at - later.scheduled_for <= RECORDED_LATE:
        return None
    return (
        later.created_at,
        f"the next run, #{later.pk} for {view.iso(later.scheduled_for)}, was "
        f"recorded late, at {view.iso(later.created_at)}",
    )


def _next_recorded(view: ScheduleView, slot: datetime) -> Run | None:
    return (
        Run.objects.filter(job=view.job.name, scheduled_for__gt=slot)
        .order_by("scheduled_for")
        .first()
    )


def _missed_reason(view: ScheduleView, slot: datetime) -> str:
    heard = "no scheduler was running at the slot (no heartbeat covers it"
    if slot < view.now - FORGET_AFTER:
        heard += "; heartbeats of schedulers silent for a day are forgotten"
    text = f"{heard}); {view.policy()}"
    later = _next_recorded(view, slot)
    if later is not None and later.scheduled_for is not None:
        text += (
            f"; the next slot recorded is {view.iso(later.scheduled_for)} "
            f"(run #{later.pk}, {later.trigger}, {later.status})"
        )
    return text


def _pause_text(view: ScheduleView) -> str:
    job = view.job
    parts = []
    if job.paused_at is not None:
        parts.append(f" at {view.iso(job.paused_at)}")
    if job.paused_by:
        parts.append(f" by {job.paused_by}")
    if job.paused_reason:
        parts.append(f": {job.paused_reason}")
    return "".join(parts)


def unevaluable(view: ScheduleView) -> tuple[str, str]:
    """The decision and reason for a schedule whose spec or zone is broken."""
    job = view.job
    if not job.paused:
        return (
            "cannot be evaluated",
            f"{view.problem}; no slot can fire, and the next tick of a scheduler "
            "pauses the schedule",
        )
    when = f" at {view.iso(job.paused_at)}" if job.paused_at is not None else ""
    by = f" by {job.paused_by}" if job.paused_by else ""
    other = job.paused_reason if job.paused_reason != view.problem else ""
    why = f" ({other})" if other else ""
    return (
        "cannot be evaluated",
        f"{view.problem}; the schedule was paused{when}{by}{why}: correct it, "
        "then resume the schedule",
    )
