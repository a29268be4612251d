"""A schedule as ``explain`` sees it at ``now``: its spec and zone (or what is
wrong with them), its upcoming times, and what the next tick does with the slots
due now, as the engine's own plan (:func:`~django_togo_scheduler.planning.plan_due`)
decides it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.engine.planning import Plan, plan_due
from django_togo_scheduler.exceptions import InvalidSpec, InvalidTimezone
from django_togo_scheduler.models import ScheduledJob
from django_togo_scheduler.schedules import zone_name
from django_togo_scheduler.specs import Spec, get_timezone, parse_duration, parse_spec
from django_togo_scheduler.text import iso_in

NEXT_COUNT = 3  # upcoming fire times shown
POLICY = {
    "latest": "catchup=latest fires only the most recent missed slot",
    "none": "catchup=none drops the slots missed while no scheduler ticked",
    "all": "catchup=all replays missed slots, but none older than CATCHUP_WINDOW ({window})",
}


@dataclass(frozen=True)
class ScheduleView:
    """A schedule, its parsed spec and zone, and the settings that judge its slots."""

    job: ScheduledJob
    now: datetime
    zone: str
    tz: tzinfo  # UTC when the zone cannot be evaluated
    spec: Spec | None  # None when the spec cannot be evaluated
    problem: str  # what cannot be evaluated, as the engine's pause reason says it
    grace: timedelta  # MISFIRE_GRACE
    window: timedelta | None  # CATCHUP_WINDOW

    @classmethod
    def read(cls, job: ScheduledJob, now: datetime) -> ScheduleView:
        """The view of ``job`` at ``now``; a broken spec or zone is not an error."""
        zone = zone_name(job.timezone)
        spec: Spec | None = None
        problem = ""
        try:
            spec = parse_spec(job.spec)
        except InvalidSpec as exc:
            problem = f"the spec cannot be evaluated: {exc}"
        try:
            tz: tzinfo = get_timezone(zone)
        except InvalidTimezone as exc:
            tz = UTC
            problem = problem or f"the time zone cannot be evaluated: {exc}"
        window_text = app_settings.CATCHUP_WINDOW
        return cls(
            job=job,
            now=now,
            zone=zone,
            tz=tz,
            spec=spec,
            problem=problem,
            grace=parse_duration(app_settings.MISFIRE_GRACE),
            window=parse_duration(window_text) if window_text else None,
        )

    def iso(self, value: datetime) -> str:
        """``value`` in the schedule's zone, ISO 8601 to the second."""
        return iso_in(value, self.tz)

    def policy(self) -> str:
        """The catch-up policy in words."""
        return POLICY.get(self.job.catchup, f"catchup={self.job.catchup}").format(
            window=app_settings.CATCHUP_WINDOW or "no limit"
        )

    def grace_text(self) -> str:
        """``MISFIRE_GRACE (10s)``."""
        return f"MISFIRE_GRACE ({app_settings.MISFIRE_GRACE})"

    def pending_plan(self) -> Plan | None:
        """What the next tick records of the slots due now (None: nothing due)."""
        job = self.job
        if self.spec is None or self.problem or job.paused:
            return None
        if job.next_run_at is None or job.next_run_at > self.now:
            return None
        return plan_due(
            self.spec,
            self.tz,
            due_at=job.next_run_at,
            now=self.now,
            policy=job.catchup,
            grace=self.grace,
            window=self.window,
        )

    def upcoming(self) -> list[datetime]:
        """The next ``NEXT_COUNT`` fire times after now (none while paused)."""
        job, spec = self.job, self.spec
        if job.paused or spec is None or self.problem:
            return []
        if job.next_run_at is not None and job.next_run_at > self.now:
            first = job.next_run_at
        else:  # due already (no tick since): what comes after now
            first = spec.next_after(self.now, self.tz)
        times = [first]
        for at in spec.iter_after(first, self.tz):
            if len(times) == NEXT_COUNT:
                break
            times.append(at)
        return times

    def due_text(self, plan: Plan | None) -> str:
        """The slots due now and what the next tick does with them, in words."""
        if plan is None or self.job.next_run_at is None or self.spec is None:
            return ""
        first = self.job.next_run_at
        recorded = [slot.at for slot in plan.slots]
        count = len(recorded) + plan.missed
        newest = max(first, self.spec.last_at_or_before(self.now, self.tz))
        due = self.iso(first) if count <= 1 else (
            f"{count} slots, {self.iso(first)} to {self.iso(newest)}"
        )  # fmt: skip
        if not recorded:
            action = "records none of them"
        elif len(recorded) == 1:
            action = f"records {self.iso(recorded[0])}"
        else:
            action = (
                f"records {len(recorded)}, {self.iso(recorded[0])} to "
                f"{self.iso(recorded[-1])}"
            )
            if self.job.catchup == "all":
                action += ", run one after another"
        if plan.missed:
            action += (
                f" and drops {plan.missed} missed (older than {self.grace_text()}; "
                f"{self.policy()})"
            )
        return f"{due}: the next tick {action}"

    def fate(self, slot: datetime, plan: Plan | None) -> str:
        """What the next tick does with ``slot``, a slot due now."""
        if plan is None:
            return "fires it"
        planned = next((p for p in plan.slots if p.at == slot), None)
        if planned is not None:
            if self.now - slot <= self.grace:
                return "fires it"
            if self.job.catchup != "all":
                return "fires it: the most recent missed slot (catchup=latest)"
            if planned.catchup:
                return (
                    "fires it as a catch-up, after the older missed slots (catchup=all)"
                )
            return "fires it, after the older missed slots (catchup=all)"
        if self.now - slot <= self.grace:  # beyond the slots one tick records
            return "fires it at a later tick (a tick records at most 500 slots)"
        if self.job.catchup == "all":
            return f"drops it: it is older than CATCHUP_WINDOW ({app_settings.CATCHUP_WINDOW})"
        return (
            f"drops it: it is older than {self.grace_text()}, missed; {self.policy()}"
        )
