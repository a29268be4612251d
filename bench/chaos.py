"""Chaos harness: the guarantees of API.md measured under crashes, run by hand or by the suite.

    python bench/chaos.py --minutes 10
    python bench/chaos.py --seconds 60 --seed 7

It runs 3 ``runscheduler`` processes and 2 long-lived ``rqworker`` processes
(``python -m django ... --settings=bench.chaos_settings``; the workers are
``django_togo_scheduler.worker.Worker`` unless ``--worker-class`` says otherwise)
against a throwaway
PostgreSQL database (``togo_chaos``, dropped, created and migrated) and a
redis-server of its own on a spare port. The chaos app (``bench/chaos_app``)
declares 22 schedules through the RQ queue (``@every 1s``, ``@every 2s``,
``* * * * *``; two of them sleep 1.5 and 3 s, longer than their interval) whose
handlers append ``<job> <run_id> <scheduled_for> <pid>`` to a side-effect file.

A chaos loop then acts at random moments (exponential gaps, seeded RNG; the first
events cover every kind once) and never has more than one scheduler or one
worker down at a time:

  kill_scheduler     SIGKILL a scheduler, restart it
  window_enqueue     make a scheduler die (``os._exit(137)``) right before it
                     enqueues runs on RQ, after the sweep committed them
  window_insert      make a scheduler die right before it inserts the runs of the
                     slots it claimed, inside the claim transaction
  kill_worker        SIGKILL an rqworker (its work horse lives on), restart it
  kill_machine       SIGKILL an rqworker and its work horse (a lost machine)
  kill_horse         SIGKILL the work horse of a running run (``Run.worker``)
  window_dequeue     make an rqworker die right after it took a run's message
                     off the queue, before its work horse exists
  window_start       make a work horse kill its rqworker and itself right
                     before the run is marked running (a lost machine)
  restart_redis      kill -9 redis-server and start it again, empty
  pg_terminate       ``pg_terminate_backend`` the schedulers' connections (by
                     ``application_name``), once or repeatedly for 1-3 s

Then all processes stay up for ``settle`` seconds (more than STALE_AFTER plus two
lost-message checks), the schedulers and workers get SIGTERM, and the ledger
(``Run`` rows) and the side-effect file are checked. It prints a table and one
JSON line, and exits 1 when a figure that must be 0 is not (2 when PostgreSQL or
redis-server is missing). Logs of every process stay in ``--workdir``;
``--events`` picks the kinds of chaos. docs/reliability.md explains the figures.

This file is the command line. The harness is in the modules beside it:
chaos_processes.py (the schedulers and workers), chaos_events.py (the chaos and
the windows), chaos_setup.py, chaos_run.py (one run), chaos_evidence.py,
chaos_figures.py and chaos_report.py (what is checked and printed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# What a run is made of (re-exported: ``from bench.chaos import ...``).
from bench.chaos_events import EVENTS, Harness  # noqa: E402
from bench.chaos_figures import analyse  # noqa: E402
from bench.chaos_processes import SETTINGS  # noqa: E402
from bench.chaos_report import MUST_BE_ZERO, report  # noqa: E402
from bench.chaos_run import run  # noqa: E402
from bench.chaos_setup import services_missing, setup_django  # noqa: E402
from bench.harness.db import drop_postgres, recreate_postgres  # noqa: E402
from bench.harness.redis_server import RedisServer  # noqa: E402

__all__ = [
    "EVENTS",
    "MUST_BE_ZERO",
    "SETTINGS",
    "Harness",
    "RedisServer",
    "analyse",
    "main",
    "parse_args",
    "report",
    "run",
    "services_missing",
    "setup_django",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="minutes of chaos")
    length.add_argument("--seconds", type=float, help="seconds of chaos (default 60)")
    parser.add_argument(
        "--seed", type=int, default=None, help="RNG seed (default: from the clock)"
    )
    parser.add_argument(
        "--mean-gap",
        type=float,
        default=3.0,
        help="mean seconds between chaos events (default 3)",
    )
    parser.add_argument(
        "--events",
        default=",".join(EVENTS),
        help="comma-separated kinds of chaos events (default: all of them)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=6.0,
        help="STALE_AFTER of the run, in seconds (default 6)",
    )
    parser.add_argument("--schedulers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-class",
        default="django_togo_scheduler.worker.Worker",
        help="the rqworker's --worker-class (default: ours, which rides out a "
        "Redis restart; rq.Worker for RQ's own)",
    )
    parser.add_argument(
        "--db", default="togo_chaos", help="database name (dropped and created)"
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the database at the end"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="logs and side-effect files"
    )
    args = parser.parse_args(argv)
    args.events = [kind.strip() for kind in args.events.split(",") if kind.strip()]
    unknown = sorted(set(args.events) - set(EVENTS))
    if unknown or not args.events:
        parser.error(f"--events: unknown {unknown}; choose from {', '.join(EVENTS)}")
    if not args.db.startswith("togo_chaos"):
        parser.error("--db must start with togo_chaos (the harness drops it)")
    args.duration = (
        args.minutes * 60 if args.minutes is not None else (args.seconds or 60.0)
    )
    if args.seed is None:
        args.seed = int(time.time()) % 100_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = services_missing()
    if missing:
        print(f"chaos: cannot run: {missing}", file=sys.stderr)
        return 2
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="togo-chaos-"))
    for sub in ("logs", "triggers"):
        (args.workdir / sub).mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    recreate_postgres(args.db)
    redis = RedisServer(args.workdir)
    try:
        setup_django(args, redis.url)
        figures = run(args, redis)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_postgres(args.db)
    return report(figures)


if __name__ == "__main__":
    sys.exit(main())
