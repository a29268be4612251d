"""The outbox: queued runs not yet handed to a dispatcher, and the sweep that hands them.

Runs are committed before anything is dispatched; whatever was recorded and not
handed over (a crash between commit and enqueue, a refused enqueue, a run put back
by the reconciler, a manual trigger) is found here by the next tick of any
scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from django_togo_scheduler import transitions
from django_togo_scheduler.locking import lock_rows, write_transaction
from django_togo_scheduler.models import Run

if TYPE_CHECKING:
    from django_togo_scheduler.dispatch.base import Dispatcher

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 1000  # pending runs handed to dispatchers per transaction


def dispatch_pending(now: datetime, dispatcher: Dispatcher) -> list[Run]:
    """Hand every queued, undispatched run to its dispatcher (the outbox sweep).

    A job's runs go one at a time: a run waits while an earlier run of its job is
    dispatched and unfinished, so catch-up runs follow each other in order.
    """
    handed: list[Run] = []
    after = 0  # the outbox is walked once per sweep, by id: nothing is looked at twice
    while True:
        with write_transaction(Run) as alias:
            pending = Run.objects.using(alias).in_outbox().filter(pk__gt=after)
            batch = list(lock_rows(pending.order_by("id")[:DISPATCH_BATCH], alias))
            if not batch:
                break
            after = batch[-1].pk
            ready = _ready_runs(alias, batch)
            transitions.mark_dispatched(ready, now, using=alias)
        if ready:
            dispatcher.dispatch(ready)
            handed.extend(ready)
        if len(batch) < DISPATCH_BATCH:
            break
    return handed


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
