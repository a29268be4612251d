"""What a worker runs for a run id: the guarded ``queued -> running`` step, the
handler, and the run's end, with signals.

Only the process whose ``queued -> running`` update applied runs the handler, so a
run executes at most once however often its message is delivered.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    router,
)

from . import clock, faults, transitions
from .conf import app_settings
from .models import Run
from .registry import registry
from .signals import run_finished, run_started

logger = logging.getLogger(__name__)


class Heartbeat:
    """While a handler runs, its run's ``heartbeat_at`` is refreshed.

    The reconciler fails a running run whose heartbeat is older than
    ``STALE_AFTER``: that is how a killed worker or work horse is noticed, without
    trusting RQ's callbacks (not called for a killed horse). One thread per
    process beats for every run the process is running, in one statement every
    ``STALE_AFTER / 3`` seconds; it is started with the process's first run
    (again in a forked work horse, where the parent's thread does not exist).
    """

    _lock = threading.Lock()
    _running: set[int] = set()
    _pid: int | None = None

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk

    def __enter__(self) -> Heartbeat:
        cls = type(self)
        with cls._lock:
            cls._start_thread()
            cls._running.add(self.run_pk)
        return self

    @classmethod
    def start_thread(cls) -> None:
        """Start this process's heartbeat thread now if it has none.

        The inline dispatcher calls it when it takes runs: from Python 3.12 on
        no thread can start once the interpreter exits (``atexit``), and a
        process that exits right after a trigger runs its run then.
        """
        with cls._lock:
            cls._start_thread()

    @classmethod
    def _start_thread(cls) -> None:
        # Called with the lock held.
        if cls._pid == os.getpid():
            return
        running: set[int] = set()  # a forked child starts with its own
        thread = threading.Thread(
            target=cls._beat, args=(running,), name="togo-heartbeat", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # the interpreter is exiting (Python >= 3.12)
            # No thread: the inline pool's monitor refreshes its runs' heartbeats.
            logger.debug("No heartbeat thread can start: the interpreter is exiting.")
            cls._running = running
            return
        cls._pid, cls._running = os.getpid(), running

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._running.discard(self.run_pk)

    @classmethod
    def _beat(cls, running: set[int]) -> None:
        last = time.monotonic()
        while True:
            # The interval is read as the thread goes, not fixed at its start.
            interval = max(app_settings.STALE_AFTER / 3, 0.1)
            time.sleep(min(interval, 0.5))
            if time.monotonic() - last < interval:
                continue
            last = time.monotonic()
            with cls._lock:
                pks = list(running)
            if not pks:
                continue
            try:
                Run.objects.filter(pk__in=pks, status=Run.Status.RUNNING).update(
                    heartbeat_at=clock.now()
                )
            except Exception:  # the runs' ends are recorded by their own threads
                logger.exception("Heartbeat of run(s) %s failed.", pks)
            finally:
                # Beats are seconds apart: hold no connection between them.
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
    run = transitions.start(run_id, now, worker)
    if run is None:
        logger.info(
            "Run %s is not queued any more; this delivery does nothing.",
            run_id,
            extra={"run_id": run_id},
        )
        return None
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
    if not transitions.end(run.pk, status, now, error):
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
    faults.point("start", run_id)
    _release_stale_connections()
    try:
        run = start_run(run_id)
        if run is None:
            return None
        with Heartbeat(run.pk):  # until the end is recorded, retries included
            error = _call_handler(run)
            _record_end(run, error)
        return run.status
    finally:
        _release_stale_connections()


END_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # seconds between tries to record an end
_pause = time.sleep  # (tests replace it)


def _record_end(run: Run, error: str) -> None:
    """``finish_run``, tried again while the database is unreachable (about 30 s).

    The handler has run: its result is worth waiting for. Retrying is safe, the
    write being guarded on ``running``; past the last try the error propagates
    and the reconciler fails the run once its heartbeat is stale.
    """
    for pause in (*END_RETRIES, None):
        try:
            finish_run(run, error=error)
            return
        except (OperationalError, InterfaceError):
            db = connections[router.db_for_write(Run)]
            if pause is None or db.in_atomic_block:
                raise
            logger.warning(
                "Cannot record the end of run %s of %r; trying again in %s s.",
                run.pk,
                run.job,
                pause,
                exc_info=True,
                extra={"job": run.job, "run_id": run.pk},
            )
            db.close()
            _pause(pause)


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
