"""Why did (or didn't) a schedule fire at a slot? The logic of ``scheduler explain``.

:func:`explain` reads the schedule, the run recorded for the slot (if any), the
runs after it and the scheduler heartbeats, and returns an :class:`Explanation`:
plain data with a :meth:`~Explanation.lines` rendering, so the command and the
admin show the same. It writes nothing.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django_togo_scheduler import clock
from django_togo_scheduler.exceptions import UnknownJob
from django_togo_scheduler.models import Run, ScheduledJob

from .decisions import ALIVE_MARGIN, unevaluable, with_run, without_run
from .result import Explanation
from .view import NEXT_COUNT, POLICY, ScheduleView

__all__ = [
    "ALIVE_MARGIN",
    "NEXT_COUNT",
    "POLICY",
    "Explanation",
    "explain",
    "parse_at",
]


def parse_at(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 time; a naive one is read in ``tz``. ValueError if unreadable."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: expected ISO 8601, e.g. 2026-03-29T02:30 "
            "or 2026-03-29T02:30:00+02:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def explain(
    name: str, at: datetime | str | None = None, *, now: datetime | None = None
) -> Explanation:
    """Explain the slot of schedule ``name`` at or before ``at`` (default: now).

    ``at`` may be an ISO 8601 string (naive: the schedule's zone). Raises
    :class:`~django_togo_scheduler.UnknownJob` (a ``LookupError``) for an
    unknown schedule and ``ValueError`` for a bad time. A schedule whose spec or
    zone cannot be evaluated is explained, not an error.
    """
    now = now or clock.now()
    job = ScheduledJob.objects.filter(name=name).first()
    if job is None:
        raise UnknownJob(f"There is no schedule named {name!r}.")
    view = ScheduleView.read(job, now)
    if at is None:
        at = now
    elif isinstance(at, str):
        at = parse_at(at, view.tz)
    slot: datetime | None = None
    run: Run | None = None
    plan = view.pending_plan()
    if view.spec is None or view.problem:
        decision, reason = unevaluable(view)
        what = "spec" if view.spec is None else "time zone"
        no_next = f"none: the {what} cannot be evaluated"
    else:
        slot = view.spec.last_at_or_before(at, view.tz)
        run = Run.objects.filter(job=name, scheduled_for=slot).first()
        if run is not None:
            decision, reason = with_run(run)
        else:
            decision, reason = without_run(view, slot, plan)
        no_next = "none while paused"
    return Explanation(
        name=name,
        spec=job.spec,
        zone=view.zone,
        tz=view.tz,
        catchup=job.catchup,
        paused=job.paused,
        at=at,
        slot=slot,
        decision=decision,
        reason=reason,
        run=run,
        next_times=view.upcoming(),
        overdue_since=job.overdue_since,
        orphaned_at=job.orphaned_at,
        due=view.due_text(plan),
        no_next=no_next,
    )
