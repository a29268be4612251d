"""Runs jobs in a bounded pool of threads inside this process.

The pool is the scheduler's (``runscheduler``), or, for a manual run with no
scheduler to take it, the calling process's own: a Django shell, a web process,
a management command. Either way a small monitor thread looks after the runs the
pool holds: it refreshes their heartbeats and fails those past their timeout,
whose threads are then abandoned and replaced (:mod:`.pool`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from django_togo_scheduler import clock, transitions
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.execution import Heartbeat, execute_run
from django_togo_scheduler.models import Run

from . import exits
from .base import Dispatcher
from .pool import WorkerPool

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=5)  # how often held runs' heartbeat_at is refreshed
MONITOR_EVERY = 0.5  # seconds between two looks of the monitor at the held runs
WAIT_SLICE = 0.1  # seconds: waits are slices, so a signal reaches the main thread
TIMEOUT_ERROR = (
    "timeout: the run exceeded its timeout of {0} s; its result will be discarded"
)
SCHEDULER_EXITED = "scheduler exited: {worker} stopped before the run ended ({why})"


@dataclass
class Held:
    """A run the pool holds: waiting for a thread, or running in one."""

    run: Run
    entered: datetime | None = None  # when a thread took it (no timeout before)


class InlineDispatcher(Dispatcher):
    """Executes runs in this process, in at most ``workers`` threads at once.

    The scheduler's own thread never runs a handler, so a long job never delays
    the next tick. While the process holds a run (waiting in the pool or running)
    the monitor refreshes the run's heartbeat; a run whose heartbeat stops (the
    process died) is failed or dispatched again by the reconciler of any
    scheduler. ``monitor=False`` leaves that to whoever calls :meth:`check`.
    """

    def __init__(self, workers: int = 4, *, monitor: bool = True) -> None:
        self._pool = WorkerPool(workers)
        self._held: dict[int, Held] = {}
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._last_heartbeat: datetime | None = None
        self._monitored = monitor
        self._monitor: threading.Thread | None = None
        exits.watch(self)

    @property
    def workers(self) -> int:
        """How many runs the pool runs at once (``INLINE_WORKERS``)."""
        return self._pool.size

    def dispatch(self, runs: Sequence[Run]) -> None:
        Heartbeat.start_thread()  # here, while threads can still start
        for run in runs:
            with self._lock:
                self._held[run.pk] = Held(run)
                self._start_monitor()
            try:
                self._pool.submit(run.pk, functools.partial(self._execute, run.pk))
            except RuntimeError:  # no thread can start: the interpreter is exiting
                self._release(run.pk)
                transitions.put_back_unstarted([run.pk])
                logger.warning(
                    "Run %s of %r cannot start in this process, which is exiting; "
                    "it goes back to the outbox for a scheduler.",
                    run.pk,
                    run.job,
                    extra={"job": run.job, "run_id": run.pk},
                )

    def _execute(self, pk: int) -> None:
        with self._lock:
            held = self._held.get(pk)
            if held is None:  # released meanwhile (a shutdown failed or put it back)
                return
            held.entered = clock.now()
        # A pool thread's connection would outlive the pool (threads end, their
        # connections stay open until collected): close it after every run.
        try:
            execute_run(pk)
        finally:
            connection.close()
            self._release(pk)

    def _release(self, pk: int) -> None:
        with self._lock:
            self._held.pop(pk, None)

    def held(self) -> list[int]:
        """Ids of the runs this process holds (waiting or running)."""
        with self._lock:
            return sorted(self._held)

    def abandoned_threads(self) -> int:
        return self._pool.abandoned()

    def check(self, now: datetime) -> None:
        """Fail held runs past their timeout; refresh the heartbeats every 5 s."""
        with self._check_lock:
            self._fail_timeouts(now)
            every = min(
                HEARTBEAT_EVERY, timedelta(seconds=app_settings.STALE_AFTER / 3)
            )
            if self._last_heartbeat is None or now - self._last_heartbeat >= every:
                pks = self.held()
                if pks:
                    Run.objects.filter(pk__in=pks).in_flight().update(heartbeat_at=now)
                self._last_heartbeat = now

    def _fail_timeouts(self, now: datetime) -> None:
        # Only a run whose thread took it longer ago than its timeout is read.
        with self._lock:
            late = [
                pk
                for pk, held in self._held.items()
                if held.run.timeout
                and held.entered is not None
                and now - held.entered > timedelta(seconds=held.run.timeout)
            ]
        if not late:
            return
        for run in Run.objects.filter(pk__in=late, status=Run.Status.RUNNING):
            assert run.timeout is not None and run.started_at is not None
            late_now = now - run.started_at > timedelta(seconds=run.timeout)
            if late_now and transitions.fail(
                run, TIMEOUT_ERROR.format(run.timeout), now
            ):
                self._abandon(run)

    def _abandon(self, run: Run) -> None:
        self._release(run.pk)
        count = self._pool.abandon(run.pk)
        if count is None:  # its handler returned meanwhile
            return
        logger.warning(
            "Run %s of %r is past its timeout: its thread cannot be stopped and is "
            "abandoned (%d abandoned thread(s) in this process; the pool still runs "
            "%d at once).",
            run.pk,
            run.job,
            count,
            self._pool.capacity(),
            extra={"job": run.job, "run_id": run.pk, "abandoned_threads": count},
        )

    def _start_monitor(self) -> None:
        # Called with self._lock held, after a run was added.
        if self._monitored and self._monitor is None:
            monitor = threading.Thread(
                target=self._watch, name="togo-pool-monitor", daemon=True
            )
            try:
                monitor.start()
            except RuntimeError:  # the interpreter is exiting: no new thread
                return
            self._monitor = monitor

    def _watch(self) -> None:
        try:
            while True:
                time.sleep(MONITOR_EVERY)
                with self._lock:
                    if not self._held:  # a new run starts a new monitor
                        self._monitor = None
                        return
                try:
                    self.check(clock.now())
                except Exception:  # the database away: try again at the next look
                    logger.exception(
                        "The inline pool's heartbeat or timeout check failed."
                    )
                    connection.close()
        finally:
            connection.close()

    def fail_held(self, error: str, pks: Sequence[int] | None = None) -> list[int]:
        """Fail the held runs (all, or those of ``pks``) a thread took, with
        ``error``; put the others back in the outbox.

        For a process about to exit: its threads die with it. A run a thread
        took but has not started yet is failed too (the guard on its status
        keeps the thread from starting it afterwards). Returns the ids failed.
        """
        with self._lock:
            chosen = (
                list(self._held)
                if pks is None
                else [pk for pk in pks if pk in self._held]
            )
            taken = [pk for pk in chosen if self._held[pk].entered is not None]
            for pk in chosen:
                del self._held[pk]  # a thread that has not taken it never will
        transitions.put_back_unstarted([pk for pk in chosen if pk not in taken])
        failed = []
        for pk in taken:
            for _attempt in range(3):  # queued -> running may come in between
                run = Run.objects.filter(pk=pk).in_flight().first()
                if run is None:
                    break
                if transitions.fail(run, error, clock.now()):
                    failed.append(pk)
                    break
        return failed

    def shutdown(self, wait: bool = True, grace: float | None = None) -> None:
        """Stop taking runs; runs not yet started go back to the outbox at once.

        With ``wait``, wait for the running ones: at most ``grace`` seconds, after
        which those still running are failed ("scheduler exited").
        """
        unstarted = self._pool.cancel_pending()
        with self._lock:
            for pk in unstarted:
                self._held.pop(pk, None)
        transitions.put_back_unstarted(unstarted)
        self._pool.close()
        if not wait:
            return
        if not self.wait_held(grace) and grace is not None:
            why = f"still running {grace:g} s after the scheduler was asked to stop"
            self.fail_held(SCHEDULER_EXITED.format(worker=clock.worker_name(), why=why))

    def wait_held(self, timeout: float | None = None) -> bool:
        """Wait until no run is held (at most ``timeout`` seconds); whether none is.

        It waits in short slices, not one blocking join: a signal delivered to a
        pool thread must still reach the main thread's handler (a second SIGTERM
        that means "exit now").
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.held():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(WAIT_SLICE)
        return True


class SyncDispatcher(Dispatcher):
    """Executes each run at once in the calling thread (tests, the testing helper)."""

    def dispatch(self, runs: Sequence[Run]) -> None:
        for run in runs:
            execute_run(run.pk)
