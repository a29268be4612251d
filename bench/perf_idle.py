"""bench/perf.py's idle tick: its cost by number of schedules, and with a long history.

``engine.tick()`` on the real clock with nothing due, through the RQ
dispatcher: 5 warm-up ticks, then ``ticks`` timed ones, and the statements of
one more. The history workload measures it again after ``history_runs``
finished runs were inserted.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.harness.db import analyze, count_queries, recreate_database
from bench.harness.rows import emit
from bench.harness.timing import Stopwatch, summary, time_calls
from bench.perf_setup import populate_idle


def measure_idle_sizes(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """The idle tick with each of ``idle_sizes`` schedules, each in a fresh database."""
    for count in config["idle_sizes"]:
        recreate_database()
        populate_idle(count)
        emit(
            {
                "tool": "togo",
                "workload": "idle_tick",
                "db": args.child_db,
                "schedules": count,
                **measure_idle(config["ticks"]),
            }
        )


def measure_idle(ticks: int) -> dict[str, Any]:
    """``engine.tick()`` on the real clock, nothing due, through the RQ dispatcher."""
    from django_togo_scheduler import clock, engine
    from django_togo_scheduler.dispatch import get_dispatcher

    dispatcher = get_dispatcher()
    state = engine.EngineState()

    def tick() -> None:
        created = engine.tick(clock.now(), dispatcher=dispatcher, state=state)
        assert not created, "idle tick fired"

    times = time_calls(tick, samples=ticks, warmup=5)
    with count_queries() as counter:
        tick()
    return {**summary(times), "queries": counter[0]}


def measure_history(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """The idle tick with no history, then with ``history_runs`` finished runs."""
    recreate_database()
    count = config["history_schedules"]
    populate_idle(count)
    before = measure_idle(config["ticks"])
    with Stopwatch() as watch:
        insert_history(config["history_runs"], count)
    after = measure_idle(config["ticks"])
    emit(
        {
            "tool": "togo",
            "workload": "idle_tick_history",
            "db": args.child_db,
            "schedules": count,
            "runs": config["history_runs"],
            "insert_s": round(watch.seconds, 1),
            "without": before,
            **after,
        }
    )


COLUMNS = (
    "job, status, trigger, scheduled_for, created_at, dispatched_at, "
    "dispatch_count, started_at, finished_at, heartbeat_at, timeout, queue, error, worker"
)
STATUS = (
    "CASE WHEN g % 50 = 0 THEN 'failed' WHEN g % 20 = 0 THEN 'skipped' ELSE 'done' END"
)


def insert_history(runs: int, schedules: int) -> None:
    """``runs`` finished runs (1 in 50 failed, 1 in 20 skipped), by SQL."""
    from django.db import connection

    from django_togo_scheduler.models import Run

    table = connection.ops.quote_name(Run._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(history_sql(connection.vendor, table, runs, schedules))
    analyze()
    assert Run.objects.count() == runs


def history_sql(vendor: str, table: str, runs: int, schedules: int) -> str:
    """The one INSERT ... SELECT of :func:`insert_history`, in the vendor's SQL."""
    if vendor == "postgresql":
        at = "(now() - g * interval '1 second')"
        return (
            f"INSERT INTO {table} ({COLUMNS}) SELECT "
            f"'perf.job' || lpad((g % {schedules})::text, 6, '0'), {STATUS}, 'schedule', "
            f"{at}, {at}, {at}, 1, {at}, {at}, {at}, NULL, 'perf', '', 'bench:1' "
            f"FROM generate_series(1, {runs}) AS g"
        )
    at = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || g || ' seconds')"
    return (
        f"WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < {runs}) "
        f"INSERT INTO {table} ({COLUMNS}) SELECT "
        f"'perf.job' || substr('000000' || (g % {schedules}), -6), {STATUS}, 'schedule', "
        f"{at}, {at}, {at}, 1, {at}, {at}, {at}, NULL, 'perf', '', 'bench:1' FROM c"
    )
