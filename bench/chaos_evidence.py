"""bench/chaos.py's evidence: what a run left behind, read back after it.

The ``Run`` rows, the side-effect file the handlers append to (``<job>
<run_id> <scheduled_for> <pid>``), the windows' ``hits.log``, the processes'
logs, the slots the schedules had in the window and when each scheduler was
alive.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.chaos_events import Harness
from bench.chaos_processes import utc

Effect = tuple[str, int, str, int]  # job, run id, slot (ISO or "-"), pid
RUN_FIELDS = (
    "pk",
    "job",
    "status",
    "scheduled_for",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "worker",
    "dispatch_count",
)


def ledger() -> dict[int, dict[str, Any]]:
    """Every run, by id."""
    from django_togo_scheduler.models import Run

    return {r["pk"]: r for r in Run.objects.values(*RUN_FIELDS)}


def read_side_effects(path: Path) -> list[Effect]:
    lines = []
    if path.exists():
        for line in path.read_text().splitlines():
            job, run_id, slot, pid = line.split()
            lines.append((job, int(run_id), slot, int(pid)))
    return lines


def read_window_runs(hits: Path) -> dict[str, list[int]]:
    """The runs each window caught, from ``hits.log``."""
    window_runs: dict[str, list[int]] = {"enqueue": [], "dequeue": [], "start": []}
    if hits.exists():
        for line in hits.read_text().splitlines():
            kind, _pid, _at, detail = (line.split(" ", 3) + [""])[:4]
            if kind == "enqueue":
                window_runs[kind] += [int(pk) for pk in detail.split(",") if pk]
            elif kind in ("dequeue", "start"):
                # the detail starts with the RQ job id "<pk>-<dispatch>" or the run id
                window_runs[kind].append(int(detail.split()[0].split("-")[0]))
    return window_runs


def scan_logs(logs: Path) -> dict[str, int]:
    """Counts of notable lines in the processes' logs, by role (``scheduler.*``).

    ``already_recorded`` (a slot the unique constraint turned away) feeds the
    figure ``slots_saved_by_the_constraint``; the others are details. The
    ``worker_died_failed`` lines are every "worker died" verdict, right or
    wrong: the figure ``live_runs_failed_as_dead`` tells them apart from the
    ledger and the harness's kills.
    """
    marks = {
        "already_recorded": "was already recorded",
        "tracebacks": "Traceback (most recent call last)",
        "tick_db_errors": "Tick failed",
        "queue_unreachable": "unreachable",
        "message_lost_redispatched": "its queue message is gone",
        "worker_died_failed": "worker died",
        "result_discarded": "result discarded",
    }
    counts: Counter[str] = Counter()
    for path in sorted(logs.glob("*.log")):
        role = path.stem.split("-")[0]
        for line in path.read_text(errors="replace").splitlines():
            for name, mark in marks.items():
                if mark in line:
                    counts[f"{role}.{name}"] += 1
    return dict(sorted(counts.items()))


def saved_by_constraint(logs: dict[str, int]) -> int:
    """Slots two schedulers claimed: the second insert hit the unique constraint
    on (job, scheduled_for), which logged it. Only the constraint kept the slot
    from firing twice; the claim (the locked read) should have."""
    return sum(
        count for name, count in logs.items() if name.endswith(".already_recorded")
    )


def expected_slots(window: tuple[float, float]) -> set[tuple[str, float]]:
    from django_togo_scheduler.conf import app_settings
    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.specs import get_timezone, parse_spec

    slots = set()
    start, end = utc(window[0]), utc(window[1])
    for job in ScheduledJob.objects.all():
        tz = get_timezone(job.timezone or app_settings.TIMEZONE)
        for at in parse_spec(job.spec).iter_after(
            start - timedelta(microseconds=1), tz
        ):
            if at > end:
                break
            slots.add((job.name, at.timestamp()))
    return slots


def alive_intervals(harness: Harness) -> list[tuple[float, float]]:
    """When each scheduler process was ticking: first tick to death."""
    from django_togo_scheduler.models import SchedulerProcess

    first_tick = {
        pid: started.timestamp()
        for pid, started in SchedulerProcess.objects.values_list("pid", "started_at")
    }
    intervals = []
    for life in harness.lives:
        if life.role == "scheduler" and life.pid in first_tick:
            intervals.append((first_tick[life.pid], life.ended or time.time()))
    return intervals
