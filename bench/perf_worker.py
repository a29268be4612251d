"""bench/perf.py's worker: what ``execute_run`` adds to each RQ job.

Per job, with ``CONN_MAX_AGE`` 0 and 60: ``worker_jobs`` runs handed to RQ by
the outbox sweep and executed by a ``SimpleWorker`` in burst mode, against as
many bare RQ jobs of the same trivial work. Also the ``worker`` child: an RQ
``SimpleWorker`` on the benchmark's queue, for the lateness workload.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import timedelta
from typing import Any

from bench.harness.db import raw_delete, recreate_database
from bench.harness.rows import emit
from bench.harness.timing import timed
from bench.perf_burst import BURST_NOW
from bench.perf_config import FLOOR_FUNC, QUEUE
from bench.perf_setup import configure_django, redis_client, register_handlers


def measure_worker(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Per job: execute_run in a SimpleWorker burst vs a bare RQ job of the same work."""
    from django.db import connection

    recreate_database()
    count = config["worker_jobs"]
    register_handlers(count, prefix="perf.w")
    for conn_max_age in (0, 60):
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = conn_max_age
        ours_s, bare_s = [], []
        for repeat in range(config["worker_repeat"]):
            ours_s.append(worker_burst_ours(args, count, repeat))
            bare_s.append(worker_burst_bare(args, count))
        per_job = statistics.median(ours_s) / count * 1000
        bare = statistics.median(bare_s) / count * 1000
        emit(
            {
                "tool": "togo",
                "workload": "worker",
                "db": args.child_db,
                "jobs": count,
                "conn_max_age": conn_max_age,
                "per_job_ms": round(per_job, 3),
                "bare_per_job_ms": round(bare, 3),
                "overhead_ms": round(per_job - bare, 3),
            }
        )
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 0


def simple_worker(args: argparse.Namespace) -> Any:
    from rq import Queue, SimpleWorker

    redis = redis_client(args)
    return SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis)


def run_simple_worker(args: argparse.Namespace) -> float:
    """Seconds a SimpleWorker takes to empty the queue (burst mode)."""
    worker = simple_worker(args)
    _, seconds = timed(
        lambda: worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
    )
    return seconds


def worker_burst_ours(args: argparse.Namespace, count: int, repeat: int) -> float:
    from django_togo_scheduler.dispatch.rq import RQDispatcher
    from django_togo_scheduler.engine.outbox import dispatch_pending
    from django_togo_scheduler.models import Run

    redis_client(args).flushdb()
    raw_delete(Run)
    slot = BURST_NOW + timedelta(minutes=repeat)
    Run.objects.bulk_create(
        Run(job=f"perf.w{i:06d}", scheduled_for=slot, queue=QUEUE) for i in range(count)
    )
    handed = dispatch_pending(slot, RQDispatcher())
    assert len(handed) == count
    seconds = run_simple_worker(args)
    assert Run.objects.filter(status=Run.Status.DONE).count() == count
    return seconds


def worker_burst_bare(args: argparse.Namespace, count: int) -> float:
    from rq import Queue

    redis = redis_client(args)
    redis.flushdb()
    queue = Queue(QUEUE, connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(FLOOR_FUNC) for _ in range(count)], pipeline=pipe
        )
        pipe.execute()
    seconds = run_simple_worker(args)
    assert queue.count == 0
    return seconds


def child_worker(args: argparse.Namespace) -> None:
    """The ``worker`` child: a SimpleWorker with ``--register`` handlers, until SIGTERM."""
    configure_django(args)
    register_handlers(args.register)
    simple_worker(args).work(logging_level="WARNING", with_scheduler=False)
