"""bench/perf.py's sizes, peers and constants (shared by its parent and children)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS_DIR = BENCH / "peers"
SCRIPT = BENCH / "perf.py"  # what the parent runs again as each child

WORKLOADS = ["idle", "startup", "burst", "history", "worker", "lateness"]
FULL: dict[str, Any] = {
    "idle_sizes": [100, 1_000, 10_000, 100_000],
    "ticks": 200,  # idle ticks timed per size (ours)
    "peer_ticks": 50,  # idle ticks timed per size (peers; capped by tick_budget)
    "tick_budget": 15.0,  # seconds of idle ticks at most per size and peer
    "startup": 100_000,
    "startup_repeat": 3,
    "burst": 10_000,
    "growth": [1_000, 5_000, 10_000, 20_000],
    "burst_repeat": 3,
    "beat_burst_cap": 30.0,  # seconds celery-beat may take over its burst
    "history_runs": 1_000_000,
    "history_schedules": 10_000,
    "worker_jobs": 500,
    "worker_repeat": 3,
    "lateness_schedules": 1_000,
    "lateness_seconds": 240.0,  # >= 200 slots after the warm-up (about 95 % of seconds)
}
QUICK: dict[str, Any] = {
    **FULL,
    "idle_sizes": [100, 1_000, 10_000],
    "ticks": 50,
    "peer_ticks": 10,
    "tick_budget": 2.0,
    "startup": 10_000,
    "startup_repeat": 1,
    "burst": 2_000,
    "growth": [500, 1_000, 2_000],
    "burst_repeat": 1,
    "beat_burst_cap": 3.0,
    "history_runs": 100_000,
    "history_schedules": 1_000,
    "worker_jobs": 200,
    "worker_repeat": 1,
    "lateness_seconds": 15.0,
}
PEERS = {
    # name: (virtualenv suffix, script, takes a database)
    "celery-beat": ("beat", "beat.py", True),
    "rq-cron": ("rq", "rqcron.py", False),
    "rq-scheduler": ("rq-scheduler", "rqscheduler.py", False),
}
QUEUE = "perf"
SQLITE_WAL = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
FLOOR_FUNC = "peerlib.noop"  # the trivial job of the floor and of the bare worker
LATENESS_WARMUP = timedelta(seconds=5)  # slots this early in the run are not counted
LATENESS_WORKERS = 2  # RQ SimpleWorkers executing the runs while lateness is measured
