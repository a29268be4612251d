"""The chaos app: installs the crash hooks when the harness asks for them.

A process started by ``bench/chaos.py`` gets ``TOGO_CHAOS_TRIGGER``, a path
prefix, and dies on purpose in a narrow window while the file
``<prefix>.<window>`` exists:

``insert``   a scheduler, right before it inserts the runs of the slots it
             claimed: inside the claim transaction, after ``next_run_at`` was
             advanced (wraps ``recording.record``);
``enqueue``  a scheduler, right before it enqueues runs on RQ: after the outbox
             sweep committed them as dispatched (wraps ``RQDispatcher.dispatch``);
``dequeue``  an rqworker, right after it took a run's message off the queue and
             before it records the execution in RQ's started registry (wraps
             RQ's ``BaseWorker.prepare_execution``);
``start``    a worker machine, after its work horse began the RQ job and before
             the run is marked running: the horse kills its rqworker and itself
             (wraps ``execution.execute_run``, which RQ looks up by name).

A process dies with ``os._exit(137)``. Before dying, the process appends
``<window> <pid> <unix time> <what it was about to do>`` to the file named by
``TOGO_CHAOS_HITS`` (``<pid>`` is the process the harness supervises: the
scheduler, or the rqworker).

The hooks exist only in this app, in processes started with ``TOGO_CHAOS_TRIGGER``:
django-togo-scheduler itself has no test hook and pays nothing for these.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

TRIGGER_ENV = "TOGO_CHAOS_TRIGGER"
HITS_ENV = "TOGO_CHAOS_HITS"
EXIT_CODE = 137  # what a SIGKILLed process reports to a shell


def armed(window: str) -> bool:
    """Whether the harness armed ``window`` for this process."""
    prefix = os.environ.get(TRIGGER_ENV)
    return bool(prefix) and os.path.exists(f"{prefix}.{window}")


def record_hit(window: str, pid: int, detail: str) -> None:
    """Append the hit to the harness's file, in one write."""
    line = f"{window} {pid} {time.time():.6f} {detail}\n"
    path = os.environ.get(HITS_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _parent_is_rqworker() -> bool:
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            return b"rqworker" in fh.read()
    except OSError:
        return False


def install_hooks() -> None:
    """Wrap the places where a crash must be provoked on purpose."""
    from django_togo_scheduler import execution, recording
    from django_togo_scheduler.dispatch import rq as rq_dispatch

    dispatcher = getattr(rq_dispatch, "RQDispatcher", None)
    insert_runs = getattr(recording, "record", None)
    execute_run = getattr(execution, "execute_run", None)
    if dispatcher is None or insert_runs is None or execute_run is None:
        # The harness must not believe it hits a window it can no longer reach.
        raise ImproperlyConfigured(
            "chaos hooks: RQDispatcher, recording.record or execution.execute_run is gone"
        )
    if getattr(insert_runs, "chaos_hook", False):
        return
    dispatch = dispatcher.dispatch

    @functools.wraps(dispatch)
    def chaos_dispatch(self: Any, runs: Any) -> Any:
        runs = list(runs)
        if runs and armed("enqueue"):
            # The runs are committed with dispatched_at set; nothing is in Redis.
            record_hit("enqueue", os.getpid(), ",".join(str(run.pk) for run in runs))
            os._exit(EXIT_CODE)
        return dispatch(self, runs)

    @functools.wraps(insert_runs)
    def chaos_insert_runs(alias: str, runs: Any) -> Any:
        if runs and armed("insert"):
            # Inside the claim transaction: next_run_at advanced, no run inserted.
            slots = ",".join(
                f"{run.job}@{run.scheduled_for.isoformat()}" for run in runs
            )
            record_hit("insert", os.getpid(), slots)
            os._exit(EXIT_CODE)
        return insert_runs(alias, runs)

    @functools.wraps(execute_run)
    def chaos_execute_run(run_id: int) -> Any:
        if armed("start") and _parent_is_rqworker():
            # A work horse with the message taken, the run still queued: the
            # machine goes, rqworker and horse at once.
            worker = os.getppid()
            record_hit("start", worker, f"{run_id} horse {os.getpid()}")
            os.kill(worker, signal.SIGKILL)
            os._exit(EXIT_CODE)
        return execute_run(run_id)

    chaos_insert_runs.chaos_hook = True  # type: ignore[attr-defined]
    dispatcher.dispatch = chaos_dispatch
    recording.record = chaos_insert_runs
    execution.execute_run = chaos_execute_run
    install_worker_hook()


def install_worker_hook() -> None:
    """The ``dequeue`` window, in RQ's worker (not a scheduler's code)."""
    from rq.worker.base import BaseWorker

    prepare = BaseWorker.prepare_execution

    @functools.wraps(prepare)
    def chaos_prepare_execution(self: Any, job: Any) -> Any:
        if armed("dequeue") and job.id.startswith("togo-run-"):
            # The message is off the queue (in RQ's intermediate queue), the
            # job still says "queued", no horse exists yet.
            record_hit("dequeue", os.getpid(), job.id.removeprefix("togo-run-"))
            os._exit(EXIT_CODE)
        return prepare(self, job)

    BaseWorker.prepare_execution = chaos_prepare_execution  # type: ignore[method-assign]


class ChaosAppConfig(AppConfig):
    name = "bench.chaos_app"
    label = "chaos_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if os.environ.get(TRIGGER_ENV):
            install_hooks()
