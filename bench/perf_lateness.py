"""bench/perf.py's lateness: how late a real runscheduler puts each slot's jobs in Redis.

A real ``runscheduler`` and ``LATENESS_WORKERS`` RQ SimpleWorkers (children of
this process) run for ``lateness_seconds`` with ``lateness_schedules``
schedules. Schedule ``i`` is ``@every <2 + i>s`` (2 s to 1,001 s): a slot nearly
every second (not at a prime number of seconds since the epoch), about six runs
due per slot and many more where periods share a multiple. Lateness is the RQ
job's ``enqueued_at`` minus the run's ``scheduled_for``; runs recorded as
skipped (their previous run still in flight) have no job and are counted apart.
Thousands of runs due at one instant are the burst workload.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness.db import analyze, recreate_database
from bench.harness.procs import start, stop_all
from bench.harness.rows import emit
from bench.harness.timing import percentile
from bench.perf_config import LATENESS_WARMUP, LATENESS_WORKERS
from bench.perf_setup import child_command, redis_client


def measure_lateness(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """A real runscheduler (and RQ SimpleWorkers) with 1,000 schedules, over real time."""
    from django.db import connections

    recreate_database()
    redis_client(args).flushdb()
    count = config["lateness_schedules"]
    begin = datetime.now(UTC) + timedelta(seconds=3)
    create_schedules(count, begin)
    analyze()
    connections.close_all()
    children = [
        start(child_command(args, name, count), show_errors=True)
        for name in ("runscheduler", *["worker"] * LATENESS_WORKERS)
    ]
    try:
        time.sleep(config["lateness_seconds"])
    finally:
        stop_all(children, 30)
    end = datetime.now(UTC)
    emit(lateness_record(args, begin + LATENESS_WARMUP, end - timedelta(seconds=3)))


def create_schedules(count: int, begin: datetime) -> None:
    """Schedule ``i``: ``@every <2 + i>s``, from its first slot after ``begin``."""
    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.schedules import first_slot

    ScheduledJob.objects.bulk_create(
        ScheduledJob(
            name=f"perf.job{i:06d}",
            spec=spec,
            next_run_at=first_slot(spec, "", begin),
        )
        for i in range(count)
        for spec in [f"@every {2 + i}s"]
    )


def rq_job_id(run: Any) -> str:
    """The RQ job id the dispatcher gave ``run`` (``job_id(run)``, or of its pk before)."""
    from django_togo_scheduler.dispatch.rq import job_id

    try:
        return str(job_id(run))
    except (TypeError, AttributeError):
        return str(job_id(run.pk))


def enqueued_at(args: argparse.Namespace, runs: list[Any]) -> list[bytes | None]:
    """Each run's RQ ``enqueued_at`` (None: not in Redis)."""
    redis = redis_client(args)
    with redis.pipeline(transaction=False) as pipe:
        for run in runs:
            pipe.hget(f"rq:job:{rq_job_id(run)}", "enqueued_at")
        return list(pipe.execute())


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "runs": len(values),
        "p50_ms": round(percentile(values, 0.5), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


def lateness_record(
    args: argparse.Namespace, since: datetime, until: datetime
) -> dict[str, Any]:
    from rq.utils import utcparse

    from django_togo_scheduler.models import Run

    rows = Run.objects.filter(scheduled_for__gte=since, scheduled_for__lte=until)
    runs = list(rows.order_by("pk"))
    recorded = [run for run in runs if run.status != Run.Status.SKIPPED]
    late: list[float] = []
    by_slot: dict[datetime, float] = {}
    due: dict[datetime, int] = {}
    missing = 0
    for run, at in zip(recorded, enqueued_at(args, recorded), strict=True):
        slot = run.scheduled_for
        due[slot] = due.get(slot, 0) + 1
        if at is None:
            missing += 1
            continue
        ms = (utcparse(at.decode()).replace(tzinfo=UTC) - slot).total_seconds() * 1000
        late.append(ms)
        by_slot[slot] = max(by_slot.get(slot, ms), ms)
    return {
        "tool": "togo",
        "workload": "lateness",
        "db": args.child_db,
        "schedules": len({run.job for run in runs}),
        "slots": len(by_slot),
        "skipped": len(runs) - len(recorded),
        "not_in_redis": missing,
        **stats(late),
        "due_per_slot_mean": round(statistics.mean(due.values()), 2) if due else None,
        "due_per_slot_max": max(due.values(), default=None),
        "slot_last_job": stats(list(by_slot.values())),
    }
