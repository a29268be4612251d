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
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, models
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import clock, recording
from .advance import advance
from .conf import app_settings
from .exceptions import TogoSchedulerError
from .locking import lock_rows, write_transaction
from .models import Run, ScheduledJob
from .planning import Plan, plan_due
from .registry import registry
from .specs import Spec, get_timezone, parse_duration, parse_spec

if TYPE_CHECKING:
    from .dispatch.base import Dispatcher
    from .engine import EngineState

logger = logging.getLogger(__name__)

CLAIM_BATCH = 500  # schedules claimed per transaction


# What the claim reads of a due schedule.
PLANNED_FIELDS = (
    "name",
    "spec",
    "timezone",
    "next_run_at",
    "catchup",
    "queue",
    "timeout",
    "paused",
)


# What the claim reads of each due schedule, in this order (see DueJob).
DUE_COLUMNS = ("pk", *PLANNED_FIELDS, "busy")


@dataclass(slots=True)
class DueJob:
    """A due schedule as the claim reads it: ``DUE_COLUMNS``, no model instance.

    Building 500 ``ScheduledJob`` instances per batch (a raw query's model
    machinery) cost three times the query itself; the claim needs these fields
    and whether a run of the job is in flight (``busy``).
    """

    pk: int
    name: str
    spec: str
    timezone: str
    next_run_at: datetime | None
    catchup: str
    queue: str
    timeout: int | None
    paused: bool
    busy: bool
    # Why the spec or zone cannot be evaluated (the claim then pauses it).
    problem: str = ""


def aware(value: datetime | str | None) -> datetime | None:
    """A datetime read with a plain cursor, aware: SQLite gives naive ones, or text."""
    if isinstance(value, str):  # SQLite returns the stored text of an expression
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


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
        if claimed < CLAIM_BATCH:
            return created


def wait_until(instant: datetime) -> None:
    """Sleep until the clock reads ``instant`` (at once if it is past)."""
    delay = (instant - clock.now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def _claim_batch(now: datetime, state: EngineState) -> tuple[int, list[Run]]:
    try:
        return _claim_batch_once(now, state, recording.record)
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
        jobs = _lock_due(alias, now, state.unknown_logged)
        if not jobs:
            return 0, []
        plans = _plan_jobs(jobs, now, state)
        advance(alias, jobs, plans)
        busy = {job.name for job in jobs if job.busy}
        runs = recording.build_runs(jobs, plans, busy, now)
        created = insert(alias, runs)
    recording.report(created)
    return len(jobs), created


def _due_query(alias: str, now: datetime, exclude: set[str]) -> QuerySet[ScheduledJob]:
    """The due schedules, locked, with whether each has a run in flight."""
    in_flight = Run.objects.using(alias).in_flight().filter(job=OuterRef("name"))
    due = (
        ScheduledJob.objects.using(alias)
        .due(now)
        .only(*PLANNED_FIELDS)
        .annotate(busy=Exists(in_flight))
    )
    if exclude:
        due = due.exclude(name__in=sorted(exclude))
    return lock_rows(due.order_by("next_run_at")[:CLAIM_BATCH], alias)


# The claim's statement, compiled once per database with a stand-in instant,
# and the position of that instant among its parameters.
_CLAIMS: dict[str, tuple[str, list[Any], int]] = {}


_STAND_IN = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


def _lock_due(alias: str, now: datetime, exclude: set[str]) -> list[DueJob]:
    """Read and lock the due schedules: the claim's first statement.

    Compiled once per database and process, like the probe, and read with a
    plain cursor on PostgreSQL and SQLite, whose values need no converter but
    SQLite's naive datetimes and integer booleans; only a process that left
    schedules out (no handler here), or another database, goes through the ORM.
    """
    connection = connections[alias]
    if exclude or connection.vendor not in ("postgresql", "sqlite"):
        return _read_due(alias, now, exclude)
    field = ScheduledJob._meta.get_field("next_run_at")
    assert isinstance(field, models.DateTimeField)
    compiled = _CLAIMS.get(alias)
    if compiled is None:
        query = _due_query(alias, _STAND_IN, exclude).values_list(*DUE_COLUMNS).query
        sql, params = query.get_compiler(using=alias).as_sql()
        stand_in = field.get_db_prep_value(_STAND_IN, connection)
        where = [i for i, param in enumerate(params) if param == stand_in]
        if len(where) != 1:  # not the statement this code knows: no cache
            return _read_due(alias, now, exclude)
        compiled = _CLAIMS[alias] = (sql, list(params), where[0])
    sql, params, where_now = compiled
    params = list(params)
    params[where_now] = field.get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        DueJob(pk, name, spec, tz, aware(at), catchup, queue, timeout, bool(p), bool(b))
        for pk, name, spec, tz, at, catchup, queue, timeout, p, b in rows
    ]


def _read_due(alias: str, now: datetime, exclude: set[str]) -> list[DueJob]:
    """The due schedules through the ORM (its converters), compiled each time."""
    rows = _due_query(alias, now, exclude).values_list(*DUE_COLUMNS)
    return [DueJob(*row) for row in rows]


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
        zone = job.timezone or app_settings.TIMEZONE
        try:
            return spec, get_timezone(zone)
        except TogoSchedulerError as exc:
            job.problem = f"the time zone cannot be evaluated: {exc}"
    logger.error(
        "Schedule %r: %s; pausing it.", job.name, job.problem, extra={"job": job.name}
    )
    job.paused = True
    return None
