"""The performance benchmark of issue 6: us and the peers, side by side, in one run.

    python bench/perf.py            # every workload, full sizes (about 25 minutes)
    python bench/perf.py --quick    # reduced sizes, a smoke test (about 3 minutes)

Run from the repository root with the project's virtualenv (Django, django-rq,
psycopg, matplotlib). The script

- starts its own ``redis-server`` on a free port (or uses ``--redis-url``; that
  Redis is flushed, so never point it at one that matters);
- creates a virtualenv per peer under ``bench/.venv-peers-<name>`` from
  ``bench/requirements-peers.txt`` (reused while that file is unchanged) and drives
  each peer through its script in ``bench/peers/``, which never imports us;
- measures us in a child process per database (SQLite file in a temporary
  directory; PostgreSQL database ``togo_perf`` on 127.0.0.1:5432, dropped and
  created again; ``PGHOST``, ``PGPORT``, ``PGUSER`` change that);
- prints one table with the ratios, writes every measurement as JSON lines to
  ``bench/results/perf-<date>[-quick].jsonl``, the table to the ``.md`` beside it,
  and the plot of idle tick cost against schedules to ``docs/performance.png``
  (``--plot``; a quick run writes ``bench/results/perf-quick.png``).

docs/performance.md describes each workload and the results. This file is the
command line; the parent (bench/perf_parent.py) runs this script again as its
children (bench/perf_child.py), one module per workload: perf_idle.py (the
idle tick, with and without history), perf_startup.py, perf_burst.py,
perf_worker.py, perf_lateness.py; perf_report.py makes the table and the plot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository first (bench.*, and django_togo_scheduler from this checkout);
# bench/peers for peerlib, whose noop is the job of the floor and bare worker.
sys.path[:0] = [str(ROOT), str(ROOT / "bench" / "peers")]

from bench.perf_config import BENCH, PEERS, WORKLOADS  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=None)
    parser.add_argument(
        "--peers", nargs="*", choices=sorted(PEERS), default=None, help="default: all"
    )
    parser.add_argument("--no-ours", action="store_true", help="measure peers only")
    parser.add_argument("--skip", nargs="*", default=[], choices=WORKLOADS)
    parser.add_argument("--redis-url", help="a Redis to use (it is flushed)")
    parser.add_argument("--plot", type=Path, help="where the PNG goes")
    parser.add_argument("--out", type=Path, help="JSON lines file")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSONL",
        help="only print the table and draw the plot of an earlier run",
    )
    # A child process of this script (internal).
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-db", help=argparse.SUPPRESS)
    parser.add_argument("--sqlite-path", help=argparse.SUPPRESS)
    parser.add_argument("--pg-name", default="togo_perf", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--register", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        from bench.perf_child import run_child

        run_child(args)
    elif args.report:
        from bench.harness.rows import read_jsonl
        from bench.perf_report import report

        report(
            read_jsonl(args.report),
            args.report,
            args.plot or BENCH / "results" / "perf.png",
        )
    else:
        from bench.perf_parent import run_parent

        run_parent(args)


if __name__ == "__main__":
    main()
