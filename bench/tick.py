"""Benchmark of the scheduler tick, run by hand (not part of the test suite).

    python bench/tick.py --db sqlite --schedules 10000 100000
    python bench/tick.py --db postgres --schedules 10000 100000

For each number of schedules it creates a throwaway database (a SQLite file in
the temporary directory, or the PostgreSQL database ``togo_bench``, dropped and
created again), migrates it with ``bench/settings.py``, bulk-creates that many
``ScheduledJob`` rows (mixed specs, zones and catch-up policies, ``next_run_at``
spread over the next week, every name a registered handler) and measures:

idle   ``engine.tick(now, dispatcher=..., state=...)`` with nothing due: median
       and p95 of ``--ticks`` ticks, in ms, and the SQL statements the last one
       runs: one query (``engine.idle.probe()``: the earliest ``next_run_at`` and
       whether the outbox holds a run), one more on a tick that also reconciles
       (every ``RECONCILE_EVERY``, 2 s, of the ticks' clock);
loop   one idle iteration of the ``runscheduler`` loop (``SchedulerLoop.run_once``:
       the tick, the sleep until the next slot, which that tick's query read,
       the reconcile ahead of the next tick when it is due), on a clock stopped
       at the measured instant, with Django's default ``CONN_MAX_AGE = 0`` and
       with ``60``: the loop keeps its connection whatever ``CONN_MAX_AGE`` says,
       so neither reconnects;
burst  ``--burst`` schedules all due in one tick (each at the latest slot of its
       own spec and zone): the time that tick takes to claim them, record their
       runs and hand them to a dispatcher that does nothing (median of
       ``--repeat`` bursts), in rows/s, and how much of it the claim and the
       outbox sweep took (the tick's steps timed one by one: bench/tick_burst.py).

Results are printed as JSON lines as they come, then as a table. ``--profile``
adds a cProfile of one more burst (top 15 by cumulative time).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.db import count_queries, recreate_database, server_version  # noqa: E402
from bench.harness.rows import aligned_table, print_json  # noqa: E402
from bench.harness.schedules import create_mixed, register  # noqa: E402
from bench.harness.timing import Stopwatch, percentile, time_calls  # noqa: E402
from bench.tick_burst import (  # noqa: E402
    IDLE_NOW,
    make_dispatcher,
    measure_burst,
    profile_burst,
)


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
    import django

    django.setup()


def database_version(db: str) -> str:
    return f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'} {server_version()}"


def populate(count: int, rng: random.Random) -> list[int]:
    """Create ``count`` schedules with registered handlers; return their pks."""
    from django_togo_scheduler.models import ScheduledJob

    names = [f"bench.job{i:06d}" for i in range(count)]
    register(names)
    create_mixed(names, rng, IDLE_NOW + timedelta(minutes=1))
    return list(ScheduledJob.objects.order_by("pk").values_list("pk", flat=True))


# ---------------------------------------------------------------- measurements


def measure_idle(ticks: int) -> dict[str, Any]:
    from django_togo_scheduler import engine

    dispatcher = make_dispatcher()
    state = engine.EngineState()
    # every tick stays before the first next_run_at
    step = timedelta(seconds=50) / ticks
    for i in range(5):  # warm-up: connection, caches
        engine.tick(
            IDLE_NOW - timedelta(seconds=5 - i), dispatcher=dispatcher, state=state
        )
    times = []
    queries = 0
    for i in range(ticks):
        with count_queries() as counter, Stopwatch() as watch:
            created = engine.tick(
                IDLE_NOW + step * i, dispatcher=dispatcher, state=state
            )
        times.append(watch.ms)
        queries = counter[0]
        assert not created, "idle tick created runs"
    return {**median_p95(times), "queries": queries}


def measure_loop(iterations: int, conn_max_age: int) -> dict[str, Any]:
    """``SchedulerLoop.run_once()``, idle, on a clock stopped at ``IDLE_NOW``.

    The clock is django_togo_scheduler's one reader of the time (``clock.now``,
    which its tests set too); the loop reads it itself, unlike ``tick(now)``.
    """
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
        # one warm-up iteration (and the hourly prune)
        times = time_calls(loop.run_once, samples=iterations, warmup=1)
    finally:
        clock.now = real_now  # type: ignore[assignment]
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = 0
    return {"conn_max_age": conn_max_age, **median_p95(times)}


def median_p95(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(percentile(times, 0.95), 3),
    }


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    setup_django(args.db)
    rows = []
    profiles = []
    for count in args.schedules:
        row, pks = measure_size(args, count)
        rows.append(row)
        if args.profile:
            profiles.append((count, profile_burst(pks, min(args.burst, count))))
    print_table(args.db, rows)
    for count, text in profiles:
        print(
            f"\ncProfile of one burst tick, {count} schedules, top 15 by cumulative time:"
        )
        print(text)


def measure_size(args: argparse.Namespace, count: int) -> tuple[Any, list[int]]:
    """Every measurement with ``count`` schedules, in a fresh database."""
    import django

    recreate_database()
    base = {
        "db": args.db,
        "schedules": count,
        "python": platform.python_version(),
        "django": django.get_version(),
        "server": database_version(args.db),
    }
    with Stopwatch() as watch:
        pks = populate(count, random.Random(args.seed))
    print_json({**base, "metric": "setup", "seconds": round(watch.seconds, 2)})
    idle = measure_idle(args.ticks)
    print_json({**base, "metric": "idle_tick", "ticks": args.ticks, **idle})
    loops = [measure_loop(min(args.ticks, 100), age) for age in (0, 60)]
    for loop in loops:
        print_json({**base, "metric": "loop_iteration", **loop})
    burst = measure_burst(pks, min(args.burst, count), args.repeat)
    print_json({**base, "metric": "burst", **burst})
    return (count, idle, loops, burst), pks


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
    print()
    print(aligned_table(headers, cells))


if __name__ == "__main__":
    main()
