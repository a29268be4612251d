"""What a worker runs for a run id: the guarded ``queued -> running`` step, the
handler, and the run's end, with signals.

Only the process whose ``queued -> running`` update applied runs the handler, so a
run executes at most once however often its message is delivered.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.db import close_old_connections, connection

from . import clock
from .conf import app_settings
from .models import Run
from .registry import registry
from .signals import run_finished, run_started

logger = logging.getLogger(__name__)


class Heartbeat:
    """While a handler runs, a thread refreshes its run's ``heartbeat_at``.

    The reconciler fails a running run whose heartbeat is older than
    ``STALE_AFTER``: that is how a killed worker or work horse is noticed, without
    trusting RQ's callbacks (not called for a killed horse).
    """

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"togo-heartbeat-{run_pk}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = max(app_settings.STALE_AFTER / 3, 0.1)
        try:
            while not self._stop.wait(interval):
                Run.objects.filter(pk=self.run_pk, status=Run.Status.RUNNING).update(
                    heartbeat_at=clock.now()
                )
        except Exception:  # the run's end is recorded by the handler's thread
            logger.exception("Heartbeat of run %s failed.", self.run_pk)
        finally:
            connection.close()


@dataclass(frozen=True)
class RunContext:
    """What a handler is called with."""

    job: str
    run_id: int
    scheduled_for: datetime | None
    trigger: str
    logger: logging.Logger


def start_run(run_id: int, worker: str | None = None) -> Run | None:
    """Move a queued run to running; None when another delivery got there first."""
    now = clock.now()
    worker = worker or clock.worker_name()
    applied = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
    )
    if not applied:
        logger.info(
            "Run %s is not queued any more; this delivery does nothing.",
            run_id,
            extra={"run_id": run_id},
        )
        return None
    run = Run.objects.get(pk=run_id)
    logger.info(
        "Run %s of %r started on %s.",
        run.pk,
        run.job,
        worker,
        extra={"job": run.job, "run_id": run.pk, "slot": run.scheduled_for},
    )
    run_started.send(sender=Run, run=run)
    return run


def finish_run(run: Run, *, error: str = "", now: datetime | None = None) -> bool:
    """End a running run as done (no error) or failed; False when it had ended already.

    The update is guarded on ``running``: a run that the reconciler failed (a
    timeout, a dead worker) keeps that verdict and its late result is discarded.
    """
    now = now or clock.now()
    status = Run.Status.FAILED if error else Run.Status.DONE
    applied = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=status, finished_at=now, error=error
    )
    if not applied:
        logger.warning(
            "Run %s of %r ended after it was already marked %s; result discarded.",
            run.pk,
            run.job,
            Run.objects.filter(pk=run.pk).values_list("status", flat=True).first(),
            extra={"job": run.job, "run_id": run.pk},
        )
        return False
    run.status, run.finished_at, run.error = status, now, error
    logger.info(
        "Run %s of %r %s in %.3f s.",
        run.pk,
        run.job,
        status,
        run.duration.total_seconds() if run.duration else 0.0,
        extra={"job": run.job, "run_id": run.pk, "slot": run.scheduled_for},
    )
    run_finished.send(sender=Run, run=run)
    return True


def execute_run(run_id: int) -> str | None:
    """Run the handler of run ``run_id`` if this delivery wins it; return the status."""
    _release_stale_connections()
    try:
        run = start_run(run_id)
        if run is None:
            return None
        with Heartbeat(run.pk):
            error = _call_handler(run)
        finish_run(run, error=error)
        return run.status
    finally:
        _release_stale_connections()


def _release_stale_connections() -> None:
    # A worker must not carry a connection the database dropped from one run to
    # the next; inside a transaction (a synchronous test) there is none to drop.
    if not connection.in_atomic_block:
        close_old_connections()


def _call_handler(run: Run) -> str:
    job_logger = logging.getLogger(f"django_togo_scheduler.jobs.{run.job}")
    try:
        spec = registry.get(run.job)
        context = RunContext(
            job=run.job,
            run_id=run.pk,
            scheduled_for=run.scheduled_for,
            trigger=run.trigger,
            logger=job_logger,
        )
        if spec.takes_context:
            spec.func(context)
        else:
            spec.func()
    except Exception:
        logger.exception(
            "Run %s of %r failed.",
            run.pk,
            run.job,
            extra={"job": run.job, "run_id": run.pk},
        )
        return traceback.format_exc()
    return ""


def fail_run(run: Run, error: str, *, now: datetime | None = None) -> bool:
    """Mark an unfinished run failed with ``error`` (a timeout, a dead worker).

    Guarded on the status the run had when read: if it ended meanwhile, nothing
    changes and False is returned.
    """
    now = now or clock.now()
    applied = Run.objects.filter(pk=run.pk, status=run.status).update(
        status=Run.Status.FAILED, finished_at=now, error=error
    )
    if not applied:
        return False
    logger.warning(
        "Run %s of %r failed: %s",
        run.pk,
        run.job,
        error,
        extra={"job": run.job, "run_id": run.pk},
    )
    run.status, run.finished_at, run.error = Run.Status.FAILED, now, error
    run_finished.send(sender=Run, run=run)
    return True
