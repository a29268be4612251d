"""Runs jobs in a bounded pool of threads inside the scheduler process."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import connection

from django_togo_scheduler.execution import execute_run
from django_togo_scheduler.models import Run

from .base import Dispatcher

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=5)  # how often held runs' heartbeat_at is refreshed
TIMEOUT_ERROR = (
    "timeout: the run exceeded its timeout of {0} s; its result will be discarded"
)


def _execute_in_pool(run_pk: int) -> str | None:
    # A pool thread's connection would outlive the pool (threads end, their
    # connections stay open until collected): close it after every run.
    try:
        return execute_run(run_pk)
    finally:
        connection.close()


class InlineDispatcher(Dispatcher):
    """Executes runs in this process, in at most ``workers`` threads at once.

    The scheduler's own thread never runs a handler, so a long job never delays
    the next tick. While the process holds a run (waiting in the pool or running)
    it refreshes the run's heartbeat; a run whose heartbeat stops (the process
    died) is failed or dispatched again by the reconciler of any scheduler.
    """

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="togo-run"
        )
        self._held: dict[int, tuple[Run, Future[str | None]]] = {}
        self._lock = threading.Lock()
        self._last_heartbeat: datetime | None = None

    def dispatch(self, runs: Sequence[Run]) -> None:
        for run in runs:
            future = self._pool.submit(_execute_in_pool, run.pk)
            with self._lock:
                self._held[run.pk] = (run, future)
            future.add_done_callback(functools.partial(self._release_done, run.pk))

    def _release_done(self, pk: int, future: Future[str | None]) -> None:
        self._release(pk)

    def _release(self, pk: int) -> None:
        with self._lock:
            self._held.pop(pk, None)

    def _held_values(self) -> list[tuple[Run, Future[str | None]]]:
        with self._lock:
            return list(self._held.values())

    def held(self) -> list[int]:
        """Ids of the runs this process holds (waiting or running)."""
        with self._lock:
            return sorted(self._held)

    def check(self, now: datetime) -> None:
        self._fail_timeouts(now)
        if (
            self._last_heartbeat is None
            or now - self._last_heartbeat >= HEARTBEAT_EVERY
        ):
            pks = self.held()
            if pks:
                Run.objects.filter(pk__in=pks).in_flight().update(heartbeat_at=now)
            self._last_heartbeat = now

    def _fail_timeouts(self, now: datetime) -> None:
        with self._lock:
            timed = [pk for pk, (run, _f) in self._held.items() if run.timeout]
        if not timed:
            return
        for run in Run.objects.filter(pk__in=timed, status=Run.Status.RUNNING):
            assert run.timeout is not None and run.started_at is not None
            if now - run.started_at > timedelta(seconds=run.timeout):
                from django_togo_scheduler.execution import fail_run

                fail_run(run, TIMEOUT_ERROR.format(run.timeout), now=now)
                self._release(run.pk)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking runs; runs not yet started go back to the outbox at once."""
        with self._lock:
            held = list(self._held.items())
        unstarted = [pk for pk, (_run, future) in held if future.cancel()]
        if unstarted:
            Run.objects.filter(pk__in=unstarted, status=Run.Status.QUEUED).update(
                dispatched_at=None
            )
        self._pool.shutdown(wait=False, cancel_futures=True)
        # Wait in short slices, not one blocking join: a signal delivered to a
        # pool thread must still reach the main thread's handler (a second
        # SIGTERM that means "exit now").
        while wait and self.held():
            futures.wait([future for _run, future in self._held_values()], timeout=0.2)


class SyncDispatcher(Dispatcher):
    """Executes each run at once in the calling thread (tests, the testing helper)."""

    def dispatch(self, runs: Sequence[Run]) -> None:
        for run in runs:
            execute_run(run.pk)
