"""The tick: claim due slots, record their runs, dispatch them, repair what broke.

The engine is the tick and what only the tick uses; it is handed its state and
its dispatcher, and imports nothing above it (no service, admin or command).

Three invariants carry every guarantee (docs/architecture.md):

1. a slot is claimed once: due schedules are read under a lock (``SKIP LOCKED``,
   or SQLite's write lock) and their ``next_run_at`` advanced in the same
   transaction; the unique constraint on ``(job, scheduled_for)`` backs it up
   (:mod:`.claim`);
2. the database is the outbox: runs are committed before anything is dispatched,
   and every queued run not yet handed to a dispatcher is found again by
   :func:`.outbox.dispatch_pending`, whoever recorded it;
3. execution is guarded: see :mod:`django_togo_scheduler.execution` and
   :mod:`django_togo_scheduler.transitions`.

The rooms: :mod:`.state` (``EngineState``, ``DueJob``), :mod:`.idle` (the idle
tick's query), :mod:`.due` (the claim's locked read), :mod:`.planning`,
:mod:`.advance`, :mod:`.recording`, :mod:`.inserting`, :mod:`.claim`,
:mod:`.outbox`, :mod:`.reconcile`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run

from . import claim, idle, outbox, reconcile
from .recording import waits
from .state import DueJob, EngineState

if TYPE_CHECKING:
    from django_togo_scheduler.dispatch.base import Dispatcher

__all__ = ["DueJob", "EngineState", "maintain", "reconcile_ahead", "tick"]

logger = logging.getLogger(__name__)


RECONCILE_EVERY = timedelta(seconds=2)  # how often a tick looks for stale runs


def tick(
    now: datetime,
    *,
    state: EngineState,
    dispatcher: Dispatcher,
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
    # Repair first, so a dead worker's run no longer blocks this tick's slots.
    # (The loop has usually done it between ticks: see reconcile_ahead(); a
    # tick ahead of its slot counts on the clock, as reconcile_ahead() does.)
    maintain(now if hand_over_at is None else clock.now(), dispatcher, state)
    created: list[Run] = []
    known_due = state.next_due is not None and state.next_due <= now
    if known_due:
        created = claim.claim_due(now, state, dispatcher, hand_over_at)
    next_due, pending = idle.probe(state.unknown_logged)
    if not known_due and next_due is not None and next_due <= now:
        created = claim.claim_due(now, state, dispatcher, hand_over_at)
        next_due = None  # advanced: the loop asks again
    if pending or any(waits(run) for run in created):
        outbox.dispatch_pending(now, dispatcher)
    state.last_tick, state.next_due = now, next_due
    return created


def maintain(now: datetime, dispatcher: Dispatcher, state: EngineState) -> None:
    """The tick's repair step: reconcile when the last pass is ``RECONCILE_EVERY``
    old, otherwise only the dispatcher's housekeeping."""
    if state.reconciled_at is None or now - state.reconciled_at >= RECONCILE_EVERY:
        reconcile.reconcile(now, dispatcher)
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
    if state.reconciled_at is not None and (
        next_tick - state.reconciled_at < RECONCILE_EVERY
    ):
        return False
    reconcile.reconcile(now, dispatcher)
    state.reconciled_at = now
    return True
