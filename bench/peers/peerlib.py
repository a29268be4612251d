"""Helpers shared by bench/perf.py and the peer scripts: standard library only.

The peer scripts run in their own virtualenvs and must not import
django_togo_scheduler; bench/perf.py imports this module too, so both sides
measure start-up and report results the same way.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

RESULT_PREFIX = "RESULT "  # stdout lines the parent collects
READY = "READY"  # what a start-up child prints once it is ready for its first tick

# Specs of the idle schedules: hourly, at a minute far from the measurement, so
# nothing becomes due while the idle ticks are timed (see idle_minutes()).
# Whole-hour offsets only: a minute of the hour is the same minute in UTC.
IDLE_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def noop() -> None:
    """The trivial job of the peers' schedules (importable: not in ``__main__``)."""


def emit(record: dict[str, Any]) -> None:
    """Print one result for the parent (bench/perf.py) to collect."""
    print(RESULT_PREFIX + json.dumps(record, default=str), flush=True)


def log(message: str) -> None:
    """Progress on stderr (the parent passes it through)."""
    print(f"    {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(times_ms: Sequence[float]) -> dict[str, float]:
    """Median, p95 and count of a list of durations in ms."""
    return {
        "median_ms": round(statistics.median(times_ms), 4),
        "p95_ms": round(percentile(times_ms, 0.95), 4),
        "samples": len(times_ms),
    }


def time_calls(
    call: Callable[[], Any],
    *,
    samples: int,
    warmup: int = 3,
    budget_s: float | None = None,
) -> list[float]:
    """Time ``call`` ``samples`` times (after ``warmup`` calls), in ms.

    With ``budget_s``, stops early once that much time was spent (at least 3
    samples), so a peer whose tick takes a second does not take minutes.
    """
    for _ in range(warmup):
        call()
    times: list[float] = []
    spent = 0.0
    for _ in range(samples):
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        times.append(elapsed * 1000)
        spent += elapsed
        if budget_s is not None and spent > budget_s and len(times) >= 3:
            break
    return times


def idle_minutes(now_minute: int, count: int = 20) -> list[int]:
    """Minutes of the hour 20-40 minutes away from ``now_minute``."""
    return [(now_minute + 20 + i) % 60 for i in range(count)]


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB, from /proc/<pid>/status."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    return {"rss_mib": values["VmRSS"], "peak_rss_mib": values["VmHWM"]}


def measure_startup(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Start ``command``, wait for its READY line; time it and read its RSS.

    The child prints ``READY`` once it is ready for (or has done) its first tick,
    and may print ``PHASE name seconds`` lines before that. It is then stopped
    with SIGTERM (SIGKILL after 10 s).
    """
    start = time.perf_counter()
    child = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    phases: dict[str, float] = {}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("PHASE "):
                _, name, seconds = line.split()
                phases[name] = float(seconds)
            elif line.strip() == READY:
                elapsed = time.perf_counter() - start
                memory = proc_status(child.pid)
                break
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{command[0]} not ready after {timeout} s")
        else:
            raise RuntimeError(
                f"{' '.join(command)} exited ({child.wait()}) before READY"
            )
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return {"seconds": round(elapsed, 3), **memory, "phases": phases}


def phase(name: str, since: float) -> float:
    """Print a start-up phase for measure_startup; return the current time."""
    now = time.perf_counter()
    print(f"PHASE {name} {now - since:.4f}", flush=True)
    return now


def wait_for_termination() -> None:
    """Block until SIGTERM or SIGINT (a start-up child once READY)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def recreate_postgres(name: str, host: str, port: str, user: str) -> None:
    """Drop and create the PostgreSQL database ``name`` (always a togo_perf* one)."""
    assert name.startswith("togo_perf"), name
    import psycopg

    with psycopg.connect(
        host=host, port=port, user=user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
