"""The tick: claim due slots, record their runs, dispatch them, repair what broke.

Three invariants carry every guarantee (docs/architecture.md):

1. a slot is claimed once: due schedules are read under a lock (``SKIP LOCKED``,
   or SQLite's write lock) and their ``next_run_at`` advanced in the same
   transaction; the unique constraint on ``(job, scheduled_for)`` backs it up;
2. the database is the outbox: runs are committed before anything is dispatched,
   and every queued run not yet handed to a dispatcher is found again by
   :func:`dispatch_pending`, whoever recorded it;
3. execution is guarded: see :mod:`django_togo_scheduler.execution`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F

from . import clock
from .conf import app_settings
from .exceptions import TogoSchedulerError
from .locking import lock_rows, write_transaction
from .models import Run, ScheduledJob
from .planning import Plan, plan_due
from .registry import registry
from .specs import get_timezone, parse_duration, parse_spec

if TYPE_CHECKING:
    from .dispatch.base import Dispatcher

logger = logging.getLogger(__name__)

CLAIM_BATCH = 500  # schedules claimed per transaction
DISPATCH_BATCH = 1000  # pending runs handed to dispatchers per transaction
SKIP_REASON = "skipped: the previous run of this job is still in flight"


@dataclass
class EngineState:
    """What one scheduler process remembers between ticks."""

    last_tick: datetime | None = None
    unknown_logged: set[str] = field(default_factory=set)


def tick(
    now: datetime | None = None,
    *,
    dispatcher: Dispatcher | None = None,
    state: EngineState | None = None,
) -> list[Run]:
    """One pass: record every due slot up to ``now``, dispatch, repair; return new runs."""
    from .reconcile import reconcile
    from .service import get_scheduler

    now = now or clock.now()
    service = get_scheduler()
    state = state if state is not None else service.state
    dispatcher = dispatcher or service.dispatcher
    # Repair first, so a dead worker's run no longer blocks this tick's slots.
    reconcile(now, dispatcher)
    created = claim_due(now, state)
    dispatch_pending(now, dispatcher)
    state.last_tick = now
    return created


def claim_due(now: datetime, state: EngineState) -> list[Run]:
    """Claim every due schedule in batches and record the runs of its slots."""
    created: list[Run] = []
    while True:
        claimed, runs = _claim_batch(now, state)
        created.extend(runs)
        # A short batch means nothing else was due; a schedule still catching up
        # (catchup="all", capped per tick) continues on the next tick.
        if claimed < CLAIM_BATCH:
            return created


def _claim_batch(now: datetime, state: EngineState) -> tuple[int, list[Run]]:
    with write_transaction(ScheduledJob) as alias:
        due = ScheduledJob.objects.using(alias).due(now)
        if state.unknown_logged:
            due = due.exclude(name__in=state.unknown_logged)
        jobs = list(lock_rows(due.order_by("next_run_at")[:CLAIM_BATCH], alias))
        if not jobs:
            return 0, []
        plans = _plan_jobs(jobs, now, state)
        _advance(alias, jobs, plans)
        runs = _build_runs(alias, jobs, plans, now)
        created = _insert_runs(alias, runs)
    _send_skipped(created)
    return len(jobs), created


def _plan_jobs(
    jobs: list[ScheduledJob], now: datetime, state: EngineState
) -> dict[int, Plan]:
    plans: dict[int, Plan] = {}
    window_text = app_settings.CATCHUP_WINDOW
    window = parse_duration(window_text) if window_text else None
    on_time_since = state.last_tick or now
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
        try:
            spec = parse_spec(job.spec)
            tz = get_timezone(job.timezone or app_settings.TIMEZONE)
        except TogoSchedulerError:
            logger.exception("Schedule %r cannot be evaluated; pausing it.", job.name)
            job.paused = True
            continue
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
                on_time_since=on_time_since,
                window=window,
            )
        if plan.missed:
            logger.info(
                "Schedule %r missed %d slot(s) while no scheduler ran (catchup=%s).",
                job.name,
                plan.missed,
                job.catchup,
                extra={"job": job.name},
            )
        plans[job.pk] = plan
    return plans


def _advance(alias: str, jobs: list[ScheduledJob], plans: dict[int, Plan]) -> None:
    # Schedules sharing their next slot are advanced in one UPDATE: a burst of
    # thousands of "* * * * *" schedules is one statement, not thousands.
    groups: dict[datetime, list[int]] = {}
    for pk, plan in plans.items():
        groups.setdefault(plan.next_run_at, []).append(pk)
    for next_run_at, pks in groups.items():
        ScheduledJob.objects.using(alias).filter(pk__in=pks).update(
            next_run_at=next_run_at, updated_at=clock.now()
        )
    broken = [job.pk for job in jobs if job.paused]
    if broken:
        ScheduledJob.objects.using(alias).filter(pk__in=broken).update(
            paused=True,
            paused_reason="the spec or time zone cannot be evaluated",
            paused_by="scheduler",
            paused_at=clock.now(),
        )


def _build_runs(
    alias: str, jobs: list[ScheduledJob], plans: dict[int, Plan], now: datetime
) -> list[Run]:
    from .dispatch import resolve_queue

    names = [job.name for job in jobs if job.pk in plans]
    busy = set(
        Run.objects.using(alias)
        .in_flight()
        .filter(job__in=names)
        .values_list("job", flat=True)
    )
    runs: list[Run] = []
    for job in jobs:
        plan = plans.get(job.pk)
        if plan is None:
            continue
        queue = resolve_queue(job.queue)
        in_flight = job.name in busy
        for slot in plan.slots:
            # Under catchup="all" the runs of a catch-up batch wait for each
            # other; otherwise a slot whose job is in flight is recorded skipped.
            waits = job.catchup == "all" and len(plan.slots) > 1
            skipped = in_flight and not waits
            runs.append(
                Run(
                    job=job.name,
                    scheduled_for=slot.at,
                    trigger=Run.Trigger.CATCHUP
                    if slot.catchup
                    else Run.Trigger.SCHEDULE,
                    status=Run.Status.SKIPPED if skipped else Run.Status.QUEUED,
                    error=SKIP_REASON if skipped else "",
                    finished_at=now if skipped else None,
                    timeout=job.timeout,
                    queue=queue,
                )
            )
            in_flight = in_flight or not skipped
    return runs


def _insert_runs(alias: str, runs: list[Run]) -> list[Run]:
    if not runs:
        return []
    try:
        with transaction.atomic(using=alias):
            return Run.objects.using(alias).bulk_create(runs)
    except IntegrityError:
        # Only a clock far out of step between hosts gets here: some slot was
        # recorded already. Insert one by one and leave the existing rows be.
        created = []
        for run in runs:
            try:
                with transaction.atomic(using=alias):
                    run.save(using=alias)
            except IntegrityError:
                logger.warning(
                    "Slot %s of %r was already recorded; not firing it again.",
                    run.scheduled_for,
                    run.job,
                    extra={"job": run.job},
                )
                continue
            created.append(run)
        return created


def _send_skipped(runs: list[Run]) -> None:
    from .signals import run_skipped

    for run in runs:
        if run.status == Run.Status.SKIPPED:
            logger.info(
                "Run %s of %r skipped: previous run still in flight.",
                run.pk,
                run.job,
                extra={"job": run.job, "run_id": run.pk, "slot": run.scheduled_for},
            )
            run_skipped.send(sender=Run, run=run)


def dispatch_pending(now: datetime, dispatcher: Dispatcher) -> list[Run]:
    """Hand every queued, undispatched run to its dispatcher (the outbox sweep).

    A job's runs go one at a time: a run waits while an earlier run of its job is
    dispatched and unfinished, so catch-up runs follow each other in order.
    """
    handed: list[Run] = []
    after = 0  # the outbox is walked once per sweep, by id: nothing is looked at twice
    while True:
        with write_transaction(Run) as alias:
            pending = Run.objects.using(alias).filter(
                status=Run.Status.QUEUED, dispatched_at__isnull=True, pk__gt=after
            )
            batch = list(lock_rows(pending.order_by("id")[:DISPATCH_BATCH], alias))
            if not batch:
                break
            after = batch[-1].pk
            ready = _ready_runs(alias, batch)
            Run.objects.using(alias).filter(pk__in=[r.pk for r in ready]).update(
                dispatched_at=now,
                heartbeat_at=now,
                dispatch_count=F("dispatch_count") + 1,
            )
        for run in ready:
            run.dispatched_at = run.heartbeat_at = now
            run.dispatch_count += 1
        if ready:
            dispatcher.dispatch(ready)
            handed.extend(ready)
        if len(batch) < DISPATCH_BATCH:
            break
    return handed


def dispatch_now(run: Run, now: datetime, dispatcher: Dispatcher) -> bool:
    """Hand one queued run to ``dispatcher`` at once (a manual trigger through RQ)."""
    applied = Run.objects.filter(
        pk=run.pk, status=Run.Status.QUEUED, dispatched_at__isnull=True
    ).update(
        dispatched_at=now, heartbeat_at=now, dispatch_count=F("dispatch_count") + 1
    )
    if applied:
        run.dispatched_at = run.heartbeat_at = now
        run.dispatch_count += 1
        dispatcher.dispatch([run])
    return bool(applied)


def _ready_runs(alias: str, batch: list[Run]) -> list[Run]:
    jobs = {run.job for run in batch}
    busy = set(
        Run.objects.using(alias)
        .filter(job__in=jobs, dispatched_at__isnull=False)
        .in_flight()
        .values_list("job", flat=True)
    )
    ready = []
    for run in batch:
        if run.job not in busy:
            ready.append(run)
            busy.add(run.job)
    return ready


def prune(now: datetime, older_than: timedelta) -> int:
    """Delete finished runs that ended before ``now - older_than``; return how many."""
    cutoff = now - older_than
    total = 0
    while True:
        pks = list(
            Run.objects.finished()
            .filter(finished_at__lt=cutoff)
            .values_list("pk", flat=True)[:5000]
        )
        if not pks:
            return total
        total += Run.objects.filter(pk__in=pks).delete()[0]
