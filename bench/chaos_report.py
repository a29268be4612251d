"""bench/chaos.py's report: the table of figures, the events, the details, one JSON line."""

from __future__ import annotations

import json
from typing import Any

MUST_BE_ZERO = (
    "duplicate_slots",
    "slots_saved_by_the_constraint",
    "duplicate_executions",
    "executions_of_unstarted_runs",
    "recorded_runs_lost",
    "live_runs_failed_as_dead",
    "in_flight_past_bound",
    "gaps_while_scheduler_alive",
    "scheduler_crashes",
)


def report(figures: dict[str, Any]) -> int:
    rows = [
        ("slots expected", figures["slots_expected"]),
        ("slots fired", figures["slots_fired"]),
        ("duplicate slots", figures["duplicate_slots"]),
        (
            "slots saved only by the unique constraint",
            figures["slots_saved_by_the_constraint"],
        ),
        ("duplicate executions", figures["duplicate_executions"]),
        ("executions of unstarted runs", figures["executions_of_unstarted_runs"]),
        ("recorded runs lost", figures["recorded_runs_lost"]),
        ("live runs failed as dead", figures["live_runs_failed_as_dead"]),
        ("runs in flight past the reconcile bound", figures["in_flight_past_bound"]),
        ("gaps while a scheduler was alive", figures["gaps_while_scheduler_alive"]),
        ("scheduler crashes", figures["scheduler_crashes"]),
    ]
    failing = [name for name in MUST_BE_ZERO if figures[name]]
    width = max(len(name) for name, _ in rows)
    print()
    print(f"| {'figure':<{width}} | {'value':>7} |")
    print(f"| {'-' * width} | {'-' * 7}:|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value:>7} |")
    print()
    print("chaos events:")
    for name, count in figures["events"].items():
        print(f"  {name:<34} {count}")
    print()
    print("details:")
    for name, value in figures["details"].items():
        print(f"  {name}: {value}")
    print(f"  exit codes at SIGTERM: {figures['exit_codes']}")
    print(f"  settings: {figures['settings']}")
    print()
    print("JSON " + json.dumps(figures, sort_keys=True, default=str))
    if failing:
        print(f"FAILED: {', '.join(failing)} not 0", flush=True)
        return 1
    print("OK: every figure that must be 0 is 0", flush=True)
    return 0
