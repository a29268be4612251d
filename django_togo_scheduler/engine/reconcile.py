"""Repairs runs whose executing process went away.

A dispatched inline run is held by one scheduler process, which refreshes its
``heartbeat_at``. When the heartbeat is older than ``STALE_AFTER`` the process is
gone: a run it was running is failed with the reason (so the job is not blocked
for ever), and a run it had not started yet is put back in the outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q

from django_togo_scheduler import transitions
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.dispatch.base import Dispatcher
from django_togo_scheduler.models import Run

logger = logging.getLogger(__name__)

DEAD_WORKER_ERROR = (
    "worker died: {worker} stopped sending heartbeats (last at {heartbeat}); "
    "the run was marked failed by the scheduler"
)


def reconcile(now: datetime, dispatcher: Dispatcher) -> None:
    """Let the dispatcher refresh its heartbeats, then repair stale runs."""
    dispatcher.check(now)
    cutoff = now - timedelta(seconds=app_settings.STALE_AFTER)
    # A running run's heartbeat comes from the process executing it (inline or an
    # RQ work horse); a queued inline run's from the pool holding it. A queued RQ
    # run is in Redis: the RQ dispatcher looks for lost messages there.
    stale = Run.objects.filter(
        Q(status=Run.Status.RUNNING) | Q(status=Run.Status.QUEUED, queue=""),
        dispatched_at__isnull=False,
        heartbeat_at__lt=cutoff,
    )
    for run in stale.order_by("id")[:1000]:
        if run.status == Run.Status.RUNNING:
            heartbeat = run.heartbeat_at.isoformat() if run.heartbeat_at else "never"
            transitions.fail(
                run,
                DEAD_WORKER_ERROR.format(worker=run.worker or "?", heartbeat=heartbeat),
                now,
            )
        else:
            transitions.put_back(run, "it was dispatched to a process that is gone")
