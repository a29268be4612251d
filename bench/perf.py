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

docs/performance.md describes each workload and the results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS_DIR = BENCH / "peers"
sys.path[:0] = [str(ROOT), str(PEERS_DIR)]

from peerlib import (  # noqa: E402
    RESULT_PREFIX,
    emit,
    log,
    measure_startup,
    percentile,
    phase,
    recreate_postgres,
    summary,
    time_calls,
)

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
# The idle schedules: the mix of bench/tick.py (specs, zones, catch-up policies).
SPECS = [
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "15 */2 * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "@every 30s",
    "@every 1h30m",
    "@daily",
]
ZONES = ["", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
CATCHUP = ["latest"] * 8 + ["none", "all"]
BATCH = 5_000
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def noop() -> None:
    """The handler of every benchmark schedule: the trivial work."""


# ====================================================================== parent


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
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["idle", "startup", "burst", "history", "worker", "lateness"],
    )
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
        run_child(args)
        return
    if args.report:
        records = [json.loads(line) for line in args.report.read_text().splitlines()]
        report(records, args.report, args.plot or BENCH / "results" / "perf.png")
        return
    config = QUICK if args.quick else FULL
    dbs = args.db or (["sqlite", "postgres"] if postgres_reachable() else ["sqlite"])
    peers = sorted(PEERS) if args.peers is None else args.peers
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-quick" if args.quick else ""
    out = args.out or BENCH / "results" / f"perf-{stamp}{suffix}.jsonl"
    plot = args.plot or (
        BENCH / "results" / "perf-quick.png"
        if args.quick
        else ROOT / "docs" / "performance.png"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = [machine_record(args.quick, config)]
    started = time.perf_counter()
    with (
        redis_server(args.redis_url) as redis_url,
        tempfile.TemporaryDirectory(prefix="togo_perf") as tmp,
        out.open("w") as stream,
    ):

        def keep(new: list[dict[str, Any]]) -> None:
            # Written as they come: a run that breaks half-way keeps what it measured.
            records.extend(new)
            for record in new:
                stream.write(json.dumps(record, default=str) + "\n")
            stream.flush()

        pythons = {name: ensure_venv(PEERS[name][0]) for name in peers}
        if not args.no_ours:
            for db in dbs:
                keep(run_ours(db, redis_url, tmp, config, args.skip))
        for name in peers:
            keep(run_peer(name, pythons[name], dbs, redis_url, tmp, config, args))
    records[0]["seconds"] = round(time.perf_counter() - started, 1)
    records[0]["load_avg_end"] = os.getloadavg()
    with out.open("w") as stream:
        for record in records:
            stream.write(json.dumps(record, default=str) + "\n")
    report(records, out, plot)


def report(records: list[dict[str, Any]], out: Path, plot: Path) -> None:
    """Print the table, write it beside the JSON lines, draw the plot."""
    table = render_table(records, records[0]["config"])
    print("\n" + table)
    out.with_suffix(".md").write_text(table + "\n")
    draw_plot(records, plot)
    print(f"\nResults: {out}, {out.with_suffix('.md').name}; plot: {plot}")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(
            (
                os.environ.get("PGHOST", "127.0.0.1"),
                int(os.environ.get("PGPORT", "5432")),
            ),
            timeout=1,
        ):
            return True
    except OSError:
        return False


def machine_record(quick: bool, config: dict[str, Any]) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "django_togo_scheduler"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
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


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """A private redis-server on a free port (stopped afterwards), or ``url``."""
    if url:
        yield url
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="togo_perf_redis") as folder:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            log(f"redis-server {port} (pid {server.pid})")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(10)


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


def collect(
    command: list[str], env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run a child; pass its progress through; return its RESULT records."""
    records = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(RESULT_PREFIX):
                record = json.loads(line[len(RESULT_PREFIX) :])
                records.append(record)
                log(short(record))
    if child.returncode:
        log(f"!! {command[1]} exited {child.returncode}; its results so far are kept")
    return records


def short(record: dict[str, Any]) -> str:
    keys = ("tool", "workload", "db", "schedules", "due", "median_ms", "seconds")
    keys += ("jobs_per_s", "rss_mib", "p50_ms", "p99_ms", "per_job_ms")
    return "  ".join(f"{k}={record[k]}" for k in keys if k in record)


def run_ours(
    db: str, redis_url: str, tmp: str, config: dict[str, Any], skip: list[str]
) -> list[dict[str, Any]]:
    print(f"\n== django-togo-scheduler on {db}", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--child", "ours", "--child-db", db]
    command += ["--redis-url", redis_url, "--sqlite-path", f"{tmp}/togo_perf.sqlite3"]
    command += ["--config", json.dumps({**config, "skip": skip})]
    return collect(command)


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
        if "idle" not in args.skip:
            command += ["--sizes", *map(str, config["idle_sizes"])]
        command += ["--ticks", str(config["peer_ticks"])]
        command += ["--tick-budget", str(config["tick_budget"])]
        if "startup" not in args.skip:
            command += ["--startup", str(config["startup"])]
        if "burst" not in args.skip:
            command += ["--burst", str(config["burst"])]
        if uses_db:
            command += ["--db", db, "--sqlite-path", f"{tmp}/togo_perf_beat.sqlite3"]
            command += ["--burst-cap", str(config["beat_burst_cap"])]
        records += collect(command)
    return records


# ====================================================================== children


def run_child(args: argparse.Namespace) -> None:
    if args.child == "ours":
        configure_django(args)
        ours(args, json.loads(args.config))
    elif args.child == "runscheduler":
        child_runscheduler(args)
    elif args.child == "worker":
        configure_django(args)
        register_handlers(args.register)
        from redis import Redis
        from rq import Queue, SimpleWorker

        redis = Redis.from_url(args.redis_url)
        worker = SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis)
        worker.work(logging_level="WARNING", with_scheduler=False)
    else:
        raise SystemExit(f"unknown child {args.child}")


def configure_django(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    if args.child_db == "postgres":
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": args.pg_name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    else:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": args.sqlite_path,
            # As docs/configuration.md recommends where workers run beside the
            # scheduler: WAL, so a commit does not wait for the disk.
            "OPTIONS": {"timeout": 20, "init_command": SQLITE_WAL},
        }
    settings.configure(
        SECRET_KEY="perf",
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_rq",
            "django_togo_scheduler",
        ],
        DATABASES={"default": database},
        RQ_QUEUES={QUEUE: {"URL": args.redis_url}},
        TOGO_SCHEDULER={"QUEUE": QUEUE, "AUTODISCOVER": None},
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "loggers": {
                "django_togo_scheduler": {"handlers": ["console"], "level": "WARNING"}
            },
        },
    )
    django.setup()


def register_handlers(count: int, prefix: str = "perf.job") -> None:
    from django_togo_scheduler.registry import registry

    for i in range(count):
        registry.register(f"{prefix}{i:06d}", noop)


def child_runscheduler(args: argparse.Namespace) -> None:
    """``manage.py runscheduler`` with ``--register`` handlers; READY after the first tick."""
    start = time.perf_counter()
    configure_django(args)
    mark = phase("django", start)
    register_handlers(args.register)
    mark = phase("register", mark)
    from django.core.management import call_command

    from django_togo_scheduler.loop import SchedulerLoop

    original_start, original_run_once = SchedulerLoop.start, SchedulerLoop.run_once
    marks = {"mark": mark, "first": True}

    def timed_start(self: Any, **kwargs: Any) -> bool:
        result = original_start(self, **kwargs)
        marks["mark"] = phase("sync", marks["mark"])
        return result

    def timed_run_once(self: Any) -> float:
        if marks["first"]:
            marks["mark"] = phase("until_first_tick", marks["mark"])
        result = original_run_once(self)
        if marks["first"]:
            marks["first"] = False
            phase("first_tick", marks["mark"])
            print("READY", flush=True)
        return result

    SchedulerLoop.start = timed_start  # type: ignore[method-assign]
    SchedulerLoop.run_once = timed_run_once  # type: ignore[method-assign]
    call_command("runscheduler", verbosity=1)


def child_command(args: argparse.Namespace, child: str, register: int) -> list[str]:
    command = [sys.executable, __file__, "--child", child, "--child-db", args.child_db]
    command += ["--redis-url", args.redis_url, "--sqlite-path", args.sqlite_path]
    return command + ["--pg-name", args.pg_name, "--register", str(register)]


def ours(args: argparse.Namespace, config: dict[str, Any]) -> None:
    import django
    from django.db import connection

    db = args.child_db
    skip = set(config["skip"])
    recreate_database(args)
    with connection.cursor() as cursor:
        cursor.execute(
            "select sqlite_version()" if db == "sqlite" else "show server_version"
        )
        server = cursor.fetchone()[0]
    emit(
        {
            "tool": "togo",
            "workload": "versions",
            "db": db,
            "django": django.get_version(),
            "server": server,
            "redis": redis_client(args).info()["redis_version"],
        }
    )
    if "idle" not in skip:
        for count in config["idle_sizes"]:
            recreate_database(args)
            populate_idle(count)
            emit(
                {
                    "tool": "togo",
                    "workload": "idle_tick",
                    "db": db,
                    "schedules": count,
                    **measure_idle(config["ticks"]),
                }
            )
    if "startup" not in skip:
        measure_startup_ours(args, config)
    if "burst" not in skip:
        measure_bursts(args, config)
    if "worker" not in skip:
        measure_worker(args, config)
    if "history" not in skip:
        measure_history(args, config)
    if "lateness" not in skip:
        measure_lateness(args, config)


# ---------------------------------------------------------------- set-up


def redis_client(args: argparse.Namespace) -> Any:
    from redis import Redis

    return Redis.from_url(args.redis_url)


def recreate_database(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    if args.child_db == "postgres":
        recreate_postgres(
            args.pg_name,
            os.environ.get("PGHOST", "127.0.0.1"),
            os.environ.get("PGPORT", "5432"),
            os.environ.get("PGUSER", "postgres"),
        )
    else:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(args.sqlite_path + suffix).unlink(missing_ok=True)
    call_command("migrate", verbosity=0)


def analyze() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def populate_idle(count: int, seed: int = 42) -> None:
    """``count`` schedules of bench/tick.py's mix, next slots 1 h to 1 week ahead."""
    from django_togo_scheduler.models import ScheduledJob

    rng = random.Random(seed)
    now = datetime.now(UTC)
    for start in range(0, count, BATCH):
        ScheduledJob.objects.bulk_create(
            ScheduledJob(
                name=f"perf.job{i:06d}",
                spec=rng.choice(SPECS),
                timezone=rng.choice(ZONES),
                catchup=rng.choice(CATCHUP),
                timeout=60 if i % 3 == 0 else None,
                next_run_at=now + timedelta(hours=1) + timedelta(days=7) * rng.random(),
            )
            for i in range(start, min(count, start + BATCH))
        )
    analyze()


def raw_delete(model: Any) -> None:
    model.objects.all()._raw_delete(model.objects.db)


@contextmanager
def count_queries() -> Iterator[list[int]]:
    from django.db import connection

    counter = [0]

    def wrapper(execute: Callable[..., Any], sql: str, *rest: Any) -> Any:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            counter[0] += 1
        return execute(sql, *rest)

    with connection.execute_wrapper(wrapper):
        yield counter


# ---------------------------------------------------------------- idle tick


def measure_idle(ticks: int) -> dict[str, Any]:
    """``engine.tick()`` on the real clock, nothing due, through the RQ dispatcher."""
    from django_togo_scheduler import engine
    from django_togo_scheduler.dispatch import get_dispatcher

    dispatcher = get_dispatcher()
    state = engine.EngineState()

    def tick() -> None:
        assert not engine.tick(dispatcher=dispatcher, state=state), "idle tick fired"

    times = time_calls(tick, samples=ticks, warmup=5)
    with count_queries() as counter:
        tick()
    return {**summary(times), "queries": counter[0]}


# ---------------------------------------------------------------- start-up


def measure_startup_ours(args: argparse.Namespace, config: dict[str, Any]) -> None:
    count = config["startup"]
    recreate_database(args)
    populate_idle(count)
    from django.db import connections

    connections.close_all()
    results = [
        measure_startup(child_command(args, "runscheduler", count))
        for _ in range(config["startup_repeat"])
    ]
    middle = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
    emit(
        {
            "tool": "togo",
            "workload": "startup",
            "db": args.child_db,
            "schedules": count,
            **middle,
            "all_s": [r["seconds"] for r in results],
        }
    )


# ---------------------------------------------------------------- burst


BURST_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def measure_bursts(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """bench/burst.py's method at each size of ``growth`` (and ``burst``)."""
    sizes = sorted({*config["growth"], config["burst"]})
    recreate_database(args)
    register_handlers(max(sizes))
    for size in sizes:
        results = [burst_once(args, size) for _ in range(config["burst_repeat"])]
        seconds = statistics.median(r["seconds"] for r in results)
        floor = statistics.median(r["floor_s"] for r in results)
        emit(
            {
                "tool": "togo",
                "workload": "burst",
                "db": args.child_db,
                "due": size,
                "seconds": round(seconds, 3),
                "jobs_per_s": round(size / seconds),
                "claim_s": round(statistics.median(r["claim_s"] for r in results), 3),
                "dispatch_s": round(
                    statistics.median(r["dispatch_s"] for r in results), 3
                ),
                "queries": results[-1]["queries"],
                "all_s": [round(r["seconds"], 3) for r in results],
            }
        )
        emit(
            {
                "tool": "rq",
                "workload": "enqueue_many",
                "db": args.child_db,
                "due": size,
                "seconds": round(floor, 3),
                "jobs_per_s": round(size / floor),
            }
        )


def burst_once(args: argparse.Namespace, size: int) -> dict[str, Any]:
    from rq import Queue

    from django_togo_scheduler import engine
    from django_togo_scheduler.dispatch import get_dispatcher
    from django_togo_scheduler.models import Run, ScheduledJob

    redis = redis_client(args)
    redis.flushdb()
    raw_delete(Run)
    raw_delete(ScheduledJob)
    ScheduledJob.objects.bulk_create(
        (
            ScheduledJob(
                name=f"perf.job{i:06d}", spec="* * * * *", next_run_at=BURST_NOW
            )
            for i in range(size)
        ),
        batch_size=2000,
    )
    analyze()
    dispatcher = get_dispatcher()
    with phase_timers() as spent, count_queries() as counter:
        start = time.perf_counter()
        runs = engine.tick(BURST_NOW, dispatcher=dispatcher, state=engine.EngineState())
        seconds = time.perf_counter() - start
    assert len(runs) == size and Queue(QUEUE, connection=redis).count == size

    # The floor, in the same process against the same Redis: RQ's enqueue_many.
    redis.flushdb()
    queue = Queue("floor", connection=redis)
    start = time.perf_counter()
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(FLOOR_FUNC, args=(i,)) for i in range(size)],
            pipeline=pipe,
        )
        pipe.execute()
    floor = time.perf_counter() - start
    assert queue.count == size
    redis.flushdb()
    return {"seconds": seconds, "floor_s": floor, "queries": counter[0], **spent}


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Time engine.claim_due and engine.dispatch_pending inside tick()."""
    from django_togo_scheduler import engine

    spent = {"claim_s": 0.0, "dispatch_s": 0.0}
    originals = {"claim_s": engine.claim_due, "dispatch_s": engine.dispatch_pending}

    def timed(key: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[key](*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return call

    engine.claim_due = timed("claim_s")  # type: ignore[assignment]
    engine.dispatch_pending = timed("dispatch_s")  # type: ignore[assignment]
    try:
        yield spent
    finally:
        engine.claim_due = originals["claim_s"]  # type: ignore[assignment]
        engine.dispatch_pending = originals["dispatch_s"]  # type: ignore[assignment]


# ---------------------------------------------------------------- history


def measure_history(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """The idle tick with no history, then with ``history_runs`` finished runs."""
    recreate_database(args)
    count = config["history_schedules"]
    populate_idle(count)
    before = measure_idle(config["ticks"])
    start = time.perf_counter()
    insert_history(config["history_runs"], count)
    inserted_s = time.perf_counter() - start
    after = measure_idle(config["ticks"])
    emit(
        {
            "tool": "togo",
            "workload": "idle_tick_history",
            "db": args.child_db,
            "schedules": count,
            "runs": config["history_runs"],
            "insert_s": round(inserted_s, 1),
            "without": before,
            **after,
        }
    )


def insert_history(runs: int, schedules: int) -> None:
    """``runs`` finished runs (1 in 50 failed, 1 in 20 skipped), by SQL."""
    from django.db import connection

    from django_togo_scheduler.models import Run

    table = connection.ops.quote_name(Run._meta.db_table)
    columns = (
        "job, status, trigger, scheduled_for, created_at, dispatched_at, "
        "dispatch_count, started_at, finished_at, heartbeat_at, timeout, queue, error, worker"
    )
    status = "CASE WHEN g % 50 = 0 THEN 'failed' WHEN g % 20 = 0 THEN 'skipped' ELSE 'done' END"
    if connection.vendor == "postgresql":
        at = "(now() - g * interval '1 second')"
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT "
            f"'perf.job' || lpad((g % {schedules})::text, 6, '0'), {status}, 'schedule', "
            f"{at}, {at}, {at}, 1, {at}, {at}, {at}, NULL, 'perf', '', 'bench:1' "
            f"FROM generate_series(1, {runs}) AS g"
        )
    else:
        at = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || g || ' seconds')"
        sql = (
            f"WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < {runs}) "
            f"INSERT INTO {table} ({columns}) SELECT "
            f"'perf.job' || substr('000000' || (g % {schedules}), -6), {status}, 'schedule', "
            f"{at}, {at}, {at}, 1, {at}, {at}, {at}, NULL, 'perf', '', 'bench:1' FROM c"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql)
    analyze()
    assert Run.objects.count() == runs


# ---------------------------------------------------------------- worker


def measure_worker(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Per job: execute_run in a SimpleWorker burst vs a bare RQ job of the same work."""
    from django.db import connection

    recreate_database(args)
    count = config["worker_jobs"]
    register_handlers(count, prefix="perf.w")
    for conn_max_age in (0, 60):
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = conn_max_age
        ours_s, bare_s = [], []
        for repeat in range(config["worker_repeat"]):
            ours_s.append(worker_burst_ours(args, count, repeat))
            bare_s.append(worker_burst_bare(args, count))
        per_job = statistics.median(ours_s) / count * 1000
        bare = statistics.median(bare_s) / count * 1000
        emit(
            {
                "tool": "togo",
                "workload": "worker",
                "db": args.child_db,
                "jobs": count,
                "conn_max_age": conn_max_age,
                "per_job_ms": round(per_job, 3),
                "bare_per_job_ms": round(bare, 3),
                "overhead_ms": round(per_job - bare, 3),
            }
        )
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 0


def run_simple_worker(args: argparse.Namespace) -> float:
    from rq import Queue, SimpleWorker

    redis = redis_client(args)
    worker = SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis)
    start = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
    return time.perf_counter() - start


def worker_burst_ours(args: argparse.Namespace, count: int, repeat: int) -> float:
    from django_togo_scheduler import engine
    from django_togo_scheduler.dispatch.rq import RQDispatcher
    from django_togo_scheduler.models import Run

    redis_client(args).flushdb()
    raw_delete(Run)
    slot = BURST_NOW + timedelta(minutes=repeat)
    Run.objects.bulk_create(
        Run(job=f"perf.w{i:06d}", scheduled_for=slot, queue=QUEUE) for i in range(count)
    )
    handed = engine.dispatch_pending(slot, RQDispatcher())
    assert len(handed) == count
    seconds = run_simple_worker(args)
    assert Run.objects.filter(status=Run.Status.DONE).count() == count
    return seconds


def worker_burst_bare(args: argparse.Namespace, count: int) -> float:
    from rq import Queue

    redis = redis_client(args)
    redis.flushdb()
    queue = Queue(QUEUE, connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(FLOOR_FUNC) for _ in range(count)], pipeline=pipe
        )
        pipe.execute()
    seconds = run_simple_worker(args)
    assert queue.count == 0
    return seconds


# ---------------------------------------------------------------- lateness


def measure_lateness(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """A real runscheduler (and RQ SimpleWorkers) with 1,000 schedules, over real time.

    Schedule ``i`` is ``@every <2 + i>s`` (2 s to 1,001 s): a slot nearly every
    second (not at a prime number of seconds since the epoch), about six runs due
    per slot and many more where periods share a multiple. Lateness
    is the RQ job's ``enqueued_at`` minus the run's ``scheduled_for``; runs
    recorded as skipped (their previous run still in flight) have no job and are
    counted apart. Thousands of runs due at one instant are the burst workload.
    """
    from django.db import connections

    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.service import first_slot

    recreate_database(args)
    redis_client(args).flushdb()
    count = config["lateness_schedules"]
    begin = datetime.now(UTC) + timedelta(seconds=3)
    ScheduledJob.objects.bulk_create(
        ScheduledJob(
            name=f"perf.job{i:06d}",
            spec=spec,
            next_run_at=first_slot(spec, "", begin),
        )
        for i in range(count)
        for spec in [f"@every {2 + i}s"]
    )
    analyze()
    connections.close_all()
    children = [
        subprocess.Popen(child_command(args, name, count), stdout=subprocess.DEVNULL)
        for name in ("runscheduler", *["worker"] * LATENESS_WORKERS)
    ]
    try:
        time.sleep(config["lateness_seconds"])
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    end = datetime.now(UTC)
    emit(lateness_record(args, begin + LATENESS_WARMUP, end - timedelta(seconds=3)))


def rq_job_id(run: Any) -> str:
    """The RQ job id the dispatcher gave ``run`` (``job_id(run)``, or of its pk before)."""
    from django_togo_scheduler.dispatch.rq import job_id

    try:
        return str(job_id(run))
    except (TypeError, AttributeError):
        return str(job_id(run.pk))


def lateness_record(
    args: argparse.Namespace, since: datetime, until: datetime
) -> dict[str, Any]:
    from rq.utils import utcparse

    from django_togo_scheduler.models import Run

    rows = Run.objects.filter(scheduled_for__gte=since, scheduled_for__lte=until)
    runs = [(r.pk, r.job, r.scheduled_for, r.status, r) for r in rows.order_by("pk")]
    recorded = [run for run in runs if run[3] != Run.Status.SKIPPED]
    redis = redis_client(args)
    with redis.pipeline(transaction=False) as pipe:
        for *_, run in recorded:
            pipe.hget(f"rq:job:{rq_job_id(run)}", "enqueued_at")
        enqueued = pipe.execute()
    late: list[float] = []
    by_slot: dict[datetime, float] = {}
    due: dict[datetime, int] = {}
    missing = 0
    for (_, _job, slot, *_), at in zip(recorded, enqueued, strict=True):
        due[slot] = due.get(slot, 0) + 1
        if at is None:
            missing += 1
            continue
        ms = (utcparse(at.decode()).replace(tzinfo=UTC) - slot).total_seconds() * 1000
        late.append(ms)
        by_slot[slot] = max(by_slot.get(slot, ms), ms)

    def stats(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        return {
            "runs": len(values),
            "p50_ms": round(percentile(values, 0.5), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values), 2),
        }

    return {
        "tool": "togo",
        "workload": "lateness",
        "db": args.child_db,
        "schedules": len({r[1] for r in runs}),
        "slots": len(by_slot),
        "skipped": len(runs) - len(recorded),
        "not_in_redis": missing,
        **stats(late),
        "due_per_slot_mean": round(statistics.mean(due.values()), 2) if due else None,
        "due_per_slot_max": max(due.values(), default=None),
        "slot_last_job": stats(list(by_slot.values())),
    }


# ====================================================================== report


def find(
    records: list[dict[str, Any]],
    tool: str,
    workload: str,
    db: str | None = None,
    **match: Any,
) -> dict[str, Any] | None:
    for record in records:
        if record.get("tool") != tool or record.get("workload") != workload:
            continue
        if db is not None and record.get("db") != db:
            continue
        if all(record.get(k) == v for k, v in match.items()):
            return record
    return None


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def ratio(peer: float | None, ours: float | None, lower_is_better: bool) -> str:
    """How many times better we are than the peer (> 1: we win)."""
    if not peer or not ours:
        return "-"
    value = peer / ours if lower_is_better else ours / peer
    return (
        f"{value:,.0f}x"
        if value >= 100
        else f"{value:.1f}x"
        if value >= 1
        else f"{value:.2f}x"
    )


def render_table(records: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """One markdown table: us on SQLite and PostgreSQL, the peers, our advantage."""
    header = (
        "| workload | togo SQLite | togo PG | celery-beat SQLite | celery-beat PG | RQ cron "
        "| rq-scheduler | togo vs celery-beat (SQLite / PG) | vs RQ cron (SQLite / PG) "
        "| vs rq-scheduler (SQLite / PG) | target | met |"
    )
    lines = [header, "|" + " --- |" * 12]

    def row(
        label: str,
        pick: Callable[[str, str | None], float | None],
        *,
        lower: bool = True,
        target: str = "",
        check: Callable[[float], bool] | None = None,
        digits: int = 2,
    ) -> None:
        ours = {db: pick("togo", db) for db in ("sqlite", "postgres")}
        beat = {db: pick("celery-beat", db) for db in ("sqlite", "postgres")}
        rqcron, rqs = pick("rq-cron", "redis"), pick("rq-scheduler", "redis")
        vs_beat = " / ".join(ratio(beat[db], ours[db], lower) for db in ours)
        vs_cron = " / ".join(ratio(rqcron, ours[db], lower) for db in ours)
        vs_rqs = " / ".join(ratio(rqs, ours[db], lower) for db in ours)
        met = ""
        if check is not None:
            met = " / ".join(
                "-" if ours[db] is None else ("yes" if check(ours[db]) else "**no**")
                for db in ours
            )
        cells = [label, fmt(ours["sqlite"], digits), fmt(ours["postgres"], digits)]
        cells += [fmt(beat["sqlite"], digits), fmt(beat["postgres"], digits)]
        cells += [
            fmt(rqcron, digits),
            fmt(rqs, digits),
            vs_beat,
            vs_cron,
            vs_rqs,
            target,
            met,
        ]
        lines.append("| " + " | ".join(cells) + " |")

    def value(
        workload: str, key: str, **match: Any
    ) -> Callable[[str, str | None], Any]:
        def pick(tool: str, db: str | None) -> Any:
            record = find(records, tool, workload, db, **match)
            if record is None:
                return None
            result: Any = record
            for part in key.split("."):
                result = result.get(part) if isinstance(result, dict) else None
            return result

        return pick

    def ours_only(
        pick: Callable[[str, str | None], Any],
    ) -> Callable[[str, str | None], Any]:
        return lambda tool, db: pick(tool, db) if tool == "togo" else None

    for size in config["idle_sizes"]:
        row(
            f"idle tick, {size:,} schedules (ms)",
            value("idle_tick", "median_ms", schedules=size),
            target="<= 1 ms",
            check=lambda v: v <= 1.0,
            digits=3,
        )
    largest = config["idle_sizes"][-1]
    rqs_idle = find(records, "rq-scheduler", "idle_tick", "redis", schedules=largest)
    row(
        f"idle tick, {largest:,}: togo / rq-scheduler, same run",
        lambda tool, db: (
            record["median_ms"] / rqs_idle["median_ms"]
            if tool == "togo"
            and rqs_idle
            and (record := find(records, "togo", "idle_tick", db, schedules=largest))
            else None
        ),
        target="<= 1",
        check=lambda v: v <= 1,
    )
    row(
        f"SQL statements per idle tick ({config['idle_sizes'][-1]:,})",
        value("idle_tick", "queries", schedules=config["idle_sizes"][-1]),
        target="1",
        check=lambda v: v <= 1,
        digits=0,
    )
    startup = config["startup"]
    row(
        f"start-up, {startup:,} schedules (s)",
        value("startup", "seconds", schedules=startup),
        target="< 0.5 s",
        check=lambda v: v < 0.5,
    )
    row(
        f"start-up RSS, {startup:,} schedules (MiB)",
        value("startup", "rss_mib", schedules=startup),
        target="< 80 MiB",
        check=lambda v: v < 80,
        digits=0,
    )
    row(
        f"start-up peak RSS (VmHWM), {startup:,} schedules (MiB)",
        value("startup", "peak_rss_mib", schedules=startup),
        digits=0,
    )
    burst = config["burst"]
    row(
        f"burst, {burst:,} due: claimed, recorded, in Redis (jobs/s)",
        value("burst", "jobs_per_s", due=burst),
        lower=False,
        target=">= 5,000/s",
        check=lambda v: v >= 5000,
    )
    floor_pick = value("enqueue_many", "jobs_per_s", due=burst)
    row(
        f"RQ enqueue_many floor, {burst:,} jobs, same run (jobs/s)",
        lambda tool, db: floor_pick("rq", db) if tool == "togo" else None,
        lower=False,
    )
    ratios = {}
    for db in ("sqlite", "postgres"):
        ours_burst = find(records, "togo", "burst", db, due=burst)
        floor = find(records, "rq", "enqueue_many", db, due=burst)
        if ours_burst and floor:
            ratios[db] = floor["jobs_per_s"] / ours_burst["jobs_per_s"]
    row(
        "burst time / enqueue_many time",
        lambda tool, db: ratios.get(db or "") if tool == "togo" else None,
        target="<= 2",
        check=lambda v: v <= 2,
    )
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        row(
            f"lateness {label}, {config['lateness_schedules']:,} schedules, slot -> Redis (ms)",
            value("lateness", key),
            target="<= 5 ms" if key == "p50_ms" else "<= 20 ms",
            check=(lambda v: v <= 5) if key == "p50_ms" else (lambda v: v <= 20),
        )
    for key in ("p50_ms", "p99_ms"):
        row(
            f"lateness {key[:3]} of the last run of each slot (ms)",
            value("lateness", f"slot_last_job.{key}"),
        )
    row("lateness: runs due per slot, mean", value("lateness", "due_per_slot_mean"))
    row("lateness: runs due per slot, max", value("lateness", "due_per_slot_max"))
    row(
        "lateness: runs skipped (previous run still in flight) / enqueued",
        lambda tool, db: (
            record["skipped"] / record["runs"]
            if tool == "togo"
            and (record := find(records, "togo", "lateness", db))
            and record.get("runs")
            else None
        ),
    )
    for age in (0, 60):
        row(
            f"worker: execute_run per job, CONN_MAX_AGE={age} (ms)",
            value("worker", "per_job_ms", conn_max_age=age),
        )
        row(
            f"worker: bare RQ job per job, CONN_MAX_AGE={age} (ms)",
            value("worker", "bare_per_job_ms", conn_max_age=age),
        )
        row(
            f"worker overhead per run, CONN_MAX_AGE={age} (ms)",
            value("worker", "overhead_ms", conn_max_age=age),
            target="<= 2 ms",
            check=lambda v: v <= 2,
        )
    smallest = min(config["growth"])
    for size in sorted({*config["growth"], burst}):
        row(
            f"growth: burst of {size:,} (s)",
            ours_only(value("burst", "seconds", due=size)),
            target="linear" if size != smallest else "",
        )
    per_job = {
        db: [
            (r["due"], r["seconds"] / r["due"])
            for r in records
            if r.get("tool") == "togo"
            and r.get("workload") == "burst"
            and r["db"] == db
        ]
        for db in ("sqlite", "postgres")
    }
    growth = {
        db: max(v for _, v in pairs) / min(v for _, v in pairs)
        for db, pairs in per_job.items()
        if pairs
    }
    row(
        "growth: max / min time per job over the bursts",
        lambda tool, db: growth.get(db or "") if tool == "togo" else None,
        target="<= 1.5 (linear)",
        check=lambda v: v <= 1.5,
    )
    runs = config["history_runs"]
    row(
        f"idle tick, {config['history_schedules']:,} schedules, no history (ms)",
        value("idle_tick_history", "without.median_ms"),
        digits=3,
    )
    row(
        f"idle tick, {config['history_schedules']:,} schedules, {runs:,} runs (ms)",
        value("idle_tick_history", "median_ms"),
        target="<= 1 ms",
        check=lambda v: v <= 1.0,
        digits=3,
    )
    return "\n".join(lines)


def draw_plot(records: list[dict[str, Any]], path: Path) -> None:
    """Idle tick cost against schedules, log-log, for us and the peers."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return
    series = {
        ("togo", "sqlite"): ("django-togo-scheduler, SQLite", "C0", "o-"),
        ("togo", "postgres"): ("django-togo-scheduler, PostgreSQL", "C0", "s--"),
        ("celery-beat", "sqlite"): ("django-celery-beat 2.9, SQLite", "C3", "o-"),
        ("celery-beat", "postgres"): (
            "django-celery-beat 2.9, PostgreSQL",
            "C3",
            "s--",
        ),
        ("rq-cron", "redis"): ("RQ 2.12 CronScheduler (memory)", "C2", "^-"),
        ("rq-scheduler", "redis"): ("rq-scheduler 0.14 (Redis)", "C1", "v-"),
    }
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for (tool, db), (label, color, style) in series.items():
        points = sorted(
            (r["schedules"], r["median_ms"])
            for r in records
            if r.get("tool") == tool
            and r.get("workload") == "idle_tick"
            and r.get("db") == db
        )
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, style, color=color, label=label)
    axes.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="target: 1 ms")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("schedules")
    axes.set_ylabel("one idle tick, median (ms)")
    axes.set_title("Idle tick cost against the number of schedules (nothing due)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
