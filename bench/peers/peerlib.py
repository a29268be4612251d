"""What bench/perf.py and the peer scripts share: the standard library only.

The peer scripts run in their own virtualenvs and must not import
django_togo_scheduler; this module gives them the helpers of bench/harness
that bench/perf.py uses too (they import only the standard library at import
time), so both sides time, measure start-up and report results the same way.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from bench.harness.db import recreate_postgres  # noqa: E402
from bench.harness.procs import READY, measure_startup, phase  # noqa: E402
from bench.harness.rows import RESULT_PREFIX, emit, log  # noqa: E402
from bench.harness.timing import percentile, summary, time_calls  # noqa: E402

__all__ = [
    "IDLE_ZONES",
    "READY",
    "RESULT_PREFIX",
    "emit",
    "idle_minutes",
    "log",
    "measure_startup",
    "noop",
    "percentile",
    "phase",
    "recreate_postgres",
    "summary",
    "time_calls",
    "wait_for_termination",
]

# Specs of the idle schedules: hourly, at a minute far from the measurement, so
# nothing becomes due while the idle ticks are timed (see idle_minutes()).
# Whole-hour offsets only: a minute of the hour is the same minute in UTC.
IDLE_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def noop() -> None:
    """The trivial job of the peers' schedules (importable: not in ``__main__``)."""


def idle_minutes(now_minute: int, count: int = 20) -> list[int]:
    """Minutes of the hour 20-40 minutes away from ``now_minute``."""
    return [(now_minute + 20 + i) % 60 for i in range(count)]


def wait_for_termination() -> None:
    """Block until SIGTERM or SIGINT (a start-up child once READY)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)
