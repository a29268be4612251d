"""Manual runs: recorded like any run, then handed to whoever can start it now.

``Service.trigger`` and the ``scheduler trigger`` / ``scheduler run`` commands
go through :func:`trigger`, which records the run (``trigger="manual"``, skipped
while a run of the job is in flight) and decides where it goes:

- through RQ when the job's queue is configured: enqueued at once;
- inline, to a live scheduler (a ``SchedulerProcess`` row that ticked within
  ``TAKES_TRIGGERS_WITHIN``): the run stays in the outbox and that scheduler's next tick,
  at most ``MAX_SLEEP`` away, hands it out. If none has after
  ``FALLBACK_AFTER`` (the scheduler died), the calling process takes it;
- inline with no live scheduler, or ``here=True``: to the calling process's own
  inline pool, at once.

Hand-overs are guarded (``transitions.dispatch_one`` applies to a run still
queued and not handed out), so a run is never handed out twice. Inside an atomic block
no other connection sees the run until the commit: it is handed over in
``transaction.on_commit``, and :meth:`Handover.wait` executes it in the calling
thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection, connections, router, transaction

from . import clock, transitions
from .dispatch import exits, resolve_queue
from .engine.recording import SKIP_REASON
from .execution import execute_run
from .locking import fresh_connection, write_transaction
from .models import Catchup, Run, ScheduledJob
from .processes import TAKES_TRIGGERS_WITHIN, live_processes
from .registry import registry
from .signals import run_skipped

if TYPE_CHECKING:
    from .dispatch import RoutingDispatcher
    from .dispatch.base import Dispatcher
    from .dispatch.inline import InlineDispatcher

logger = logging.getLogger(__name__)

FALLBACK_AFTER = 2.0  # seconds a live scheduler has to hand out a manual run before the caller takes it
POLL_FIRST, POLL_MAX = 0.05, 0.5  # seconds between two reads of a run waited for

SKIPPED, RQ, SCHEDULER, HERE = "skipped", "rq", "scheduler", "here"


def _dispatch_now(run: Run, now: datetime, dispatcher: Dispatcher) -> bool:
    """Hand ``run`` to ``dispatcher`` at once if it is still in the outbox."""
    if not transitions.dispatch_one(run, now):
        return False
    dispatcher.dispatch([run])
    return True


@dataclass
class Handover:
    """Where a manual run went, and the means to wait for it."""

    run: Run
    where: str  # SKIPPED, RQ, SCHEDULER (left for a live one) or HERE (this process)
    dispatcher: RoutingDispatcher | None = None  # the process's (the service's)
    schedulers: list[str] = field(
        default_factory=list
    )  # host:pid of the live ones seen
    alias: str = "default"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _decided: bool = False  # for SCHEDULER: a scheduler or the fallback has it
    _settled: threading.Event = field(default_factory=threading.Event)
    _timer: threading.Timer | None = None
    _pool: InlineDispatcher | None = None  # the one the fallback hands the run to
    _ran_here: bool = False  # executed in the calling thread (atomic block)

    def hand_over(self) -> None:
        """Send the run where it goes (on commit, or at once outside a transaction)."""
        if self._ran_here:
            return
        if connections[self.alias].in_atomic_block:
            # Commit callbacks run inside a transaction: a test's captured
            # callbacks. Nobody else can see the run; execute it here.
            self._execute_here()
            return
        assert self.dispatcher is not None
        now = clock.now()
        if self.where == RQ:
            _dispatch_now(self.run, now, self.dispatcher.rq)
        elif self.where == HERE and self.run.dispatched_at is not None:
            self.dispatcher.inline.dispatch([self.run])  # recorded as ours
        elif self.where == HERE:
            if not _dispatch_now(self.run, now, self.dispatcher.inline):
                self.where = SCHEDULER  # a scheduler starting meanwhile swept it
        else:
            self._arm_fallback()
        if self.where != SCHEDULER:
            self._settled.set()

    def _arm_fallback(self) -> None:
        assert self.dispatcher is not None
        # The pool is made here: the timer's thread must not race to make one.
        self._pool = self.dispatcher.inline
        timer = threading.Timer(FALLBACK_AFTER, self._fall_back)
        timer.daemon = True
        self._timer = timer
        exits.hold_exit(timer)  # a process exiting meanwhile waits for the decision
        timer.start()

    def _fall_back(self) -> None:
        try:
            with self._lock:
                if self._decided:
                    return
                self._decided = True
            assert self._pool is not None
            if _dispatch_now(self.run, clock.now(), self._pool):
                self.where = HERE
                logger.warning(
                    "No scheduler handed out manual run %s of %r within %s s; "
                    "running it in this process.",
                    self.run.pk,
                    self.run.job,
                    FALLBACK_AFTER,
                    extra={"job": self.run.job, "run_id": self.run.pk},
                )
        finally:
            connection.close()  # the timer thread's own
            self._settled.set()
            if self._timer is not None:
                exits.release_exit(self._timer)

    def settle(self) -> str:
        """Wait until it is known who has the run (at most ``FALLBACK_AFTER``); where.

        Inside an atomic block the hand-over waits for the commit: the answer is
        where it will go.
        """
        if self.in_transaction():
            return self.where
        pause = POLL_FIRST
        while not self._settled.is_set():
            self._read()
            self._settled.wait(pause)
            pause = min(pause * 1.5, POLL_MAX)
        return self.where

    def _read(self) -> str | None:
        """The run's status now (None: deleted); notes a scheduler handing it out."""
        row = (
            Run.objects.filter(pk=self.run.pk)
            .values_list("status", "dispatched_at")
            .first()
        )
        if row is not None and row[1] is not None and not self._settled.is_set():
            with self._lock:
                if not self._decided:  # a scheduler was first: no fallback
                    self._decided = True
                    self._stop_timer()
        return None if row is None else row[0]

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            exits.release_exit(self._timer)
        self._settled.set()

    def wait(self) -> Run:
        """Return the run once it ended, with its final status."""
        if not self.run.is_in_flight:
            return self.run
        if self.in_transaction() and not self._ran_here:
            self._execute_here()
        pause = POLL_FIRST
        while True:
            status = self._read()
            if status is None:  # deleted meanwhile (a prune, a test's clean-up)
                return self.run
            if status not in (Run.Status.QUEUED, Run.Status.RUNNING):
                self.run.refresh_from_db()
                return self.run
            time.sleep(pause)
            pause = min(pause * 1.5, POLL_MAX)

    def in_transaction(self) -> bool:
        """Whether the caller is inside an atomic block (the hand-over waits for its commit)."""
        return connections[self.alias].in_atomic_block

    def abandon(self, why: str) -> None:
        """This process is about to end: fail the run held here, or put it back."""
        if self.where == HERE and self.dispatcher is not None:
            fresh_connection(self.alias)
            error = exits.PROCESS_EXITED.format(worker=clock.worker_name(), why=why)
            self.dispatcher.inline.fail_held(error, pks=[self.run.pk])

    def _execute_here(self) -> None:
        self._ran_here = True
        self.where = HERE
        self._stop_timer()
        execute_run(self.run.pk)
        self.run.refresh_from_db()


def trigger(
    dispatcher: RoutingDispatcher, name: str, *, here: bool = False
) -> Handover:
    """Record a manual run of ``name`` and hand it over; see the module docstring.

    ``dispatcher``: the process's (``get_scheduler().dispatcher``). ``here``:
    run it in this process's inline pool whatever its queue (``scheduler run``).
    """
    spec = registry.get(name)  # UnknownJob
    job = ScheduledJob.objects.filter(name=spec.name).first()
    queue = "" if here else resolve_queue(job.queue if job else None)
    now = clock.now()
    live = [] if here or queue else live_processes(now, TAKES_TRIGGERS_WITHIN)
    run, superseded = record(
        name, job, queue, now, handed_out=here, untaken=here or not live
    )
    for old in superseded:
        run_skipped.send(sender=Run, run=old)
    alias = router.db_for_write(Run)
    if run.status == Run.Status.SKIPPED:
        run_skipped.send(sender=Run, run=run)
        return Handover(run, SKIPPED, alias=alias)
    where = RQ if queue else SCHEDULER if live else HERE
    handover = Handover(
        run, where, dispatcher, schedulers=[str(p) for p in live], alias=alias
    )
    transaction.on_commit(handover.hand_over, using=alias)
    return handover


def record(
    name: str,
    job: ScheduledJob | None,
    queue: str,
    now: datetime,
    *,
    handed_out: bool = False,
    untaken: bool = False,
) -> tuple[Run, list[Run]]:
    """The manual run's row, and the runs of the job it superseded.

    Runs of the job that never left the outbox are superseded first, as a new
    slot supersedes them (``transitions.supersede``): RQ runs whose queue was
    unreachable, and with ``untaken`` (no live scheduler would hand them out)
    inline ones recorded more than ``FALLBACK_AFTER`` ago too; not under ``catchup="all"``, whose runs wait in a chain on
    purpose. The manual run is then skipped while a run of the job is still in
    flight. ``handed_out``: recorded as handed to this process already, so that
    no scheduler's sweep takes it. The caller sends ``run_skipped`` for the
    superseded runs (after the commit).
    """
    # A younger inline run still has its hand-over coming (on commit, or the
    # fallback's): it is in flight.
    untaken_before = now - timedelta(seconds=FALLBACK_AFTER) if untaken else None
    with write_transaction(Run) as alias:
        chained = job is not None and job.catchup == Catchup.ALL
        superseded = (
            []
            if chained
            else transitions.supersede(
                [name], now, using=alias, inline_before=untaken_before
            )
        )
        in_flight = Run.objects.using(alias).in_flight().filter(job=name).exists()
        dispatched = now if handed_out and not in_flight else None
        run = Run.objects.using(alias).create(
            job=name,
            trigger=Run.Trigger.MANUAL,
            status=Run.Status.SKIPPED if in_flight else Run.Status.QUEUED,
            error=SKIP_REASON if in_flight else "",
            finished_at=now if in_flight else None,
            timeout=job.timeout if job else None,
            queue=queue,
            dispatched_at=dispatched,
            heartbeat_at=dispatched,
            dispatch_count=1 if dispatched else 0,
        )
    return run, superseded
