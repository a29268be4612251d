"""bench/perf.py's parent: Redis, the peers' virtualenvs, a child per database and peer.

Every record the children emit is written to the JSON lines file as it comes
(a run that breaks half-way keeps what it measured), then the whole file again
with the machine record completed, then the table and the plot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness.db import postgres_listening
from bench.harness.redis_server import redis_server
from bench.harness.rows import collect, log, write_jsonl
from bench.harness.timing import Stopwatch
from bench.perf_config import BENCH, FULL, PEERS, PEERS_DIR, QUICK, ROOT, SCRIPT
from bench.perf_report import report


def run_parent(args: argparse.Namespace) -> None:
    config = QUICK if args.quick else FULL
    dbs = args.db or (["sqlite", "postgres"] if postgres_listening() else ["sqlite"])
    peers = sorted(PEERS) if args.peers is None else args.peers
    out, plot = output_paths(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = [machine_record(args.quick, config)]
    with (
        Stopwatch() as watch,
        redis_server(args.redis_url) as redis_url,
        tempfile.TemporaryDirectory(prefix="togo_perf") as tmp,
        out.open("w") as stream,
    ):

        def keep(new: list[dict[str, Any]]) -> None:
            records.extend(new)
            write_jsonl(stream, new)

        pythons = {name: ensure_venv(PEERS[name][0]) for name in peers}
        if not args.no_ours:
            for db in dbs:
                keep(run_ours(db, redis_url, tmp, config, args.skip))
        for name in peers:
            keep(run_peer(name, pythons[name], dbs, redis_url, tmp, config, args))
    records[0]["seconds"] = round(watch.seconds, 1)
    records[0]["load_avg_end"] = os.getloadavg()
    with out.open("w") as stream:
        write_jsonl(stream, records)
    report(records, out, plot)


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The JSON lines file and the plot of this run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-quick" if args.quick else ""
    out = args.out or BENCH / "results" / f"perf-{stamp}{suffix}.jsonl"
    plot = args.plot or (
        BENCH / "results" / "perf-quick.png"
        if args.quick
        else ROOT / "docs" / "performance.png"
    )
    return out, plot


def git(*command: str) -> str:
    return subprocess.run(
        ["git", *command], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def machine_record(quick: bool, config: dict[str, Any]) -> dict[str, Any]:
    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "django_togo_scheduler")
    return {
        "tool": "meta",
        "workload": "machine",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit + ("+dirty" if dirty else ""),
        "quick": quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "config": config,
    }


def ensure_venv(suffix: str) -> Path:
    """bench/.venv-peers-<suffix> with its lines of requirements-peers.txt; its python."""
    lines = [
        line.split("#")[0].strip()
        for line in (BENCH / "requirements-peers.txt").read_text().splitlines()
        if "# env:" in line and suffix in line.split("# env:")[1].split()
    ]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    venv = BENCH / f".venv-peers-{suffix}"
    marker = venv / "requirements.sha256"
    python = venv / "bin" / "python"
    if marker.exists() and marker.read_text() == digest and python.exists():
        return python
    log(f"creating {venv.relative_to(ROOT)}: {' '.join(lines)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *lines],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    marker.write_text(digest)
    return python


def short(record: dict[str, Any]) -> str:
    """A record as one line of progress."""
    keys = ("tool", "workload", "db", "schedules", "due", "median_ms", "seconds")
    keys += ("jobs_per_s", "rss_mib", "p50_ms", "p99_ms", "per_job_ms")
    return "  ".join(f"{k}={record[k]}" for k in keys if k in record)


def run_ours(
    db: str, redis_url: str, tmp: str, config: dict[str, Any], skip: list[str]
) -> list[dict[str, Any]]:
    print(f"\n== django-togo-scheduler on {db}", file=sys.stderr, flush=True)
    command = [sys.executable, str(SCRIPT), "--child", "ours", "--child-db", db]
    command += ["--redis-url", redis_url, "--sqlite-path", f"{tmp}/togo_perf.sqlite3"]
    command += ["--config", json.dumps({**config, "skip": skip})]
    return collect(command, show=short)


def run_peer(
    name: str,
    python: Path,
    dbs: list[str],
    redis_url: str,
    tmp: str,
    config: dict[str, Any],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    _, script, uses_db = PEERS[name]
    records = []
    for db in dbs if uses_db else ["redis"]:
        print(f"\n== {name} on {db}", file=sys.stderr, flush=True)
        command = [str(python), str(PEERS_DIR / script), "--redis-url", redis_url]
        command += peer_options(config, args.skip)
        if uses_db:
            command += ["--db", db, "--sqlite-path", f"{tmp}/togo_perf_beat.sqlite3"]
            command += ["--burst-cap", str(config["beat_burst_cap"])]
        records += collect(command, show=short)
    return records


def peer_options(config: dict[str, Any], skip: list[str]) -> list[str]:
    """A peer script's options for the workloads not skipped."""
    options = []
    if "idle" not in skip:
        options += ["--sizes", *map(str, config["idle_sizes"])]
    options += ["--ticks", str(config["peer_ticks"])]
    options += ["--tick-budget", str(config["tick_budget"])]
    if "startup" not in skip:
        options += ["--startup", str(config["startup"])]
    if "burst" not in skip:
        options += ["--burst", str(config["burst"])]
    return options
