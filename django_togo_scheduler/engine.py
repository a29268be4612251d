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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import clock
from .conf import app_settings
from .exceptions import TogoSchedulerError
from .inserting import insert_runs
from .locking import lock_rows, write_transaction
from .models import Run, ScheduledJob
from .outbox import dispatch_pending
from .planning import Plan, plan_due
from .registry import registry
from .specs import get_timezone, parse_duration, parse_spec

if TYPE_CHECKING:
    from .dispatch.base import Dispatcher

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
RECONCILE_EVERY = timedelta(seconds=2)  # how often a tick looks for stale runs
SKIP_REASON = "skipped: the previous run of this job is still in flight"


@dataclass
class EngineState:
    """What one scheduler process remembers between ticks."""

    last_tick: datetime | None = None
    unknown_logged: set[str] = field(default_factory=set)
    reconciled_at: datetime | None = None
    # The earliest next_run_at seen by the last idle tick (None: not known).
    next_due: datetime | None = None


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


def tick(
    now: datetime | None = None,
    *,
    dispatcher: Dispatcher | None = None,
    state: EngineState | None = None,
    hand_over_at: datetime | None = None,
) -> list[Run]:
    """One pass: record every due slot up to ``now``, dispatch, repair; return new runs.

    An idle tick (nothing due, nothing waiting in the outbox) costs one indexed
    query, whatever the number of schedules; the reconciler runs every
    ``RECONCILE_EVERY``. When the previous tick already read that a slot comes
    by ``now`` (``state.next_due``), the claim goes first and that query after
    it, out of the way between the slot and its dispatch.

    ``hand_over_at``: the loop claims a slot a few milliseconds ahead of it
    (``now`` is then the slot, still to come on the clock); the runs the claim
    recorded are handed to the dispatcher when the clock reaches that instant,
    not before.
    """
    from .service import get_scheduler

    now = now or clock.now()
    service = get_scheduler()
    state = state if state is not None else service.state
    dispatcher = dispatcher or service.dispatcher
    # Repair first, so a dead worker's run no longer blocks this tick's slots.
    # (The loop has usually done it between ticks: see reconcile_ahead(); a
    # tick ahead of its slot counts on the clock, as reconcile_ahead() does.)
    maintain(now if hand_over_at is None else clock.now(), dispatcher, state)
    created: list[Run] = []
    known_due = state.next_due is not None and state.next_due <= now
    if known_due:
        created = claim_due(now, state, dispatcher, hand_over_at)
    next_due, pending = probe(state.unknown_logged)
    if not known_due and next_due is not None and next_due <= now:
        created = claim_due(now, state, dispatcher, hand_over_at)
        next_due = None  # advanced: the loop asks again
    if pending or any(_waits(run) for run in created):
        dispatch_pending(now, dispatcher)
    state.last_tick, state.next_due = now, next_due
    return created


def maintain(now: datetime, dispatcher: Dispatcher, state: EngineState) -> None:
    """The tick's repair step: reconcile when the last pass is ``RECONCILE_EVERY``
    old, otherwise only the dispatcher's housekeeping."""
    from .reconcile import reconcile

    if state.reconciled_at is None or now - state.reconciled_at >= RECONCILE_EVERY:
        reconcile(now, dispatcher)
        state.reconciled_at = now
    else:
        dispatcher.check(now)


def reconcile_ahead(
    now: datetime, dispatcher: Dispatcher, state: EngineState, next_tick: datetime
) -> bool:
    """Reconcile now if the tick at ``next_tick`` would have to; return whether it did.

    ``runscheduler`` calls it after each tick: the repair pass then happens
    between slots, not between a slot and the dispatch of its runs, and still
    every ``RECONCILE_EVERY``.
    """
    from .reconcile import reconcile

    if state.reconciled_at is not None and (
        next_tick - state.reconciled_at < RECONCILE_EVERY
    ):
        return False
    reconcile(now, dispatcher)
    state.reconciled_at = now
    return True


def probe(exclude: set[str]) -> tuple[datetime | None, bool]:
    """The earliest active ``next_run_at`` and whether the outbox holds a run: one query.

    The statement is compiled once per database and process (the idle tick is
    then the statement alone); only a process that left schedules out (no
    handler here) compiles its own each time.
    """
    alias = router.db_for_read(ScheduledJob)
    connection = connections[alias]
    compiled = None if exclude else _PROBES.get(alias)
    if compiled is None:
        compiled = _compile_probe(alias, exclude)
        if not exclude:
            _PROBES[alias] = compiled
    sql, params = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        next_due, pending_pk = cursor.fetchone()
    return _aware(next_due), pending_pk is not None


def _aware(value: datetime | str | None) -> datetime | None:
    """A datetime read with a plain cursor, aware: SQLite gives naive ones, or text."""
    if isinstance(value, str):  # SQLite returns the stored text of an expression
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


_PROBES: dict[str, tuple[str, tuple[Any, ...]]] = {}


def _compile_probe(alias: str, exclude: set[str]) -> tuple[str, tuple[Any, ...]]:
    jobs = ScheduledJob.objects.enabled().filter(next_run_at__isnull=False)
    if exclude:
        jobs = jobs.exclude(name__in=sorted(exclude))
    first = jobs.order_by("next_run_at").values("next_run_at")[:1]
    pending = Run.objects.filter(status=Run.Status.QUEUED, dispatched_at__isnull=True)
    first_sql, first_params = first.query.get_compiler(using=alias).as_sql()
    pending_sql, pending_params = (
        pending.order_by().values("pk")[:1].query.get_compiler(using=alias).as_sql()
    )
    return f"SELECT ({first_sql}), ({pending_sql})", (*first_params, *pending_params)


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
        return _claim_batch_once(now, state, _insert_runs)
    except IntegrityError:
        # Only a clock far out of step between hosts gets here: some slot was
        # recorded already. The batch rolled back whole; claim it again,
        # inserting run by run and leaving the existing rows be.
        return _claim_batch_once(now, state, _insert_one_by_one)


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
        _advance(alias, jobs, plans)
        busy = {job.name for job in jobs if job.busy}
        runs = _build_runs(jobs, plans, busy, now)
        created = insert(alias, runs)
    _report(created)
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
        DueJob(
            pk, name, spec, tz, _aware(at), catchup, queue, timeout, bool(p), bool(b)
        )
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


def _advance(alias: str, jobs: list[DueJob], plans: dict[int, Plan]) -> None:
    # Schedules sharing their next slot are advanced in one UPDATE: a burst of
    # thousands of "* * * * *" schedules is one statement, not thousands.
    # Schedules with next slots of their own are advanced together in one
    # UPDATE ... FROM (VALUES ...) where the database has it.
    groups: dict[datetime, list[int]] = {}
    for pk, plan in plans.items():
        groups.setdefault(plan.next_run_at, []).append(pk)
    if len(groups) > 1 and _updates_from_values(connections[alias]):
        _advance_each(alias, {pk: plan.next_run_at for pk, plan in plans.items()})
    else:
        for next_run_at, pks in groups.items():
            _advance_group(alias, pks, next_run_at)
    broken = [job.pk for job in jobs if job.paused]
    if broken:
        ScheduledJob.objects.using(alias).filter(pk__in=broken).update(
            paused=True,
            paused_reason="the spec or time zone cannot be evaluated",
            paused_by="scheduler",
            paused_at=clock.now(),
        )


def _advance_group(alias: str, pks: list[int], next_run_at: datetime) -> None:
    """Set the ``next_run_at`` of the schedules ``pks``, in one UPDATE.

    On PostgreSQL the keys go as one array (``= ANY(%s)``): psycopg parses and
    quotes a statement of 500 placeholders anew at every claim, not one array.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        ScheduledJob.objects.using(alias).filter(pk__in=pks).update(
            next_run_at=next_run_at, updated_at=clock.now()
        )
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(ScheduledJob._meta.db_table)} "
            f"SET {quote('next_run_at')} = %s, {quote('updated_at')} = %s "
            f"WHERE {quote('id')} = ANY(%s::bigint[])",
            [next_run_at, clock.now(), pks],
        )


def _updates_from_values(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 33)
    return False


def _advance_each(alias: str, next_runs: dict[int, datetime]) -> None:
    """Set each schedule's own ``next_run_at``, in one statement."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    opts = ScheduledJob._meta
    field = opts.get_field("next_run_at")
    assert isinstance(field, models.DateTimeField)
    # PostgreSQL types the VALUES list from its first row: say it once.
    stamp = (
        "CAST(%s AS timestamp with time zone)"
        if connection.vendor == "postgresql"
        else "%s"
    )
    rows = ", ".join(f"(%s, {stamp})" for _ in next_runs)
    params: list[Any] = [field.get_db_prep_save(clock.now(), connection)]
    for pk, next_run_at in next_runs.items():
        params += [pk, field.get_db_prep_save(next_run_at, connection)]
    table = quote(opts.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # Both databases name the VALUES columns column1, column2, ...
            f"UPDATE {table} SET {quote('next_run_at')} = v.column2, "
            f"{quote('updated_at')} = %s "
            f"FROM (VALUES {rows}) AS v WHERE {table}.{quote('id')} = v.column1",
            params,
        )


def _build_runs(
    jobs: list[DueJob], plans: dict[int, Plan], busy: set[str], now: datetime
) -> list[Run]:
    """The runs of the planned slots; ``busy``: the jobs with a run in flight."""
    from .dispatch import resolve_queue

    queues: dict[str, str] = {}
    runs: list[Run] = []
    for job in jobs:
        plan = plans.get(job.pk)
        if plan is None:
            continue
        if job.queue not in queues:
            queues[job.queue] = resolve_queue(job.queue)
        queue = queues[job.queue]
        in_flight = job.name in busy
        for slot in plan.slots:
            # Under catchup="all" the runs of a catch-up batch wait for each
            # other; otherwise a slot whose job is in flight is recorded skipped.
            waits = job.catchup == "all" and len(plan.slots) > 1
            skipped = in_flight and not waits
            run = Run(
                job=job.name,
                scheduled_for=slot.at,
                trigger=Run.Trigger.CATCHUP if slot.catchup else Run.Trigger.SCHEDULE,
                status=Run.Status.SKIPPED if skipped else Run.Status.QUEUED,
                error=SKIP_REASON if skipped else "",
                finished_at=now if skipped else None,
                timeout=job.timeout,
                queue=queue,
            )
            if not in_flight:
                # Nothing of its job in flight: recorded as dispatched, handed
                # over when the claim commits (as the outbox sweep would).
                run.dispatched_at = run.heartbeat_at = now
                run.dispatch_count = 1
            runs.append(run)
            in_flight = in_flight or not skipped
    return runs


def _waits(run: Run) -> bool:
    """Whether a run just recorded waits in the outbox (behind a run of its job)."""
    return run.status == Run.Status.QUEUED and run.dispatched_at is None


def _insert_runs(alias: str, runs: list[Run]) -> list[Run]:
    """Insert the runs of a claim in one statement (IntegrityError: one was there).

    A name of its own, looked up when called: bench/chaos_app wraps it.
    """
    return insert_runs(alias, runs)


def _insert_one_by_one(alias: str, runs: list[Run]) -> list[Run]:
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


def _report(runs: list[Run]) -> None:
    """Log each recorded slot (and send run_skipped for the skipped ones).

    Whether INFO is logged is asked once: the arguments of a line (the slot as
    text, the ``extra`` fields) cost more than the line a burst does not log.
    """
    from .signals import run_skipped

    logs = logger.isEnabledFor(logging.INFO)
    for run in runs:
        skipped = run.status == Run.Status.SKIPPED
        if logs:
            _log_recorded(run, skipped)
        if skipped:
            run_skipped.send(sender=Run, run=run)


def _log_recorded(run: Run, skipped: bool) -> None:
    extra = {"job": run.job, "run_id": run.pk, "slot": run.scheduled_for}
    if skipped:
        logger.info(
            "Run %s of %r skipped: previous run still in flight.",
            run.pk,
            run.job,
            extra=extra,
        )
    else:
        logger.info(
            "Slot %s of %r recorded as run %s (%s).",
            run.scheduled_for.isoformat() if run.scheduled_for else "-",
            run.job,
            run.pk,
            run.trigger,
            extra=extra,
        )


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
