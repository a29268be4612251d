"""bench/tick.py's burst: many schedules due in one tick, its steps timed.

The schedules of the idle measurement are made due, each at the latest slot of
its own spec and zone, and one tick claims them, records their runs and hands
them to a dispatcher that does nothing. The tick runs step by step
(:func:`bench.harness.tick_steps.timed_tick`), so the claim and the outbox
sweep are timed apart without touching django_togo_scheduler.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness.db import count_queries
from bench.harness.schedules import BATCH
from bench.harness.tick_steps import timed_tick

# The instant the idle ticks run at: a Monday, 09:00 UTC, years ahead of the
# real clock, so the loop measurement (which reads the clock) sees nothing due.
IDLE_NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def make_dispatcher() -> Any:
    from django_togo_scheduler.dispatch.base import Dispatcher

    class RecordingDispatcher(Dispatcher):
        """Counts the runs handed to it and executes nothing."""

        def __init__(self) -> None:
            self.count = 0

        def dispatch(self, runs: Sequence[Any]) -> None:
            self.count += len(runs)

    return RecordingDispatcher()


def prepare_burst(burst_pks: list[int], at: datetime) -> datetime:
    """Make every burst schedule due at its latest real slot at or before ``at``.

    The engine takes a stored ``next_run_at`` to be a slot of the spec, so each
    schedule gets the slot its own spec and zone had last; returns the earliest.
    """
    from django_togo_scheduler.models import Run

    Run.objects.all().delete()
    earliest = at
    for (spec, zone), pks in group_by_spec(burst_pks).items():
        slot = last_slot(spec, zone, at)
        earliest = min(earliest, slot)
        set_next_run_at(pks, slot)
    return earliest


def group_by_spec(pks: list[int]) -> dict[tuple[str, str], list[int]]:
    """The schedules of ``pks`` by (spec, zone)."""
    from django_togo_scheduler.models import ScheduledJob

    groups: dict[tuple[str, str], list[int]] = {}
    for start in range(0, len(pks), BATCH):
        chunk = pks[start : start + BATCH]
        for pk, spec, zone in ScheduledJob.objects.filter(pk__in=chunk).values_list(
            "pk", "spec", "timezone"
        ):
            groups.setdefault((spec, zone), []).append(pk)
    return groups


def last_slot(spec: str, zone: str, at: datetime) -> datetime:
    from django_togo_scheduler.conf import app_settings
    from django_togo_scheduler.specs import get_timezone, parse_spec

    return parse_spec(spec).last_at_or_before(
        at, get_timezone(zone or app_settings.TIMEZONE)
    )


def set_next_run_at(pks: list[int], slot: datetime) -> None:
    from django_togo_scheduler.models import ScheduledJob

    for start in range(0, len(pks), BATCH):
        ScheduledJob.objects.filter(pk__in=pks[start : start + BATCH]).update(
            next_run_at=slot
        )


def run_burst(burst_pks: list[int], at: datetime) -> dict[str, Any]:
    from django_togo_scheduler import engine

    earliest = prepare_burst(burst_pks, at)
    dispatcher = make_dispatcher()
    # The previous tick ran before every burst slot: each one is on time.
    state = engine.EngineState(last_tick=earliest - timedelta(seconds=1))
    with count_queries() as counter:
        created, spent = timed_tick(
            at + timedelta(seconds=1), dispatcher=dispatcher, state=state
        )
    assert len(created) == len(burst_pks), (len(created), len(burst_pks))
    assert dispatcher.count == len(burst_pks), (dispatcher.count, len(burst_pks))
    return {
        "seconds": spent["tick"],
        "claim_s": spent["claim"],
        "dispatch_s": spent["dispatch"],
        "queries": counter[0],
    }


def burst_schedules(pks: list[int], size: int) -> list[int]:
    """``size`` of the schedules, spread over all of them."""
    step = max(1, len(pks) // size)
    return pks[::step][:size]


def measure_burst(pks: list[int], size: int, repeat: int) -> dict[str, Any]:
    burst_pks = burst_schedules(pks, size)
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
    """A cProfile of one more burst through ``engine.tick()`` itself: the top 15."""
    from django_togo_scheduler import engine

    at = IDLE_NOW - timedelta(days=1)
    earliest = prepare_burst(burst_schedules(pks, size), at)
    state = engine.EngineState(last_tick=earliest - timedelta(seconds=1))
    profiler = cProfile.Profile()
    profiler.enable()
    engine.tick(at + timedelta(seconds=1), dispatcher=make_dispatcher(), state=state)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
    return out.getvalue()
