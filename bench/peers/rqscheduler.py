"""rq-scheduler 0.14 (a Redis sorted set of scheduled jobs) under bench/perf.py's workloads.

Run by bench/perf.py with the interpreter of bench/.venv-peers-rq-scheduler;
prints one ``RESULT {json}`` line per measurement. Never imports
django_togo_scheduler.

idle     one iteration of ``Scheduler.run()``'s loop with N cron jobs scheduled,
         none due: ``heartbeat()``, ``acquire_lock()``, ``enqueue_jobs()`` (a
         ``ZRANGEBYSCORE`` up to now), ``heartbeat()``, ``remove_lock()``;
startup  a child process: import, ``Scheduler()``, ``register_birth()`` and the
         first iteration (the jobs live in Redis, nothing is loaded);
burst    N cron jobs all due (their score moved to the past): one
         ``enqueue_jobs()``, which fetches each job, enqueues it and schedules its
         next slot, a few round trips per job.

The N cron jobs are stored as ``Scheduler.cron()`` stores them (the job hash, its
score in the sorted set), in pipelines to keep the set-up short.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from typing import Any

from peerlib import (
    READY,
    emit,
    idle_minutes,
    log,
    measure_startup,
    noop,
    phase,
    summary,
    time_calls,
    wait_for_termination,
)

TOOL = "rq-scheduler"
QUEUE = "perf"
BATCH = 2000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--tick-budget", type=float, default=15.0)
    parser.add_argument("--startup", type=int, default=0)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--startup-child", action="store_true")
    return parser.parse_args()


def make_scheduler(redis_url: str) -> Any:
    from redis import Redis
    from rq_scheduler import Scheduler

    logging.getLogger("rq_scheduler.scheduler").setLevel(logging.WARNING)
    return Scheduler(queue_name=QUEUE, connection=Redis.from_url(redis_url))


def add_cron_jobs(scheduler: Any, count: int, specs: list[str]) -> None:
    """What ``Scheduler.cron()`` stores for ``count`` jobs, pipelined."""
    from rq_scheduler.utils import get_next_scheduled_time, to_unix

    scores = {spec: to_unix(get_next_scheduled_time(spec)) for spec in specs}
    for start in range(0, count, BATCH):
        with scheduler.connection.pipeline() as pipe:
            for i in range(start, min(count, start + BATCH)):
                spec = specs[i % len(specs)]
                job = scheduler._create_job(noop, commit=False, result_ttl=-1)
                job.meta["cron_string"] = spec
                job.meta["use_local_timezone"] = False
                job.save(pipeline=pipe)
                pipe.zadd(scheduler.scheduled_jobs_key, {job.id: scores[spec]})
            pipe.execute()


def iteration(scheduler: Any) -> None:
    """One pass of ``Scheduler.run()``'s loop, without the sleep."""
    scheduler.heartbeat()
    if scheduler.acquire_lock():
        scheduler.enqueue_jobs()
        scheduler.heartbeat()
        scheduler.remove_lock()


def idle_specs() -> list[str]:
    return [f"{minute} * * * *" for minute in idle_minutes(datetime.now(UTC).minute)]


def measure_idle(args: argparse.Namespace, count: int) -> None:
    scheduler = make_scheduler(args.redis_url)
    scheduler.connection.flushdb()
    add_cron_jobs(scheduler, count, idle_specs())
    scheduler.register_birth()
    times = time_calls(
        lambda: iteration(scheduler),
        samples=args.ticks,
        warmup=2,
        budget_s=args.tick_budget,
    )
    assert not list(scheduler.get_jobs_to_queue()), "an idle iteration had a due job"
    scheduler.register_death()
    emit(
        {
            "tool": TOOL,
            "workload": "idle_tick",
            "db": "redis",
            "schedules": count,
            **summary(times),
        }
    )


def measure_startup_parent(args: argparse.Namespace) -> None:
    scheduler = make_scheduler(args.redis_url)
    scheduler.connection.flushdb()
    add_cron_jobs(scheduler, args.startup, idle_specs())
    command = [sys.executable, os.path.abspath(__file__)]
    command += ["--redis-url", args.redis_url, "--startup-child"]
    emit(
        {
            "tool": TOOL,
            "workload": "startup",
            "db": "redis",
            "schedules": args.startup,
            **measure_startup(command),
        }
    )


def startup_child(args: argparse.Namespace) -> None:
    """What ``rqscheduler`` does before its first sleep, then READY."""
    start = time.perf_counter()
    scheduler = make_scheduler(args.redis_url)
    mark = phase("import", start)
    scheduler.register_birth()
    iteration(scheduler)
    phase("first_tick", mark)
    print(READY, flush=True)
    wait_for_termination()


def measure_burst(args: argparse.Namespace) -> None:
    from rq import Queue

    scheduler = make_scheduler(args.redis_url)
    redis = scheduler.connection
    redis.flushdb()
    add_cron_jobs(scheduler, args.burst, ["* * * * *"])
    # All due at once: every score one second in the past.
    past = time.time() - 1
    ids = redis.zrange(scheduler.scheduled_jobs_key, 0, -1)
    redis.zadd(scheduler.scheduled_jobs_key, dict.fromkeys(ids, past))
    scheduler.register_birth()
    start = time.perf_counter()
    scheduler.enqueue_jobs()
    elapsed = time.perf_counter() - start
    assert Queue(QUEUE, connection=redis).count == args.burst
    emit(
        {
            "tool": TOOL,
            "workload": "burst",
            "db": "redis",
            "due": args.burst,
            "sent": args.burst,
            "seconds": round(elapsed, 3),
            "jobs_per_s": round(args.burst / elapsed, 1),
            "capped": False,
        }
    )


def main() -> None:
    # crontab (rq-scheduler's cron parser) warns on every next() about a future change.
    warnings.simplefilter("ignore", FutureWarning)
    args = parse_args()
    if args.startup_child:
        startup_child(args)
        return
    from importlib.metadata import version

    log(f"{TOOL} {version('rq-scheduler')} (rq {version('rq')})")
    for count in args.sizes:
        log(f"idle iteration, {count} cron jobs")
        measure_idle(args, count)
    if args.startup:
        log(f"start-up, {args.startup} cron jobs")
        measure_startup_parent(args)
    if args.burst:
        log(f"burst, {args.burst} jobs due")
        measure_burst(args)


if __name__ == "__main__":
    main()
