"""The chaos app: installs the crash hooks when the harness asks for them.

A process started by ``bench/chaos.py`` gets ``TOGO_CHAOS_TRIGGER``, a path
prefix, and dies on purpose in a narrow window while the file
``<prefix>.<window>`` exists:

``insert``   a scheduler, right before it inserts the runs of the slots it
             claimed: inside the claim transaction, after ``next_run_at`` was
             advanced (the ``insert`` point of ``django_togo_scheduler.faults``);
``enqueue``  a scheduler, right before it enqueues runs on RQ: after the outbox
             sweep committed them as dispatched (the ``enqueue`` point);
``dequeue``  an rqworker, right after it took a run's message off the queue and
             before it records the execution in RQ's started registry (wraps
             RQ's ``BaseWorker.prepare_execution``);
``start``    a worker machine, after its work horse began the RQ job and before
             the run is marked running: the horse kills its rqworker and itself
             (the ``start`` point).

A process dies with ``os._exit(137)``. Before dying, the process appends
``<window> <pid> <unix time> <what it was about to do>`` to the file named by
``TOGO_CHAOS_HITS`` (``<pid>`` is the process the harness supervises: the
scheduler, or the rqworker).

The hook is installed only by this app, in processes started with
``TOGO_CHAOS_TRIGGER``: django-togo-scheduler has its one documented fault hook
(:mod:`django_togo_scheduler.faults`), which costs nothing when none is installed.
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


def chaos_hook(point: str, subject: Any) -> None:
    """The fault hook (:mod:`django_togo_scheduler.faults`): dies in an armed window."""
    if point == "insert" and subject and armed("insert"):
        # Inside the claim transaction: next_run_at advanced, no run inserted.
        slots = ",".join(
            f"{run.job}@{run.scheduled_for.isoformat()}" for run in subject
        )
        record_hit("insert", os.getpid(), slots)
        os._exit(EXIT_CODE)
    if point == "enqueue" and subject and armed("enqueue"):
        # The runs are committed with dispatched_at set; nothing is in Redis.
        record_hit("enqueue", os.getpid(), ",".join(str(run.pk) for run in subject))
        os._exit(EXIT_CODE)
    if point == "start" and armed("start") and _parent_is_rqworker():
        # A work horse with the message taken, the run still queued: the
        # machine goes, rqworker and horse at once.
        worker = os.getppid()
        record_hit("start", worker, f"{subject} horse {os.getpid()}")
        os.kill(worker, signal.SIGKILL)
        os._exit(EXIT_CODE)


def install_hooks() -> None:
    """Install the fault hook, and wrap RQ's worker for the ``dequeue`` window."""
    from django_togo_scheduler import faults

    if set(faults.POINTS) != {"insert", "enqueue", "start"}:
        # The harness must not believe it hits a window it can no longer reach.
        raise ImproperlyConfigured(f"chaos hooks: the fault points are {faults.POINTS}")
    faults.install(chaos_hook)
    install_worker_hook()


def install_worker_hook() -> None:
    """The ``dequeue`` window, in RQ's worker (not a scheduler's code)."""
    from rq.worker.base import BaseWorker

    prepare = BaseWorker.prepare_execution
    if getattr(prepare, "chaos_hook", False):
        return

    @functools.wraps(prepare)
    def chaos_prepare_execution(self: Any, job: Any) -> Any:
        if armed("dequeue") and job.id.startswith("togo-run-"):
            # The message is off the queue (in RQ's intermediate queue), the
            # job still says "queued", no horse exists yet.
            record_hit("dequeue", os.getpid(), job.id.removeprefix("togo-run-"))
            os._exit(EXIT_CODE)
        return prepare(self, job)

    chaos_prepare_execution.chaos_hook = True  # type: ignore[attr-defined]
    BaseWorker.prepare_execution = chaos_prepare_execution  # type: ignore[method-assign]


class ChaosAppConfig(AppConfig):
    name = "bench.chaos_app"
    label = "chaos_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if os.environ.get(TRIGGER_ENV):
            install_hooks()
