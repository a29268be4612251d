"""bench/perf.py's children: ``ours`` runs every workload on one database.

The others are processes a workload starts: ``runscheduler`` (start-up,
lateness) and ``worker`` (lateness).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.harness.db import recreate_database, server_version
from bench.harness.rows import emit
from bench.perf_setup import configure_django, redis_client


def run_child(args: argparse.Namespace) -> None:
    if args.child == "ours":
        configure_django(args)
        ours(args, json.loads(args.config))
    elif args.child == "runscheduler":
        from bench.perf_startup import child_runscheduler

        child_runscheduler(args)
    elif args.child == "worker":
        from bench.perf_worker import child_worker

        child_worker(args)
    else:
        raise SystemExit(f"unknown child {args.child}")


def ours(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Every workload not in ``config["skip"]``, in this order."""
    from bench.perf_burst import measure_bursts
    from bench.perf_idle import measure_history, measure_idle_sizes
    from bench.perf_lateness import measure_lateness
    from bench.perf_startup import measure_startup_ours
    from bench.perf_worker import measure_worker

    recreate_database()
    emit_versions(args)
    workloads = [
        ("idle", measure_idle_sizes),
        ("startup", measure_startup_ours),
        ("burst", measure_bursts),
        ("worker", measure_worker),
        ("history", measure_history),
        ("lateness", measure_lateness),
    ]
    for name, measure in workloads:
        if name not in config["skip"]:
            measure(args, config)


def emit_versions(args: argparse.Namespace) -> None:
    import django

    emit(
        {
            "tool": "togo",
            "workload": "versions",
            "db": args.child_db,
            "django": django.get_version(),
            "server": server_version(),
            "redis": redis_client(args).info()["redis_version"],
        }
    )
