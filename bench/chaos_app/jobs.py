"""The chaos harness's jobs, declared with their schedules (found by autodiscovery).

Every execution appends one line ``<job> <run_id> <scheduled_for> <pid>`` to the
side-effect file named by ``TOGO_CHAOS_SIDE_EFFECTS`` (one ``write`` on a file
opened with ``O_APPEND``, so lines of concurrent processes never interleave),
before the job does anything else: a run executed twice leaves two lines even if
the second execution is killed. The slow jobs then sleep longer than their
interval, so their next slots find them in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from django_togo_scheduler import job

SIDE_EFFECTS_ENV = "TOGO_CHAOS_SIDE_EFFECTS"

# name -> (spec, seconds the job sleeps after recording its execution)
# Two workers keep up with about this much: a slow job takes a worker for more
# than half the time (it runs, its next slot is skipped, the one after runs).
JOBS: dict[str, tuple[str, float]] = {
    **{f"chaos.every1s_{i:02d}": ("@every 1s", 0.0) for i in range(6)},
    **{f"chaos.every2s_{i:02d}": ("@every 2s", 0.0) for i in range(6)},
    **{f"chaos.minute_{i:02d}": ("* * * * *", 0.0) for i in range(8)},
    "chaos.slow1s": ("@every 1s", 1.5),
    "chaos.slow2s": ("@every 2s", 3.0),
}


def record(ctx: Any) -> None:
    """Append this execution's line to the side-effect file."""
    path = os.environ.get(SIDE_EFFECTS_ENV)
    if not path:
        return
    slot = ctx.scheduled_for.isoformat() if ctx.scheduled_for else "-"
    line = f"{ctx.job} {ctx.run_id} {slot} {os.getpid()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _handler(seconds: float) -> Callable[[Any], None]:
    def handler(ctx: Any) -> None:
        record(ctx)
        if seconds:
            time.sleep(seconds)

    return handler


for _name, (_spec, _seconds) in JOBS.items():
    job(_name, schedule=_spec)(_handler(_seconds))
