"""Dispatch through django-rq: the only module that imports ``django_rq`` and ``rq``.

A queue message carries only the run id; the RQ job id is derived from it
(``togo-run-<pk>``). Runs are enqueued with RQ's public ``enqueue_many``, one
Redis pipeline per queue and batch, after the runs were committed. Nothing here
relies on django-rq's commit modes: plain ``rq.Queue`` objects are built on
django-rq's connection settings, read when used.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import utcparse

from django_togo_scheduler import faults, transitions
from django_togo_scheduler.models import Run

from .base import Dispatcher

logger = logging.getLogger(__name__)

EXECUTE = "django_togo_scheduler.execution.execute_run"
NO_TIMEOUT = -1  # RQ's "no limit"; its default (180 s) would kill long jobs silently
ENDED = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED}
LOST_CHECK_EVERY = timedelta(seconds=5)  # how often queued runs are looked up in Redis
LOST_CHECK_BATCH = 1000  # runs looked up per check
QUEUE_SCAN = (
    10_000  # entries of a queue's list one check reads (LRANGE); past them, LPOS
)
START_GRACE = timedelta(
    seconds=10
)  # a started RQ job whose run is still queued after this is lost
MAX_DISPATCHES = 3  # a run whose message is lost this often is failed instead
LOST_ERROR = (
    "queue message lost {0} times (Redis flushed, or workers died before starting it)"
)


def recover_lost(run: Run, now: datetime) -> None:
    """Put a run whose queue message is gone back in the outbox, or fail it."""
    if run.dispatch_count >= MAX_DISPATCHES:
        transitions.fail(run, LOST_ERROR.format(run.dispatch_count), now)
        return
    transitions.put_back(run, "its queue message is gone")


def job_id(run: Run) -> str:
    """The RQ job id of a run's current dispatch: ``togo-run-<pk>-<dispatch_count>``.

    A new id per dispatch keeps RQ's own clean-up of an abandoned message from
    touching the message that replaced it. RQ allows letters, digits, ``_`` and
    ``-`` only.
    """
    return f"togo-run-{run.pk}-{run.dispatch_count}"


def connection_for(queue: str) -> Redis:
    """A Redis connection for a django-rq queue, from ``RQ_QUEUES`` as it is now."""
    from django_rq.connection_utils import get_redis_connection

    return get_redis_connection(settings.RQ_QUEUES[queue])


def _is_lost(
    status: bytes | None, started_at: bytes | None, listed: bool, now: datetime
) -> bool:
    if status is None or status.decode() in ENDED:
        return True
    if status.decode() == JobStatus.QUEUED:
        return not listed
    if status.decode() == JobStatus.STARTED and started_at:
        return now - utcparse(started_at.decode()).replace(tzinfo=UTC) > START_GRACE
    return False


class RQDispatcher(Dispatcher):
    """Enqueues runs on their django-rq queues; a failure leaves them in the outbox."""

    def __init__(self) -> None:
        self._queues: dict[str, Queue] = {}
        self._down: set[str] = set()
        self._last_check: datetime | None = None
        # The lost-message check walks the queued runs by id, a batch per
        # check, and starts over after the last one.
        self._check_after = 0

    def queue(self, name: str) -> Queue:
        """The ``rq.Queue`` for a django-rq queue name, kept for the process."""
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=connection_for(name))
        return self._queues[name]

    def dispatch(self, runs: Sequence[Run]) -> None:
        faults.point("enqueue", runs)
        by_queue: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            by_queue[run.queue].append(run)
        for name, batch in by_queue.items():
            self._enqueue(name, batch)

    def _enqueue(self, name: str, runs: list[Run]) -> None:
        try:
            queue = self.queue(name)
            with queue.connection.pipeline() as pipe:
                queue.enqueue_many([self._data(run) for run in runs], pipeline=pipe)
                pipe.execute()
        except (RedisError, OSError) as exc:
            self._back_to_outbox(name, runs, exc)
            return
        logger.debug("Enqueued %d run(s) on queue %r.", len(runs), name)
        if name in self._down:
            self._down.discard(name)
            logger.warning("Queue %r reachable again; dispatching resumed.", name)

    @staticmethod
    def _data(run: Run) -> Any:
        return Queue.prepare_data(
            EXECUTE,
            args=(run.pk,),
            job_id=job_id(run),
            timeout=run.timeout or NO_TIMEOUT,
            description=f"{run.job} (run {run.pk})",
        )

    def _back_to_outbox(self, name: str, runs: list[Run], exc: Exception) -> None:
        # The runs stay recorded and queued; the sweep of a later tick retries.
        transitions.give_back(runs)
        level = logging.DEBUG if name in self._down else logging.WARNING
        self._down.add(name)
        logger.log(
            level,
            "Queue %r unreachable (%s); %d run(s) stay queued and are dispatched when it is back.",
            name,
            exc,
            len(runs),
        )

    def lost(self, name: str, runs: Iterable[Run], now: datetime) -> list[Run]:
        """Runs, still queued in the database, whose RQ message will never run them.

        That is: the RQ job is gone (Redis restarted empty) or ended; it is
        ``queued`` but no longer in its queue's list (a worker took it and died);
        or it is ``started`` since more than ``START_GRACE`` while the run never
        moved to running (the work horse died first). One pipeline: the jobs'
        status and the first ``QUEUE_SCAN`` entries of the queue's list; only a
        longer queue costs an ``LPOS`` for each queued job not among them.
        Raises RedisError when Redis is unreachable.
        """
        runs = list(runs)
        queue = self.queue(name)
        ids = [job_id(run) for run in runs]
        with queue.connection.pipeline(transaction=False) as pipe:
            for rq_id in ids:
                pipe.hmget(Job.key_for(rq_id), "status", "started_at")
            pipe.lrange(queue.key, 0, QUEUE_SCAN - 1)
            pipe.llen(queue.key)
            *jobs, listed, length = pipe.execute()
        listed_ids = {entry.decode() for entry in listed}
        found = {rq_id: rq_id in listed_ids for rq_id in ids}
        if length > len(listed):  # a long queue: look further for the rest
            deeper = [
                rq_id
                for rq_id, (status, _) in zip(ids, jobs, strict=True)
                if status == JobStatus.QUEUED.encode() and not found[rq_id]
            ]
            found.update(self._listed(queue, deeper))
        return [
            run
            for run, rq_id, (status, started_at) in zip(runs, ids, jobs, strict=True)
            if _is_lost(status, started_at, found[rq_id], now)
        ]

    @staticmethod
    def _listed(queue: Queue, ids: list[str]) -> dict[str, bool]:
        # LPOS scans the list: only for jobs past the part the check read.
        if not ids:
            return {}
        with queue.connection.pipeline(transaction=False) as pipe:
            for rq_id in ids:
                pipe.lpos(queue.key, rq_id)
            positions = pipe.execute()
        return {rq_id: at is not None for rq_id, at in zip(ids, positions, strict=True)}

    def check(self, now: datetime) -> None:
        """Every few seconds: dispatch again the runs whose queue message was lost.

        Each check looks up the next ``LOST_CHECK_BATCH`` queued runs after the
        previous check's last one, so every run is looked at in turn however
        long the backlog; at the end it starts over.
        """
        if self._last_check is not None and now - self._last_check < LOST_CHECK_EVERY:
            return
        self._last_check = now
        waiting = Run.objects.filter(
            status=Run.Status.QUEUED,
            dispatched_at__lt=now - LOST_CHECK_EVERY,
            pk__gt=self._check_after,
        ).exclude(queue="")
        batch = list(waiting.order_by("id")[:LOST_CHECK_BATCH])
        full = len(batch) == LOST_CHECK_BATCH
        self._check_after = batch[-1].pk if full else 0
        by_queue: dict[str, list[Run]] = defaultdict(list)
        for run in batch:
            by_queue[run.queue].append(run)
        for name, runs in by_queue.items():
            try:
                lost = self.lost(name, runs, now)
            except (RedisError, OSError):
                continue  # the outbox sweep reports the outage
            for run in lost:
                recover_lost(run, now)
