"""A burst of due schedules into Redis, next to RQ's own ``enqueue_many`` floor.

    python bench/burst.py --db sqlite --due 10000
    python bench/burst.py --db postgres --due 10000 --repeat 3

For each repeat: N schedules all due at the same instant are claimed, recorded
and enqueued by one ``engine.tick`` through the RQ dispatcher (one Redis pipeline
per batch); then, in the same run against the same Redis, N trivial jobs go in
with ``Queue.enqueue_many`` in one pipeline. Prints both throughputs and their
ratio, and one JSON line per repeat. The Redis database (default
``redis://127.0.0.1:6379/14``, ``TOGO_BENCH_REDIS``) is flushed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.db import recreate_database  # noqa: E402
from bench.harness.redis_server import client, enqueue_many_floor  # noqa: E402
from bench.harness.schedules import create_due, noop, register  # noqa: E402
from bench.harness.timing import timed  # noqa: E402

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ["TOGO_BENCH_DB"] = args.db
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.burst_settings"
    import django

    django.setup()
    recreate_database()
    results = [measure(args.due) for _ in range(args.repeat)]
    ours = statistics.median(r["togo_jobs_per_s"] for r in results)
    floor = statistics.median(r["enqueue_many_jobs_per_s"] for r in results)
    print(
        f"{args.due} due schedules on {args.db}: claim + record + enqueue "
        f"{ours:,.0f} jobs/s; RQ enqueue_many {floor:,.0f} jobs/s; ratio {ours / floor:.2f}"
    )
    for result in results:
        print(json.dumps({"db": args.db, **result}))


def measure(due: int) -> dict[str, float]:
    from rq import Queue

    from django_togo_scheduler.dispatch import get_dispatcher
    from django_togo_scheduler.engine import EngineState, tick
    from django_togo_scheduler.models import Run, ScheduledJob

    redis = client(os.environ.get("TOGO_BENCH_REDIS", "redis://127.0.0.1:6379/14"))
    redis.flushdb()
    Run.objects.all().delete()
    ScheduledJob.objects.all().delete()
    names = [f"bench.job{i}" for i in range(due)]
    register(names)
    create_due(names, NOW)

    dispatcher = get_dispatcher()
    runs, togo = timed(lambda: tick(NOW, dispatcher=dispatcher, state=EngineState()))
    assert len(runs) == due and Queue("bench", connection=redis).count == due

    floor = enqueue_many_floor(redis, due, noop)
    return {
        "due": due,
        "togo_seconds": round(togo, 3),
        "togo_jobs_per_s": round(due / togo),
        "enqueue_many_seconds": round(floor, 3),
        "enqueue_many_jobs_per_s": round(due / floor),
    }


if __name__ == "__main__":
    main()
