"""Benchmark of the scheduler tick, run by hand (not part of the test suite).

    python bench/tick.py --db sqlite --schedules 10000 100000
    python bench/tick.py --db postgres --schedules 10000 100000

For each number of schedules it creates a throwaway database (a SQLite file in
the temporary directory, or the PostgreSQL database ``togo_bench``, dropped and
created again), migrates it with ``bench/settings.py``, bulk-creates that many
``ScheduledJob`` rows (mixed specs, zones and catch-up policies, ``next_run_at``
spread over the next week, every name a registered handler) and measures:

idle   ``engine.tick(now, dispatcher=...)`` with nothing due: median and p95 of
       ``--ticks`` ticks, in ms, and the SQL statements one tick runs;
loop   one idle iteration of the ``runscheduler`` loop (``SchedulerLoop.run_once``:
       ``close_old_connections()``, the tick, the sleep query) with Django's
       default ``CONN_MAX_AGE = 0`` and with a persistent connection;
burst  ``--burst`` schedules all due in one tick (each at the latest slot of its
       own spec and zone): the time that tick takes to claim them, record their
       runs and mark them dispatched to a dispatcher that does nothing (median of
       ``--repeat`` bursts), in rows/s.

Results are printed as JSON lines as they come, then as a table. ``--profile``
adds a cProfile of one more burst (top 15 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The instant the idle ticks run at: a Monday, 09:00 UTC, years ahead of the
# real clock, so the loop measurement (which reads the clock) sees nothing due.
IDLE_NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
# next_run_at of the idle schedules: within a week after IDLE_NOW.
SPREAD = timedelta(days=7)
SPECS = [
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "15 */2 * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "@every 30s",
    "@every 1h30m",
    "@daily",
]
ZONES = ["", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
CATCHUP = ["latest"] * 8 + ["none", "all"]
# Not counted as queries: PostgreSQL's BEGIN/COMMIT never pass through execute().
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
INSERT_BATCH = 5000  # rows per bulk_create / update while setting up


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--schedules",
        type=int,
        nargs="+",
        default=[10_000],
        metavar="N",
        help="numbers of schedules to measure with, each in a fresh database (default 10000)",
    )
    parser.add_argument(
        "--ticks", type=int, default=200, help="idle ticks measured (default 200)"
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=10_000,
        help="schedules due at once (default 10000)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="bursts measured (default 3)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one more burst"
    )
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def setup_django(db: str) -> None:
    os.environ["TOGO_BENCH_DB"] = db
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# ---------------------------------------------------------------- database


def recreate_database(db: str) -> None:
    """A fresh, migrated, empty database."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    if db == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(settings.SQLITE_PATH + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        params = settings.DATABASES["default"]
        with psycopg.connect(
            host=params["HOST"],
            port=params["PORT"],
            user=params["USER"],
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.POSTGRES_NAME}"')
            conn.execute(f'CREATE DATABASE "{settings.POSTGRES_NAME}"')
    call_command("migrate", verbosity=0)


def database_version(db: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select sqlite_version()" if db == "sqlite" else "show server_version"
        )
        version = cursor.fetchone()[0]
    return f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'} {version}"


def populate(count: int, rng: random.Random) -> list[int]:
    """Create ``count`` schedules with registered handlers; return their pks."""
    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.registry import registry

    def noop() -> None:
        pass

    rows = []
    for i in range(count):
        name = f"bench.job{i:06d}"
        registry.register(name, noop)
        rows.append(
            ScheduledJob(
                name=name,
                spec=rng.choice(SPECS),
                timezone=rng.choice(ZONES),
                catchup=rng.choice(CATCHUP),
                timeout=60 if i % 3 == 0 else None,
                next_run_at=IDLE_NOW + timedelta(minutes=1) + SPREAD * rng.random(),
            )
        )
    for start in range(0, count, INSERT_BATCH):
        ScheduledJob.objects.bulk_create(rows[start : start + INSERT_BATCH])
    analyze()
    return list(ScheduledJob.objects.order_by("pk").values_list("pk", flat=True))


def analyze() -> None:
    """Refresh PostgreSQL's statistics, as autovacuum soon would in production.

    Right after a bulk insert the planner has none and scans the whole table for
    the due query instead of using its partial index on next_run_at.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# ---------------------------------------------------------------- helpers


def make_dispatcher() -> Any:
    from django_togo_scheduler.dispatch.base import Dispatcher

    class RecordingDispatcher(Dispatcher):
        """Counts the runs handed to it and executes nothing."""

        def __init__(self) -> None:
            self.count = 0

        def dispatch(self, runs: Sequence[Any]) -> None:
            self.count += len(runs)

    return RecordingDispatcher()


@contextmanager
def count_queries() -> Iterator[list[int]]:
    """Count the SQL statements run on the default connection (cheaply, no DEBUG)."""
    from django.db import connection

    counter = [0]

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            counter[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Time engine.claim_due and engine.dispatch_pending inside tick()."""
    from django_togo_scheduler import engine

    spent: dict[str, float] = {"claim": 0.0, "dispatch": 0.0}
    originals = {"claim": engine.claim_due, "dispatch": engine.dispatch_pending}

    def timed(key: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[key](*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return call

    engine.claim_due = timed("claim")  # type: ignore[assignment]
    engine.dispatch_pending = timed("dispatch")  # type: ignore[assignment]
    try:
        yield spent
    finally:
        engine.claim_due = originals["claim"]  # type: ignore[assignment]
        engine.dispatch_pending = originals["dispatch"]  # type: ignore[assignment]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------- measurements


def measure_idle(ticks: int) -> dict[str, Any]:
    from django_togo_scheduler import engine

    dispatcher = make_dispatcher()
    state = engine.EngineState()
    step = (
        timedelta(seconds=50) / ticks
    )  # every tick stays before the first next_run_at
    for i in range(5):  # warm-up: connection, caches
        engine.tick(
            IDLE_NOW - timedelta(seconds=5 - i), dispatcher=dispatcher, state=state
        )
    times = []
    queries = 0
    for i in range(ticks):
        with count_queries() as counter:
            start = time.perf_counter()
            created = engine.tick(
                IDLE_NOW + step * i, dispatcher=dispatcher, state=state
            )
            times.append((time.perf_counter() - start) * 1000)
        queries = counter[0]
        assert not created, "idle tick created runs"
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(percentile(times, 0.95), 3),
        "queries": queries,
    }


def measure_loop(iterations: int, conn_max_age: int) -> dict[str, Any]:
    from django.db import connection

    from django_togo_scheduler import clock
    from django_togo_scheduler.loop import SchedulerLoop
    from django_togo_scheduler.service import Service

    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = conn_max_age
    loop = SchedulerLoop(Service(), make_dispatcher())
    real_now = clock.now
    clock.now = lambda: IDLE_NOW  # type: ignore[assignment]
    try:
        loop.run_once()  # warm-up (and the hourly prune)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            loop.run_once()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        clock.now = real_now  # type: ignore[assignment]
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = 0
    return {
        "conn_max_age": conn_max_age,
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(percentile(times, 0.95), 3),
    }


def prepare_burst(burst_pks: list[int], at: datetime) -> datetime:
    """Make every burst schedule due at its latest real slot at or before ``at``.

    The engine takes a stored ``next_run_at`` to be a slot of the spec, so each
    schedule gets the slot its own spec and zone had last; returns the earliest.
    """
    from django_togo_scheduler.conf import app_settings
    from django_togo_scheduler.models import Run, ScheduledJob
    from django_togo_scheduler.specs import get_timezone, parse_spec

    Run.objects.all().delete()
    groups: dict[tuple[str, str], list[int]] = {}
    for start in range(0, len(burst_pks), INSERT_BATCH):
        chunk = burst_pks[start : start + INSERT_BATCH]
        for pk, spec, zone in ScheduledJob.objects.filter(pk__in=chunk).values_list(
            "pk", "spec", "timezone"
        ):
            groups.setdefault((spec, zone), []).append(pk)
    earliest = at
    for (spec, zone), pks in groups.items():
        slot = parse_spec(spec).last_at_or_before(
            at, get_timezone(zone or app_settings.TIMEZONE)
        )
        earliest = min(earliest, slot)
        for start in range(0, len(pks), INSERT_BATCH):
            ScheduledJob.objects.filter(
                pk__in=pks[start : start + INSERT_BATCH]
            ).update(next_run_at=slot)
    return earliest


def run_burst(burst_pks: list[int], at: datetime) -> dict[str, Any]:
    from django_togo_scheduler import engine

    earliest = prepare_burst(burst_pks, at)
    dispatcher = make_dispatcher()
    # The previous tick ran before every burst slot: each one is on time.
    state = engine.EngineState(last_tick=earliest - timedelta(seconds=1))
    with phase_timers() as spent, count_queries() as counter:
        start = time.perf_counter()
        created = engine.tick(
            at + timedelta(seconds=1), dispatcher=dispatcher, state=state
        )
        seconds = time.perf_counter() - start
    assert len(created) == len(burst_pks), (len(created), len(burst_pks))
    assert dispatcher.count == len(burst_pks), (dispatcher.count, len(burst_pks))
    return {
        "seconds": seconds,
        "claim_s": spent["claim"],
        "dispatch_s": spent["dispatch"],
        "queries": counter[0],
    }


def measure_burst(pks: list[int], size: int, repeat: int) -> dict[str, Any]:
    step = max(1, len(pks) // size)
    burst_pks = pks[::step][:size]
    results = [
        run_burst(burst_pks, IDLE_NOW - timedelta(hours=k + 1)) for k in range(repeat)
    ]
    seconds = statistics.median(r["seconds"] for r in results)
    return {
        "due": len(burst_pks),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(burst_pks) / seconds),
        "claim_s": round(statistics.median(r["claim_s"] for r in results), 3),
        "dispatch_s": round(statistics.median(r["dispatch_s"] for r in results), 3),
        "queries": results[-1]["queries"],
        "all_s": [round(r["seconds"], 3) for r in results],
    }


def profile_burst(pks: list[int], size: int) -> str:
    from django_togo_scheduler import engine

    step = max(1, len(pks) // size)
    burst_pks = pks[::step][:size]
    at = IDLE_NOW - timedelta(days=1)
    earliest = prepare_burst(burst_pks, at)
    state = engine.EngineState(last_tick=earliest - timedelta(seconds=1))
    profiler = cProfile.Profile()
    profiler.enable()
    engine.tick(at + timedelta(seconds=1), dispatcher=make_dispatcher(), state=state)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
    return out.getvalue()


# ---------------------------------------------------------------- main


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    setup_django(args.db)
    import django

    rows = []
    profiles = []
    for count in args.schedules:
        recreate_database(args.db)
        base = {
            "db": args.db,
            "schedules": count,
            "python": platform.python_version(),
            "django": django.get_version(),
            "server": database_version(args.db),
        }
        start = time.perf_counter()
        pks = populate(count, random.Random(args.seed))
        emit(
            {
                **base,
                "metric": "setup",
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
        idle = measure_idle(args.ticks)
        emit({**base, "metric": "idle_tick", "ticks": args.ticks, **idle})
        loops = [measure_loop(min(args.ticks, 100), age) for age in (0, 60)]
        for loop in loops:
            emit({**base, "metric": "loop_iteration", **loop})
        burst = measure_burst(pks, min(args.burst, count), args.repeat)
        emit({**base, "metric": "burst", **burst})
        rows.append((count, idle, loops, burst))
        if args.profile:
            profiles.append((count, profile_burst(pks, min(args.burst, count))))
    print_table(args.db, rows)
    for count, text in profiles:
        print(
            f"\ncProfile of one burst tick, {count} schedules, top 15 by cumulative time:"
        )
        print(text)


def print_table(
    db: str,
    rows: list[tuple[int, dict[str, Any], list[dict[str, Any]], dict[str, Any]]],
) -> None:
    headers = (
        "db",
        "schedules",
        "idle median ms",
        "idle p95 ms",
        "idle queries",
        "loop ms (CONN_MAX_AGE 0 / 60)",
        "burst due",
        "burst s",
        "rows/s",
        "claim s",
        "dispatch s",
    )
    cells = [
        (
            db,
            count,
            idle["median_ms"],
            idle["p95_ms"],
            idle["queries"],
            " / ".join(str(loop["median_ms"]) for loop in loops),
            burst["due"],
            burst["seconds"],
            burst["rows_per_s"],
            burst["claim_s"],
            burst["dispatch_s"],
        )
        for count, idle, loops, burst in rows
    ]
    table = [list(map(str, headers))] + [list(map(str, row)) for row in cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    print()
    for row in table:
        print(
            "  ".join(
                cell.rjust(width) for cell, width in zip(row, widths, strict=True)
            )
        )


if __name__ == "__main__":
    main()
