"""Why did (or didn't) a schedule fire at a slot? The logic of ``scheduler explain``.

:func:`explain` reads the schedule, the run recorded for the slot (if any) and the
scheduler heartbeats, and returns an :class:`Explanation`: plain data with a
:meth:`~Explanation.lines` rendering, so the command and the admin show the same.
It writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from . import clock
from .conf import app_settings
from .models import Run, ScheduledJob, SchedulerProcess
from .processes import FORGET_AFTER, HEARTBEAT_EVERY, live_processes
from .registry import registry
from .specs import get_timezone, parse_duration, parse_spec

NEXT_COUNT = 3  # upcoming fire times shown
LIVE_WITHIN = timedelta(seconds=30)  # a scheduler that ticked this recently is live
# A scheduler counts as running at an instant when it had started and ticked no
# earlier than this before it (it beats every HEARTBEAT_EVERY).
ALIVE_MARGIN = 2 * HEARTBEAT_EVERY
POLICY = {
    "latest": "catchup=latest fires only the most recent missed slot when a scheduler starts",
    "none": "catchup=none drops the slots missed while no scheduler ran",
    "all": "catchup=all replays missed slots, but none older than CATCHUP_WINDOW ({window})",
}


@dataclass(frozen=True)
class Explanation:
    """What happened (or will happen) at one slot of a schedule, and why."""

    name: str
    spec: str
    zone: str
    tz: tzinfo = field(repr=False)
    catchup: str
    paused: bool
    at: datetime  # the moment asked about
    slot: datetime  # the latest slot at or before ``at``
    decision: str  # a few words: "ran", "skipped (overlap)", "scheduler down", ...
    reason: str  # one sentence
    run: Run | None
    next_times: list[datetime]  # the upcoming fire times (empty while paused)
    overdue_since: datetime | None = None

    def lines(self) -> list[str]:
        """The explanation as the lines ``scheduler explain`` prints."""
        state = [self.zone, f"catchup={self.catchup}"]
        if self.paused:
            state.append("paused")
        if self.overdue_since is not None:
            state.append(f"overdue since {self._when(self.overdue_since)}")
        if self.next_times:
            upcoming = ", ".join(self._when(at) for at in self.next_times)
        else:
            upcoming = "none while paused"
        return [
            f"Schedule: {self.name}  {self.spec}  ({', '.join(state)})",
            f"At:       {self._when(self.at)}",
            f"Slot:     {self._when(self.slot)}",
            f"Decision: {self.decision}",
            f"Reason:   {self.reason}",
            f"Run:      {self._run_text()}",
            f"Next:     {upcoming}",
        ]

    def _when(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).isoformat(timespec="seconds") if value else "-"

    def _run_text(self) -> str:
        run = self.run
        if run is None:
            return "none recorded for this slot"
        text = (
            f"#{run.pk} {run.status}, trigger {run.trigger}, "
            f"started {self._when(run.started_at)}, finished {self._when(run.finished_at)}"
        )
        summary = error_summary(run.error)
        return f"{text}, error: {summary}" if summary else text


def error_summary(error: str) -> str:
    """One line of a run's error: a traceback's last line, else the first line."""
    lines = error.strip().splitlines()
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


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
    ``LookupError`` for an unknown schedule and ``ValueError`` for a bad time.
    """
    now = now or clock.now()
    job = ScheduledJob.objects.filter(name=name).first()
    if job is None:
        raise LookupError(f"There is no schedule named {name!r}.")
    zone = job.timezone or app_settings.TIMEZONE
    tz = get_timezone(zone)
    if at is None:
        at = now
    elif isinstance(at, str):
        at = parse_at(at, tz)
    spec = parse_spec(job.spec)
    slot = spec.last_at_or_before(at, tz)
    run = Run.objects.filter(job=name, scheduled_for=slot).first()
    if run is not None:
        decision, reason = _with_run(run)
    else:
        decision, reason = _without_run(job, slot, now, tz)
    return Explanation(
        name=name,
        spec=job.spec,
        zone=zone,
        tz=tz,
        catchup=job.catchup,
        paused=job.paused,
        at=at,
        slot=slot,
        decision=decision,
        reason=reason,
        run=run,
        next_times=_upcoming(job, tz, now),
        overdue_since=job.overdue_since,
    )


def _with_run(run: Run) -> tuple[str, str]:
    if run.status == Run.Status.SKIPPED:
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
        return "ran, failed", f"{how}; the run failed: {error_summary(run.error)}"
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


def _without_run(
    job: ScheduledJob, slot: datetime, now: datetime, tz: tzinfo
) -> tuple[str, str]:
    if slot > now:
        if job.paused:
            return "paused", f"the schedule is paused{_pause_text(job, tz)}"
        return "not yet due", "the slot is still in the future"
    if job.next_run_at is None or job.next_run_at <= slot:
        return _pending(job, now, tz)
    return _passed(job, slot, now, tz)


def _pending(job: ScheduledJob, now: datetime, tz: tzinfo) -> tuple[str, str]:
    # The schedule has not moved past the slot: nothing has claimed it yet.
    if job.paused:
        return "paused", f"the schedule is paused{_pause_text(job, tz)}"
    if not registry.is_registered(job.name):
        return (
            "handler missing",
            "no handler is registered under this name (in this process); a scheduler "
            "without one leaves the slot due for one that has it",
        )
    if not live_processes(now, LIVE_WITHIN):
        last = SchedulerProcess.objects.order_by("-last_tick_at").first()
        since = f"since {_iso(last.last_tick_at, tz)}" if last else "ever"
        return (
            "scheduler down",
            f"the slot is due but no scheduler has ticked {since}; it fires when one "
            f"starts (catchup={job.catchup})",
        )
    return "due", "a scheduler is running and fires the slot at its next tick"


def _passed(
    job: ScheduledJob, slot: datetime, now: datetime, tz: tzinfo
) -> tuple[str, str]:
    # The schedule moved past the slot and no run is recorded for it.
    if slot < job.created_at:
        return (
            "not scheduled yet",
            f"the schedule was created at {_iso(job.created_at, tz)}, after this slot",
        )
    if job.paused and job.paused_at is not None and job.paused_at <= slot:
        return "paused", f"the schedule was paused{_pause_text(job, tz)}"
    retention = app_settings.RUN_RETENTION
    if retention and slot < now - parse_duration(retention):
        return (
            "no run recorded",
            f"the slot is older than RUN_RETENTION ({retention}): its run may have been pruned",
        )
    alive = (
        SchedulerProcess.objects.filter(
            started_at__lte=slot, last_tick_at__gte=slot - ALIVE_MARGIN
        )
        .order_by("started_at")
        .first()
    )
    if alive is not None:
        return (
            "not fired",
            f"scheduler {alive} was running but recorded no run: the schedule was "
            "paused, or its spec or time zone changed, at that time",
        )
    return "missed", _missed_reason(job, slot, now, tz)


def _missed_reason(job: ScheduledJob, slot: datetime, now: datetime, tz: tzinfo) -> str:
    heard = "no scheduler was running at the slot (no heartbeat covers it"
    if slot < now - FORGET_AFTER:
        heard += "; heartbeats of schedulers silent for a day are forgotten"
    policy = POLICY.get(job.catchup, f"catchup={job.catchup}").format(
        window=app_settings.CATCHUP_WINDOW or "no limit"
    )
    later = (
        Run.objects.filter(job=job.name, scheduled_for__gt=slot)
        .order_by("scheduled_for")
        .first()
    )
    text = f"{heard}); {policy}"
    if later is not None and later.scheduled_for is not None:
        text += (
            f"; the next slot recorded is {_iso(later.scheduled_for, tz)} "
            f"(run #{later.pk}, {later.trigger}, {later.status})"
        )
    return text


def _iso(value: datetime, tz: tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds")


def _pause_text(job: ScheduledJob, tz: tzinfo) -> str:
    parts = []
    if job.paused_at is not None:
        parts.append(f" at {_iso(job.paused_at, tz)}")
    if job.paused_by:
        parts.append(f" by {job.paused_by}")
    if job.paused_reason:
        parts.append(f": {job.paused_reason}")
    return "".join(parts)


def _upcoming(job: ScheduledJob, tz: tzinfo, now: datetime) -> list[datetime]:
    if job.paused:
        return []
    spec = parse_spec(job.spec)
    first = job.next_run_at or spec.next_after(now, tz)
    times = [first]
    for at in spec.iter_after(first, tz):
        if len(times) == NEXT_COUNT:
            break
        times.append(at)
    return times
