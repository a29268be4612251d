"""The tick: claim due slots, record their runs, dispatch them, repair what broke.

Three invariants carry every guarantee (docs/architecture.md):

1. a slot is claimed once: due schedules are read under a lock (``SKIP LOCKED``,
   or SQLite's write lock) and their ``next_run_at`` advanced in the same
   transaction; the unique constraint on ``(job, scheduled_for)`` backs it up
   (:mod:`django_togo_scheduler.claim`);
2. the database is the outbox: runs are committed before anything is dispatched,
   and every queued run not yet handed to a dispatcher is found again by
   :func:`dispatch_pending`, whoever recorded it;
3. execution is guarded: see :mod:`django_togo_scheduler.execution`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connections, router

from . import clock
from .claim import claim_due
from .due import aware
from .models import Run, ScheduledJob
from .outbox import dispatch_pending
from .recording import waits

if TYPE_CHECKING:
    from .dispatch.base import Dispatcher

logger = logging.getLogger(__name__)


RECONCILE_EVERY = timedelta(seconds=2)  # how often a tick looks for stale runs


@dataclass
class EngineState:
    """What one scheduler process remembers between ticks."""

    last_tick: datetime | None = None
    unknown_logged: set[str] = field(default_factory=set)
    reconciled_at: datetime | None = None
    # The earliest next_run_at seen by the last idle tick (None: not known).
    next_due: datetime | None = None


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
    if pending or any(waits(run) for run in created):
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
    return aware(next_due), pending_pk is not None


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
