"""bench/perf.py's start-up: a real ``runscheduler`` with N schedules, to its first tick.

The parent of the workload starts the ``runscheduler`` child (below) and times
it to the ``READY`` it prints after its first tick (bench.harness.procs's
``measure_startup``), with its RSS then; the child prints the seconds of each
phase before that.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.harness.db import recreate_database
from bench.harness.procs import READY, measure_startup, phase
from bench.harness.rows import emit
from bench.perf_setup import (
    child_command,
    configure_django,
    populate_idle,
    register_handlers,
)


def measure_startup_ours(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """The median of ``startup_repeat`` start-ups with ``startup`` schedules."""
    from django.db import connections

    count = config["startup"]
    recreate_database()
    populate_idle(count)
    connections.close_all()
    results = [
        measure_startup(child_command(args, "runscheduler", count))
        for _ in range(config["startup_repeat"])
    ]
    middle = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
    emit(
        {
            "tool": "togo",
            "workload": "startup",
            "db": args.child_db,
            "schedules": count,
            **middle,
            "all_s": [r["seconds"] for r in results],
        }
    )


def child_runscheduler(args: argparse.Namespace) -> None:
    """``manage.py runscheduler`` with ``--register`` handlers; READY after the first tick.

    The phases (django, register, sync, until_first_tick, first_tick) are
    printed by wrapping this process's ``SchedulerLoop.start`` and ``run_once``,
    the loop's own steps: the start-up measured is the command's own.
    """
    start = time.perf_counter()
    configure_django(args)
    mark = phase("django", start)
    register_handlers(args.register)
    mark = phase("register", mark)
    from django.core.management import call_command

    from django_togo_scheduler.loop import SchedulerLoop

    original_start, original_run_once = SchedulerLoop.start, SchedulerLoop.run_once
    marks = {"mark": mark, "first": True}

    def timed_start(self: Any, **kwargs: Any) -> bool:
        result = original_start(self, **kwargs)
        marks["mark"] = phase("sync", marks["mark"])
        return result

    def timed_run_once(self: Any) -> float:
        if marks["first"]:
            marks["mark"] = phase("until_first_tick", marks["mark"])
        result = original_run_once(self)
        if marks["first"]:
            marks["first"] = False
            phase("first_tick", marks["mark"])
            print(READY, flush=True)
        return result

    SchedulerLoop.start = timed_start  # type: ignore[method-assign]
    SchedulerLoop.run_once = timed_run_once  # type: ignore[method-assign]
    call_command("runscheduler", verbosity=1)
