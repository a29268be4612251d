"""django-celery-beat 2.9 (``DatabaseScheduler``) under the workloads of bench/perf.py.

Run by bench/perf.py with the interpreter of bench/.venv-peers-beat; prints one
``RESULT {json}`` line per measurement. Never imports django_togo_scheduler.

idle     ``DatabaseScheduler.tick()`` with N hourly crontab tasks, none due (each
         at a minute 20-40 minutes away), after the first tick built the heap;
startup  a child process: Django set-up, the scheduler (which loads every
         enabled task), its first tick; seconds and RSS;
burst    N ``* * * * *`` tasks all due: ``tick()`` until the broker (Redis) has
         N messages or ``--burst-cap`` seconds passed; beat sends one task per
         tick, so the rate is what it sent in that time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from peerlib import (
    IDLE_ZONES,
    READY,
    emit,
    idle_minutes,
    log,
    measure_startup,
    phase,
    recreate_postgres,
    summary,
    time_calls,
    wait_for_termination,
)

TOOL = "celery-beat"
QUEUE_KEY = "celery"  # the Redis list kombu publishes beat's messages to
BATCH = 5000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--sqlite-path", required=True)
    parser.add_argument("--pg-name", default="togo_perf_beat")
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--tick-budget", type=float, default=15.0)
    parser.add_argument("--startup", type=int, default=0)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--burst-cap", type=float, default=30.0)
    parser.add_argument("--startup-child", action="store_true")
    return parser.parse_args()


def configure(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    if args.db == "postgres":
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": args.pg_name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    else:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": args.sqlite_path,
            "OPTIONS": {"timeout": 20},
        }
    settings.configure(
        SECRET_KEY="perf",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["django_celery_beat"],
        DATABASES={"default": database},
        LOGGING_CONFIG=None,
    )
    django.setup()


def make_app(redis_url: str) -> Any:
    from celery import Celery

    app = Celery("perf", broker=redis_url)
    app.conf.timezone = "UTC"
    app.conf.enable_utc = True
    app.conf.result_expires = None  # no backend_cleanup entry of its own
    return app


def recreate_database(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    if args.db == "postgres":
        recreate_postgres(
            args.pg_name,
            os.environ.get("PGHOST", "127.0.0.1"),
            os.environ.get("PGPORT", "5432"),
            os.environ.get("PGUSER", "postgres"),
        )
    else:
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(args.sqlite_path + suffix):
                os.unlink(args.sqlite_path + suffix)
    call_command("migrate", verbosity=0)


def populate_idle(count: int) -> None:
    """``count`` hourly tasks, none due in the next 20 minutes."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTasks

    now = datetime.now(UTC)
    crontabs = [
        CrontabSchedule.objects.create(minute=str(minute), hour="*", timezone=zone)
        for minute in idle_minutes(now.minute)
        for zone in IDLE_ZONES
    ]
    _bulk_tasks(count, lambda i: crontabs[i % len(crontabs)], now)
    PeriodicTasks.update_changed()
    analyze()


def populate_due(count: int) -> None:
    """``count`` ``* * * * *`` tasks whose last run was five minutes ago (all due)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTasks

    every_minute = CrontabSchedule.objects.create(minute="*", hour="*", timezone="UTC")
    _bulk_tasks(count, lambda i: every_minute, datetime.now(UTC) - timedelta(minutes=5))
    PeriodicTasks.update_changed()
    analyze()


def _bulk_tasks(count: int, crontab: Any, last_run_at: datetime) -> None:
    from django_celery_beat.models import PeriodicTask

    for start in range(0, count, BATCH):
        PeriodicTask.objects.bulk_create(
            PeriodicTask(
                name=f"perf{i}",
                task="perf.noop",
                crontab=crontab(i),
                last_run_at=last_run_at,
            )
            for i in range(start, min(count, start + BATCH))
        )


def analyze() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def redis_client(url: str) -> Any:
    from redis import Redis

    return Redis.from_url(url)


def measure_idle(args: argparse.Namespace, count: int) -> None:
    from django_celery_beat.schedulers import DatabaseScheduler

    recreate_database(args)
    populate_idle(count)
    redis = redis_client(args.redis_url)
    redis.flushdb()
    app = make_app(args.redis_url)
    start = time.perf_counter()
    scheduler = DatabaseScheduler(app=app)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    scheduler.tick()  # builds the heap
    first_tick_s = time.perf_counter() - start
    times = time_calls(
        scheduler.tick, samples=args.ticks, warmup=2, budget_s=args.tick_budget
    )
    assert redis.llen(QUEUE_KEY) == 0, "an idle tick sent a task"
    emit(
        {
            "tool": TOOL,
            "workload": "idle_tick",
            "db": args.db,
            "schedules": count,
            **summary(times),
            "load_s": round(load_s, 3),
            "first_tick_s": round(first_tick_s, 3),
        }
    )


def measure_startup_parent(args: argparse.Namespace) -> None:
    recreate_database(args)
    populate_idle(args.startup)
    command = [sys.executable, os.path.abspath(__file__), "--startup-child"]
    command += ["--db", args.db, "--redis-url", args.redis_url]
    command += ["--sqlite-path", args.sqlite_path, "--pg-name", args.pg_name]
    result = measure_startup(command)
    emit(
        {
            "tool": TOOL,
            "workload": "startup",
            "db": args.db,
            "schedules": args.startup,
            **result,
        }
    )


def startup_child(args: argparse.Namespace) -> None:
    """What ``celery beat -S django`` does before its first sleep, then READY."""
    start = time.perf_counter()
    configure(args)
    from django_celery_beat.schedulers import DatabaseScheduler

    app = make_app(args.redis_url)
    mark = phase("django", start)
    scheduler = DatabaseScheduler(app=app)
    mark = phase("load", mark)
    scheduler.tick()
    phase("first_tick", mark)
    print(READY, flush=True)
    wait_for_termination()


def measure_burst(args: argparse.Namespace) -> None:
    from django_celery_beat.schedulers import DatabaseScheduler

    recreate_database(args)
    populate_due(args.burst)
    redis = redis_client(args.redis_url)
    redis.flushdb()
    scheduler = DatabaseScheduler(app=make_app(args.redis_url))
    ticks = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.burst_cap:
        delay = scheduler.tick()
        ticks += 1
        if delay and redis.llen(QUEUE_KEY) >= args.burst:
            break
    elapsed = time.perf_counter() - start
    sent = redis.llen(QUEUE_KEY)
    emit(
        {
            "tool": TOOL,
            "workload": "burst",
            "db": args.db,
            "due": args.burst,
            "sent": sent,
            "seconds": round(elapsed, 3),
            "jobs_per_s": round(sent / elapsed, 1),
            "capped": sent < args.burst,
            "ticks": ticks,
        }
    )


def main() -> None:
    args = parse_args()
    if args.startup_child:
        startup_child(args)
        return
    configure(args)
    import django_celery_beat

    log(f"{TOOL} {django_celery_beat.__version__} on {args.db}")
    for count in args.sizes:
        log(f"idle tick, {count} tasks")
        measure_idle(args, count)
    if args.startup:
        log(f"start-up, {args.startup} tasks")
        measure_startup_parent(args)
    if args.burst:
        log(f"burst, {args.burst} tasks due (cap {args.burst_cap:.0f} s)")
        measure_burst(args)


if __name__ == "__main__":
    main()
