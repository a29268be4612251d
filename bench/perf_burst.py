"""bench/perf.py's burst: N schedules due at once, claimed, recorded and put in Redis.

bench/burst.py's method at each size of ``growth`` (and ``burst``): one tick
through the RQ dispatcher, its steps timed one by one
(:func:`bench.harness.tick_steps.timed_tick`: the claim and the outbox sweep
apart), then, in the same process against the same Redis, RQ's own
``enqueue_many`` of as many trivial jobs: the floor.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime
from typing import Any

from bench.harness.db import analyze, count_queries, raw_delete, recreate_database
from bench.harness.redis_server import enqueue_many_floor
from bench.harness.rows import emit
from bench.harness.schedules import create_due
from bench.harness.tick_steps import timed_tick
from bench.harness.timing import median_of
from bench.perf_config import FLOOR_FUNC, QUEUE
from bench.perf_setup import redis_client, register_handlers

BURST_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def measure_bursts(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """The median of ``burst_repeat`` bursts at each size, and the floor's."""
    sizes = sorted({*config["growth"], config["burst"]})
    recreate_database()
    register_handlers(max(sizes))
    for size in sizes:
        results = [burst_once(args, size) for _ in range(config["burst_repeat"])]
        emit(burst_record(args, size, results))
        floor = statistics.median(r["floor_s"] for r in results)
        emit(
            {
                "tool": "rq",
                "workload": "enqueue_many",
                "db": args.child_db,
                "due": size,
                "seconds": round(floor, 3),
                "jobs_per_s": round(size / floor),
            }
        )


def burst_record(
    args: argparse.Namespace, size: int, results: list[dict[str, Any]]
) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in results)
    return {
        "tool": "togo",
        "workload": "burst",
        "db": args.child_db,
        "due": size,
        "seconds": round(seconds, 3),
        "jobs_per_s": round(size / seconds),
        "claim_s": median_of(results, "claim_s"),
        "dispatch_s": median_of(results, "dispatch_s"),
        "queries": results[-1]["queries"],
        "all_s": [round(r["seconds"], 3) for r in results],
    }


def burst_once(args: argparse.Namespace, size: int) -> dict[str, Any]:
    from rq import Queue

    from django_togo_scheduler import engine
    from django_togo_scheduler.dispatch import get_dispatcher
    from django_togo_scheduler.models import Run, ScheduledJob

    redis = redis_client(args)
    redis.flushdb()
    raw_delete(Run)
    raw_delete(ScheduledJob)
    create_due((f"perf.job{i:06d}" for i in range(size)), BURST_NOW)
    analyze()
    dispatcher = get_dispatcher()
    with count_queries() as counter:
        runs, spent = timed_tick(
            BURST_NOW, dispatcher=dispatcher, state=engine.EngineState()
        )
    assert len(runs) == size and Queue(QUEUE, connection=redis).count == size
    return {
        "seconds": spent["tick"],
        "claim_s": spent["claim"],
        "dispatch_s": spent["dispatch"],
        "floor_s": enqueue_many_floor(redis, size, FLOOR_FUNC),
        "queries": counter[0],
    }
