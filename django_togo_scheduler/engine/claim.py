"""The claim: read the due schedules under a lock, plan their slots, advance them
and record the runs, in one transaction per batch; then hand the runs over.

The first invariant of :mod:`django_togo_scheduler.engine` lives here: a slot is
claimed once. Due schedules are read under a lock (``SKIP LOCKED``, or SQLite's
write lock) and their ``next_run_at`` advanced (:mod:`.advance`) in the same
transaction that records their runs (:mod:`.recording`); the unique constraint
on ``(job, scheduled_for)`` backs it up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from django.db import IntegrityError

from django_togo_scheduler import clock, faults, schedules
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.locking import write_transaction
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import registry
from django_togo_scheduler.specs import Spec, parse_duration, parse_spec

from . import due, recording
from .advance import advance
from .due import lock_due
from .inserting import insert_runs
from .planning import Plan, plan_due
from .state import DueJob

if TYPE_CHECKING:
    from django_togo_scheduler.dispatch.base import Dispatcher

    from .state import EngineState

logger = logging.getLogger(__name__)


def claim_due(
    now: datetime,
    state: EngineState,
    dispatcher: Dispatcher,
    hand_over_at: datetime | None = None,
) -> list[Run]:
    """Claim every due schedule in batches and record the runs of its slots.

    A run free to start (its job has nothing else in flight) is recorded as
    dispatched in the claim's own transaction and handed to ``dispatcher`` as
    soon as that transaction commits (or, with ``hand_over_at``, once the clock
    reaches that instant); the outbox sweep is left with the runs that wait (a
    catch-up chain) and with whatever a crash or an outage kept from being
    handed over.
    """
    created: list[Run] = []
    while True:
        claimed, runs = _claim_batch(now, state)
        created.extend(runs)
        ready = [run for run in runs if run.dispatched_at is not None]
        if ready:
            if hand_over_at is not None:
                wait_until(hand_over_at)
            dispatcher.dispatch(ready)
        # A short batch means nothing else was due; a schedule still catching up
        # (catchup="all", capped per tick) continues on the next tick.
        if claimed < due.CLAIM_BATCH:
            return created


def wait_until(instant: datetime) -> None:
    """Sleep until the clock reads ``instant`` (at once if it is past)."""
    delay = (instant - clock.now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def _claim_batch(now: datetime, state: EngineState) -> tuple[int, list[Run]]:
    try:
        return _claim_batch_once(now, state, insert_runs)
    except IntegrityError:
        # Only a clock far out of step between hosts gets here: some slot was
        # recorded already. The batch rolled back whole; claim it again,
        # inserting run by run and leaving the existing rows be.
        return _claim_batch_once(now, state, recording.record_one_by_one)


def _claim_batch_once(
    now: datetime,
    state: EngineState,
    insert: Callable[[str, list[Run]], list[Run]],
) -> tuple[int, list[Run]]:
    with write_transaction(ScheduledJob) as alias:
        jobs = lock_due(alias, now, state.unknown_logged)
        if not jobs:
            return 0, []
        plans = _plan_jobs(jobs, now, state)
        advance(alias, jobs, plans, now)
        overlap = recording.overlap(alias, jobs, plans, now)
        runs = recording.build_runs(jobs, plans, overlap, now)
        faults.point("insert", runs)
        created = insert(alias, runs)
    recording.report(created, overlap.superseded)
    return len(jobs), created


def _plan_jobs(
    jobs: list[DueJob], now: datetime, state: EngineState
) -> dict[int, Plan]:
    plans: dict[int, Plan] = {}
    window_text = app_settings.CATCHUP_WINDOW
    window = parse_duration(window_text) if window_text else None
    grace = parse_duration(app_settings.MISFIRE_GRACE)
    shared: dict[tuple[object, ...], Plan] = {}
    for job in jobs:
        if not registry.is_registered(job.name):
            # Leave the row due for a process that has the handler (a rolling
            # deploy); this process stops looking at it.
            logger.warning(
                "Schedule %r has no registered handler; it does not fire here.",
                job.name,
                extra={"job": job.name},
            )
            state.unknown_logged.add(job.name)
            continue
        evaluated = _evaluate(job)
        if evaluated is None:
            continue
        spec, tz = evaluated
        assert job.next_run_at is not None  # due() filtered on it
        # Schedules sharing spec, zone, slot and policy share their plan: a
        # burst of thousands of "* * * * *" schedules is planned once.
        key = (spec, tz, job.next_run_at, job.catchup)
        plan = shared.get(key)
        if plan is None:
            plan = shared[key] = plan_due(
                spec,
                tz,
                due_at=job.next_run_at,
                now=now,
                policy=job.catchup,
                grace=grace,
                window=window,
            )
        if plan.missed:
            logger.info(
                "Schedule %r missed %d slot(s) while no scheduler ticked (catchup=%s).",
                job.name,
                plan.missed,
                job.catchup,
                extra={"job": job.name},
            )
        plans[job.pk] = plan
    return plans


def _evaluate(job: DueJob) -> tuple[Spec, tzinfo] | None:
    """The parsed spec and zone of ``job``; None, with ``job.problem`` saying
    which of the two is wrong and why, when either cannot be evaluated."""
    try:
        spec = parse_spec(job.spec)
    except TogoSchedulerError as exc:
        job.problem = f"the spec cannot be evaluated: {exc}"
    else:
        try:
            return spec, schedules.schedule_zone(job.timezone)
        except TogoSchedulerError as exc:
            job.problem = f"the time zone cannot be evaluated: {exc}"
    logger.error(
        "Schedule %r: %s; pausing it.", job.name, job.problem, extra={"job": job.name}
    )
    return None
