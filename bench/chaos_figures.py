"""bench/chaos.py's figures: the ledger and the side effects checked after a run.

From the evidence (bench/chaos_evidence.py) and what the harness did: its
kills, the lives of its processes, the stale runs it sampled.
docs/reliability.md explains the figures.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bench.chaos_events import Harness
from bench.chaos_evidence import (
    Effect,
    alive_intervals,
    expected_slots,
    ledger,
    read_side_effects,
    read_window_runs,
    saved_by_constraint,
    scan_logs,
)
from bench.chaos_processes import utc
from bench.harness.timing import percentile


def analyse(
    harness: Harness,
    *,
    window: tuple[float, float],
    settle: tuple[float, float],
    snapshot: dict[str, list[int]],
    dead_bound: float,
    queue_bound: float,
) -> dict[str, Any]:
    runs = ledger()
    effects = read_side_effects(harness.side_effects)
    executions = Counter(run_id for _job, run_id, _slot, _pid in effects)
    slots = slot_figures(harness, runs, effects, window)
    unstarted = unstarted_runs(runs, effects)
    done_silent = sorted(
        pk for pk, r in runs.items() if r["status"] == "done" and pk not in executions
    )
    lost = sorted(set(snapshot["queued"]) | set(done_silent))
    dead = dead_worker_verdicts(harness, runs, dead_bound)
    waits, queued_too_long = queue_waits(runs, snapshot, settle[1], queue_bound)
    in_flight = set(snapshot["running"]) | set(dead.late) | set(queued_too_long)
    past_bound = sorted((in_flight | harness.stale_seen) - set(lost))
    logs = scan_logs(harness.workdir / "logs")
    return {
        "slots_expected": slots.expected,
        "slots_fired": slots.fired,
        "duplicate_slots": slots.duplicates,
        "slots_saved_by_the_constraint": saved_by_constraint(logs),
        "duplicate_executions": sum(n - 1 for n in executions.values() if n > 1),
        "executions_of_unstarted_runs": len(unstarted),
        "recorded_runs_lost": len(lost),
        "live_runs_failed_as_dead": len(dead.live_failed),
        "in_flight_past_bound": len(past_bound),
        "gaps_while_scheduler_alive": len(slots.gaps),
        "details": {
            "slots_missed_while_no_scheduler_alive": slots.missed_dead,
            "gaps": [f"{job}@{utc(at).isoformat()}" for job, at in slots.gaps[:20]],
            "lost_runs": lost[:50],
            "past_bound_runs": past_bound[:50],
            "unstarted_runs_executed": unstarted[:50],
            **run_details(runs, effects, dead, waits),
            **window_details(runs, read_window_runs(harness.hits)),
            "unexpected_exits": harness.unexpected,
            "log_lines": logs,
        },
        "events": dict(sorted(harness.events.items())),
    }


# --- slots


@dataclass
class Slots:
    expected: int
    fired: int
    duplicates: int
    gaps: list[tuple[str, float]]  # not fired while a scheduler was alive
    missed_dead: int  # not fired while none was


def slot_figures(
    harness: Harness,
    runs: dict[int, dict[str, Any]],
    effects: list[Effect],
    window: tuple[float, float],
) -> Slots:
    """Slots expected in the window, fired (a Run exists), twice, missed."""
    expected = expected_slots(window)
    ledger_slots = Counter(
        (r["job"], r["scheduled_for"].timestamp())
        for r in runs.values()
        if r["scheduled_for"]
    )
    fired = {key for key in expected if key in ledger_slots}
    slot_runs: dict[tuple[str, str], set[int]] = defaultdict(set)
    for job, run_id, slot, _pid in effects:
        slot_runs[(job, slot)].add(run_id)
    duplicates = sum(n - 1 for n in ledger_slots.values() if n > 1) + sum(
        len(ids) - 1
        for (_job, slot), ids in slot_runs.items()
        if slot != "-" and len(ids) > 1
    )
    intervals = alive_intervals(harness)
    gaps = sorted(
        (job, at)
        for job, at in expected - fired
        if any(start <= at and at + 1.0 <= end for start, end in intervals)
    )
    missed_dead = len(expected - fired) - len(gaps)
    return Slots(len(expected), len(fired), duplicates, gaps, missed_dead)


# --- runs


def unstarted_runs(runs: dict[int, dict[str, Any]], effects: list[Effect]) -> list[int]:
    """Runs executed that were never started (or not the run of that job and slot)."""
    return sorted(
        run_id
        for job, run_id, slot, _pid in effects
        if run_id not in runs
        or runs[run_id]["started_at"] is None
        or runs[run_id]["job"] != job
        or (
            runs[run_id]["scheduled_for"]
            and runs[run_id]["scheduled_for"].isoformat() != slot
        )
    )


@dataclass
class DeadWorkers:
    latencies: list[float]  # seconds from a kill to its run failed
    late: list[int]  # failed later than the bound
    live_failed: list[int]  # "worker died" on a run whose process lived


def dead_worker_verdicts(
    harness: Harness, runs: dict[int, dict[str, Any]], dead_bound: float
) -> DeadWorkers:
    """How long the scheduler took to fail the runs of dead workers.

    A "worker died" verdict is right only for a run whose process the harness
    killed before the verdict; any other was a live run failed (its result then
    discarded).
    """
    verdicts = DeadWorkers([], [], [])
    for pk, r in runs.items():
        if r["status"] != "failed" or not r["error"].startswith("worker died"):
            continue
        pid = int(r["worker"].rsplit(":", 1)[1]) if ":" in r["worker"] else 0
        killed_at = harness.killed_pids.get(pid)
        if killed_at is None or killed_at > r["finished_at"].timestamp():
            verdicts.live_failed.append(pk)
            continue
        latency = r["finished_at"].timestamp() - max(
            killed_at, r["started_at"].timestamp()
        )
        verdicts.latencies.append(latency)
        if latency > dead_bound:
            verdicts.late.append(pk)
    return verdicts


def queue_waits(
    runs: dict[int, dict[str, Any]],
    snapshot: dict[str, list[int]],
    settle_end: float,
    queue_bound: float,
) -> tuple[list[float], list[int]]:
    """Seconds from recorded to started (or failed), and the runs past the bound."""
    waits = []
    queued_too_long = []
    for pk, r in runs.items():
        if r["status"] == "skipped":
            continue
        end = r["started_at"] or (r["finished_at"] if r["status"] == "failed" else None)
        wait = (end.timestamp() if end else settle_end) - r["created_at"].timestamp()
        if end is not None:
            waits.append(wait)
        if wait > queue_bound and pk not in snapshot["queued"]:
            queued_too_long.append(pk)
    return waits, queued_too_long


def run_details(
    runs: dict[int, dict[str, Any]],
    effects: list[Effect],
    dead: DeadWorkers,
    waits: list[float],
) -> dict[str, Any]:
    latencies = dead.latencies
    return {
        "runs": len(runs),
        "runs_by_status": dict(Counter(r["status"] for r in runs.values())),
        "failed_by_reason": dict(failed_reasons(runs)),
        "executions": len(effects),
        "dead_worker_runs_failed": len(latencies),
        "dead_worker_latency_max_s": round(max(latencies), 2) if latencies else None,
        "dead_worker_latency_median_s": round(statistics.median(latencies), 2)
        if latencies
        else None,
        "live_runs_failed_as_dead": dead.live_failed[:50],
        "queue_wait_p50_s": round(wait_percentile(waits, 0.5), 3),
        "queue_wait_p99_s": round(wait_percentile(waits, 0.99), 3),
        "queue_wait_max_s": round(max(waits), 3) if waits else None,
        "runs_redispatched": sum(1 for r in runs.values() if r["dispatch_count"] > 1),
    }


def wait_percentile(waits: list[float], fraction: float) -> float:
    return percentile(waits, fraction, rule="floor") if waits else 0.0


def failed_reasons(runs: dict[int, dict[str, Any]]) -> Counter[str]:
    return Counter(
        "worker died"
        if r["error"].startswith("worker died")
        else "queue message lost"
        if "queue message lost" in r["error"]
        else "other"
        for r in runs.values()
        if r["status"] == "failed"
    )


# --- windows


def window_details(
    runs: dict[int, dict[str, Any]], window_runs: dict[str, list[int]]
) -> dict[str, Any]:
    """What became of the runs the windows caught."""
    enqueue = window_runs["enqueue"]
    return {
        "window_runs_by_status": {
            kind: dict(Counter(window_outcome(runs.get(pk)) for pk in pks))
            for kind, pks in window_runs.items()
        },
        # a run caught between commit and enqueue has a dispatch that never
        # reached Redis: it runs only if a scheduler dispatches it again
        "window_enqueue_runs_dispatched_again": sum(
            1 for pk in enqueue if pk in runs and runs[pk]["dispatch_count"] >= 2
        ),
        # ... or a newer slot of its job superseded it in the outbox first
        "window_enqueue_runs_found_again": sum(
            1
            for pk in enqueue
            if pk in runs
            and (
                runs[pk]["dispatch_count"] >= 2
                or window_outcome(runs[pk]) == "superseded"
            )
        ),
        "window_enqueue_runs": len(enqueue),
        "worker_window_runs": {
            "dequeue": window_runs["dequeue"][:50],
            "start": window_runs["start"][:50],
        },
    }


def window_outcome(run: dict[str, Any] | None) -> str:
    """A window run's status; "superseded" for one a newer slot of its job
    replaced while it waited in the outbox (put back by the lost-message check)."""
    if run is None:
        return "missing"
    if run["status"] == "skipped" and run["error"].startswith("superseded"):
        return "superseded"
    return str(run["status"])
