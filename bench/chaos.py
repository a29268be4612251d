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
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "bench.chaos_settings"
APP_NAME = "togo-chaos"  # application_name prefix of every connection of a run
EVENTS = {  # kind -> weight
    "kill_scheduler": 2,
    "window_enqueue": 2,
    "window_insert": 2,
    "window_dequeue": 1,
    "window_start": 1,
    "kill_worker": 1,
    "kill_machine": 1,
    "kill_horse": 2,
    "restart_redis": 1,
    "pg_terminate": 2,
}
WINDOW_TIMEOUT = 20.0  # seconds an armed window may wait for its scheduler to get there
WORKER_BOOT = 5.0  # a worker counts as up this long after its start at the latest
WARMUP = 3.0  # seconds between "every process is up" and the start of the window
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


# --- processes ----------------------------------------------------------------


def _die_with_parent() -> None:
    # Children of the harness die with it (Linux); work horses forked later by
    # a worker do not inherit this, as on a real machine.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def proc_state(pid: int) -> str | None:
    """The state letter of a process (None when gone; zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return None if state in ("Z", "X") else state


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def processes_with(token: str) -> list[int]:
    """Live processes whose environment carries ``token`` (this run's processes)."""
    found = []
    needle = token.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ and proc_state(int(entry.name)):
            found.append(int(entry.name))
    return found


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


class RedisServer:
    """redis-server on a spare port, no persistence: a restart starts empty."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@dataclass
class Life:
    """One generation of a scheduler or worker process."""

    role: str
    index: int
    generation: int
    pid: int
    spawned: float
    ended: float | None = None
    how: str = ""  # how it ended: sigkill, window:<kind>, exit <code>, sigterm


@dataclass
class Slot:
    """A scheduler or worker position, filled by successive processes."""

    role: str
    index: int
    popen: subprocess.Popen[bytes] | None = None
    life: Life | None = None
    generation: int = 0
    ready: bool = False
    restart_at: float | None = None
    trigger: str = ""

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Armed:
    """A window armed in one process, waiting for it to get there."""

    kind: str
    slot: Slot
    pid: int
    path: str
    deadline: float


@dataclass
class Harness:
    args: argparse.Namespace
    workdir: Path
    redis: RedisServer
    token: str
    rng: random.Random
    schedulers: list[Slot] = field(default_factory=list)
    workers: list[Slot] = field(default_factory=list)
    lives: list[Life] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    killed_pids: dict[int, float] = field(default_factory=dict)  # pid -> kill time
    armed: Armed | None = None
    unexpected: list[str] = field(default_factory=list)
    pending_kinds: list[str] = field(default_factory=list)
    stale_seen: set[int] = field(default_factory=set)
    covered: bool = False

    @property
    def kinds(self) -> list[str]:
        return list(self.args.events)

    # --- paths and environment

    @property
    def side_effects(self) -> Path:
        return self.workdir / "side_effects.log"

    @property
    def hits(self) -> Path:
        return self.workdir / "hits.log"

    def env(self, slot: Slot) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "TOGO_CHAOS_DB": self.args.db,
            "TOGO_CHAOS_REDIS_URL": self.redis.url,
            "TOGO_CHAOS_STALE_AFTER": str(self.args.stale_after),
            "TOGO_CHAOS_SIDE_EFFECTS": str(self.side_effects),
            "TOGO_CHAOS_HITS": str(self.hits),
            "TOGO_CHAOS_RUN": self.token,
            "TOGO_CHAOS_ROLE": f"{APP_NAME}-{slot.name}",
        }
        env["TOGO_CHAOS_TRIGGER"] = slot.trigger
        return env

    def note(self, kind: str, detail: str = "") -> None:
        now = time.time()
        with open(self.workdir / "events.log", "a") as log:
            log.write(f"{utc(now).isoformat()} {kind} {detail}\n")

    # --- starting and stopping processes

    def spawn(self, slot: Slot) -> None:
        slot.generation += 1
        slot.trigger = str(
            self.workdir / "triggers" / f"{slot.name}-g{slot.generation}"
        )
        command = (
            ["runscheduler"]
            if slot.role == "scheduler"
            else ["rqworker", "chaos", "--worker-class", self.args.worker_class]
        )
        log_path = self.workdir / "logs" / f"{slot.name}.log"
        with open(log_path, "ab") as log:
            log.write(
                f"=== generation {slot.generation} at {utc(time.time()).isoformat()}\n".encode()
            )
            log.flush()
            slot.popen = subprocess.Popen(
                [sys.executable, "-m", "django", *command, f"--settings={SETTINGS}"],
                cwd=ROOT,
                env=self.env(slot),
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        slot.life = Life(
            slot.role, slot.index, slot.generation, slot.popen.pid, time.time()
        )
        self.lives.append(slot.life)
        slot.ready = False
        slot.restart_at = None

    def ended(self, slot: Slot, how: str, at: float | None = None) -> None:
        assert slot.life is not None and slot.popen is not None
        slot.popen.wait(timeout=30)
        slot.life.ended = at or time.time()
        slot.life.how = how
        slot.ready = False

    def sigkill(self, slot: Slot, restart_in: float) -> int:
        assert slot.popen is not None
        pid = slot.popen.pid
        now = time.time()
        kill(pid)
        self.killed_pids[pid] = now
        self.ended(slot, "sigkill", now)
        slot.restart_at = time.monotonic() + restart_in
        return pid

    def all_slots(self) -> list[Slot]:
        return [*self.schedulers, *self.workers]

    def supervise(self) -> None:
        """Notice exits, restart what is due, mark processes up."""
        self.check_window()
        for slot in self.all_slots():
            if slot.popen is not None and slot.life and slot.life.ended is None:
                code = slot.popen.poll()
                if code is not None:
                    tail = self.log_tail(slot)
                    self.unexpected.append(
                        f"{slot.name} pid {slot.popen.pid} exited {code}: {tail}"
                    )
                    self.note("unexpected_exit", f"{slot.name} {code}")
                    self.ended(slot, f"exit {code}")
                    slot.restart_at = time.monotonic() + 1.0
            if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                self.spawn(slot)
        self.mark_ready()

    def mark_ready(self) -> None:
        from django_togo_scheduler.models import SchedulerProcess

        waiting = {s.popen.pid: s for s in self.schedulers if s.alive and not s.ready}
        if waiting:
            for pid in SchedulerProcess.objects.filter(
                pid__in=list(waiting)
            ).values_list("pid", flat=True):
                waiting[pid].ready = True
        for slot in self.workers:
            if slot.alive and not slot.ready:
                assert slot.life is not None
                slot.ready = (
                    time.time() - slot.life.spawned > WORKER_BOOT
                    or self.worker_registered(slot.life.pid)
                )

    def worker_registered(self, pid: int) -> bool:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            client = Redis.from_url(self.redis.url, socket_timeout=0.5)
            try:
                for key in client.smembers("rq:workers"):
                    if client.hget(key, "pid") == str(pid).encode():
                        return True
            finally:
                client.close()
        except RedisError:
            pass
        return False

    def log_tail(self, slot: Slot, lines: int = 3) -> str:
        path = self.workdir / "logs" / f"{slot.name}.log"
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    # --- the windows

    def arm(self, kind: str, slot: Slot) -> None:
        assert slot.popen is not None
        path = f"{slot.trigger}.{kind.removeprefix('window_')}"
        Path(path).touch()
        self.armed = Armed(
            kind, slot, slot.popen.pid, path, time.monotonic() + WINDOW_TIMEOUT
        )
        self.events[f"{kind}_armed"] += 1
        self.note(f"{kind}_armed", f"{slot.name} pid {slot.popen.pid}")

    def check_window(self) -> None:
        armed = self.armed
        if armed is None:
            return
        slot = armed.slot
        code = slot.popen.poll() if slot.popen else None
        if code is None and time.monotonic() < armed.deadline:
            return
        Path(armed.path).unlink(missing_ok=True)
        if code is None:
            time.sleep(0.2)  # it may have been on its way out
            code = slot.popen.poll() if slot.popen else None
        window = armed.kind.removeprefix("window_")
        hit = self.window_hit(window, armed.pid)
        if code is not None and hit is not None:
            self.events[f"{armed.kind}_hit"] += 1
            self.note(armed.kind, f"{slot.name} pid {armed.pid}: {hit[1][:200]}")
            self.killed_pids[armed.pid] = hit[0]
            if window == "start":  # "<run id> horse <pid>"
                self.killed_pids[int(hit[1].split()[2])] = hit[0]
            self.ended(slot, f"window:{window}", hit[0])
            slot.restart_at = time.monotonic() + self.rng.uniform(0.2, 1.5)
        elif code is not None:
            pass  # died otherwise: supervise() reports it
        else:
            self.events[f"{armed.kind}_not_reached"] += 1
            self.note(f"{armed.kind}_not_reached", f"{slot.name} pid {armed.pid}")
        self.armed = None

    def window_hit(self, window: str, pid: int) -> tuple[float, str] | None:
        if not self.hits.exists():
            return None
        for line in self.hits.read_text().splitlines():
            kind, hit_pid, at, detail = (line.split(" ", 3) + [""])[:4]
            if kind == window and int(hit_pid) == pid:
                return float(at), detail
        return None

    # --- chaos

    def up(self, slots: list[Slot]) -> list[Slot]:
        return [s for s in slots if s.alive and s.ready]

    def allowed(self, kind: str) -> bool:
        if kind not in self.kinds:
            return False
        # One process down at a time per role; none while a window is armed.
        calm = self.armed is None
        if kind in ("kill_scheduler", "window_enqueue", "window_insert"):
            # Never the last scheduler: one must always be alive.
            return (
                calm
                and len(self.schedulers) > 1
                and len(self.up(self.schedulers)) == len(self.schedulers)
            )
        if kind in ("kill_worker", "kill_machine", "window_dequeue", "window_start"):
            return calm and len(self.up(self.workers)) == len(self.workers)
        return True

    def next_kind(self) -> str | None:
        if not self.covered:
            # The first events cover every kind once, in a random order; each
            # goes as soon as it is allowed.
            self.pending_kinds = self.rng.sample(self.kinds, len(self.kinds))
            self.covered = True
        for i, kind in enumerate(self.pending_kinds):
            if self.allowed(kind):
                return self.pending_kinds.pop(i)
        kinds = [kind for kind in self.kinds if self.allowed(kind)]
        if not kinds:
            return None
        return self.rng.choices(kinds, weights=[EVENTS[k] for k in kinds], k=1)[0]

    def act(self) -> bool:
        kind = self.next_kind()
        if kind is None:
            return False
        getattr(self, kind)()
        return True

    def kill_scheduler(self) -> None:
        slot = self.rng.choice(self.up(self.schedulers))
        pid = self.sigkill(slot, self.rng.uniform(0.2, 2.0))
        self.events["kill_scheduler"] += 1
        self.note("kill_scheduler", f"{slot.name} pid {pid}")

    def window_enqueue(self) -> None:
        self.arm("window_enqueue", self.rng.choice(self.up(self.schedulers)))

    def window_insert(self) -> None:
        self.arm("window_insert", self.rng.choice(self.up(self.schedulers)))

    def window_dequeue(self) -> None:
        self.arm("window_dequeue", self.rng.choice(self.up(self.workers)))

    def window_start(self) -> None:
        self.arm("window_start", self.rng.choice(self.up(self.workers)))

    def horses_of(self, pid: int) -> list[int]:
        return [p for p in processes_with(self.token) if parent_of(p) == pid]

    def kill_worker(self) -> None:
        slot = self.rng.choice(self.up(self.workers))
        assert slot.popen is not None
        pid = self.sigkill(slot, self.rng.uniform(0.2, 2.0))
        self.events["kill_worker"] += 1
        self.note("kill_worker", f"{slot.name} pid {pid} (its work horse lives on)")

    def kill_machine(self) -> None:
        slot = self.rng.choice(self.up(self.workers))
        assert slot.popen is not None
        pid = slot.popen.pid
        os.kill(pid, signal.SIGSTOP)  # no new horse from here on
        horses = self.horses_of(pid)
        now = time.time()
        for horse in horses:
            if kill(horse):
                self.killed_pids[horse] = now
        self.sigkill(slot, self.rng.uniform(0.2, 2.0))
        self.events["kill_machine"] += 1
        self.note("kill_machine", f"{slot.name} pid {pid} and horses {horses}")

    def kill_horse(self) -> None:
        from django_togo_scheduler.models import Run

        ours = set(processes_with(self.token))
        candidates = []
        for worker in Run.objects.filter(status="running").values_list(
            "worker", flat=True
        ):
            pid = int(worker.rsplit(":", 1)[1]) if ":" in worker else 0
            if pid in ours:
                candidates.append(pid)
        if not candidates:
            worker_pids = {s.popen.pid for s in self.workers if s.alive and s.popen}
            candidates = [p for p in ours if parent_of(p) in worker_pids]
        if not candidates:
            self.events["kill_horse_nothing_running"] += 1
            self.note("kill_horse_nothing_running", f"{len(ours)} processes of ours")
            return
        pid = self.rng.choice(sorted(candidates))
        now = time.time()
        if kill(pid):
            self.killed_pids[pid] = now
            self.events["kill_horse"] += 1
            self.note("kill_horse", f"pid {pid}")

    def restart_redis(self) -> None:
        self.redis.kill()
        self.redis.start()
        self.events["restart_redis"] += 1
        self.note("restart_redis")

    def pg_terminate(self) -> None:
        burst = self.rng.random() < 0.3
        until = time.monotonic() + (self.rng.uniform(1.0, 3.0) if burst else 0)
        total = 0
        while True:
            total += self.terminate_backends()
            if time.monotonic() >= until:
                break
            time.sleep(0.05)
        self.events["pg_terminate_burst" if burst else "pg_terminate"] += 1
        self.events["pg_backends_terminated"] += total
        self.note("pg_terminate", f"{total} backend(s){' in a burst' if burst else ''}")

    def terminate_backends(self) -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name LIKE %s",
                [self.args.db, f"{APP_NAME}-scheduler-%"],
            )
            (count,) = cursor.fetchone()
        return int(count)

    def sample(self, bound: float) -> None:
        """Running runs whose heartbeat is older than the reconcile bound, right now."""
        from django_togo_scheduler.models import Run

        cutoff = utc(time.time() - bound)
        self.stale_seen.update(
            Run.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list(
                "pk", flat=True
            )
        )

    def cleanup(self) -> None:
        if self.armed:
            Path(self.armed.path).unlink(missing_ok=True)
        for slot in self.all_slots():
            if slot.alive and slot.popen:
                slot.popen.kill()
                slot.popen.wait(timeout=10)
        for pid in processes_with(self.token):
            kill(pid)
        self.redis.kill()


# --- setting up -----------------------------------------------------------------


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(
        dbname="postgres",
        user=os.environ.get("PGUSER", "postgres"),
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(
        dbname="postgres",
        user=os.environ.get("PGUSER", "postgres"),
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def services_missing() -> str | None:
    """Why the harness cannot run here (None when it can)."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    try:
        import psycopg

        with psycopg.connect(
            dbname="postgres",
            user=os.environ.get("PGUSER", "postgres"),
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=os.environ.get("PGPORT", "5432"),
            connect_timeout=5,
        ):
            pass
    except Exception as exc:  # ImportError, OperationalError
        return f"PostgreSQL is unreachable: {exc}".strip()
    return None


def setup_django(args: argparse.Namespace, redis_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "TOGO_CHAOS_DB": args.db,
            "TOGO_CHAOS_REDIS_URL": redis_url,
            "TOGO_CHAOS_STALE_AFTER": str(args.stale_after),
            "TOGO_CHAOS_ROLE": f"{APP_NAME}-harness",
        }
    )
    os.environ.pop("TOGO_CHAOS_TRIGGER", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- the run ----------------------------------------------------------------------


def run(args: argparse.Namespace, redis: RedisServer) -> dict[str, Any]:
    from django_togo_scheduler.conf import app_settings
    from django_togo_scheduler.dispatch.rq import LOST_CHECK_EVERY, MAX_DISPATCHES

    workdir = args.workdir
    harness = Harness(
        args=args,
        workdir=workdir,
        redis=redis,
        token=f"chaos-{os.getpid()}-{time.time_ns()}",
        rng=random.Random(args.seed),
    )
    stale_after = app_settings.STALE_AFTER
    lost_check = LOST_CHECK_EVERY.total_seconds()
    # A dead worker's run is failed within STALE_AFTER + 5 s of the death: API.md's
    # "within 30 seconds" for the default 25 s, scaled to this run's STALE_AFTER.
    dead_bound = stale_after + 5.0
    # A queued run is executed, or failed as lost, within this many seconds of
    # being recorded: each lost message is noticed within two checks and sent
    # again by the next tick, at most MAX_DISPATCHES times.
    queue_bound = MAX_DISPATCHES * (2 * lost_check + 2.0) + 5.0
    settle = stale_after + 2 * lost_check + 4.0
    try:
        redis.start()
        for index in range(args.schedulers):
            harness.schedulers.append(Slot("scheduler", index))
        for index in range(args.workers):
            harness.workers.append(Slot("worker", index))
        for slot in harness.all_slots():
            harness.spawn(slot)
        deadline = time.monotonic() + 60
        while not all(s.ready for s in harness.all_slots()):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "processes did not come up: "
                    + "; ".join(harness.log_tail(s, 5) for s in harness.all_slots())
                )
            harness.supervise()
            time.sleep(0.1)
        ready_at = time.time()
        window_start = ready_at + WARMUP
        chaos_end = window_start + args.duration
        print(
            f"chaos: {args.duration:.0f} s from {utc(window_start).isoformat()}, seed {args.seed}, "
            f"workdir {workdir}",
            flush=True,
        )
        next_event = window_start + harness.rng.expovariate(1 / args.mean_gap)
        last_sample = 0.0
        while time.time() < chaos_end:
            harness.supervise()
            now = time.time()
            if now >= next_event and harness.act():
                next_event = now + harness.rng.expovariate(1 / args.mean_gap)
            if now - last_sample >= 1.0:
                harness.sample(dead_bound + 1.0)
                last_sample = now
            time.sleep(0.05)
        # No more chaos; an armed window is disarmed by the next supervise.
        if harness.armed:
            harness.armed.deadline = 0
        settle_start = time.time()
        settle_end = settle_start + settle
        while time.time() < settle_end or not all(s.ready for s in harness.all_slots()):
            harness.supervise()
            if time.time() - last_sample >= 1.0:
                harness.sample(dead_bound + 1.0)
                last_sample = time.time()
            time.sleep(0.1)
            if time.time() > settle_end + 60:
                break
        settle_end = time.time()
        snapshot = in_flight_snapshot(settle_start)
        stuck = describe_runs(
            redis.url, sorted({*snapshot["queued"], *snapshot["running"]})[:20]
        )
        exits = stop_all(harness)
        figures = analyse(
            harness,
            window=(window_start, chaos_end),
            settle=(settle_start, settle_end),
            snapshot=snapshot,
            dead_bound=dead_bound,
            queue_bound=queue_bound,
        )
        figures["exit_codes"] = exits
        # A scheduler must survive everything the chaos does to its database,
        # Redis and workers, and exit 0 on SIGTERM.
        figures["scheduler_crashes"] = sum(
            1 for line in harness.unexpected if line.startswith("scheduler")
        ) + sum(1 for code in exits["scheduler"] if code != 0)
        figures["details"]["in_flight_at_settle_end"] = stuck
        figures["settings"] = {
            "seconds": args.duration,
            "seed": args.seed,
            "mean_gap": args.mean_gap,
            "events": ",".join(args.events),
            "schedulers": args.schedulers,
            "workers": args.workers,
            "stale_after": stale_after,
            "lost_check_every": lost_check,
            "dead_worker_bound": dead_bound,
            "queued_bound": queue_bound,
            "settle": round(settle_end - settle_start, 1),
            "workdir": str(workdir),
        }
        return figures
    finally:
        harness.cleanup()


def in_flight_snapshot(before: float) -> dict[str, list[int]]:
    """Runs recorded before ``before`` that are still queued or running now."""
    from django_togo_scheduler.models import Run

    old = Run.objects.filter(created_at__lt=utc(before))
    return {
        "queued": sorted(old.filter(status="queued").values_list("pk", flat=True)),
        "running": sorted(old.filter(status="running").values_list("pk", flat=True)),
    }


def describe_runs(redis_url: str, pks: list[int]) -> list[str]:
    """The ledger's and RQ's view of some runs, for the report."""
    from django.utils import timezone
    from redis import Redis
    from redis.exceptions import RedisError

    from django_togo_scheduler.dispatch.rq import job_id
    from django_togo_scheduler.models import Run

    now = timezone.now()
    lines = []
    client = Redis.from_url(redis_url, socket_timeout=2)
    try:
        for run in Run.objects.filter(pk__in=pks).order_by("pk"):
            rq_id = job_id(run)
            try:
                status = client.hget(f"rq:job:{rq_id}", "status")
                queued = client.lpos("rq:queue:chaos", rq_id) is not None
                taken = client.lpos("rq:queue:chaos:intermediate", rq_id) is not None
                started = any(
                    entry.decode().startswith(f"{rq_id}:")
                    for entry in client.zrange("rq:wip:chaos", 0, -1)
                )
                rq = (
                    f"rq status {status.decode() if status else None}, in queue {queued}, "
                    f"in intermediate queue {taken}, in started registry {started}"
                )
            except RedisError as exc:
                rq = f"rq: {exc}"
            age = (
                (now - run.dispatched_at).total_seconds() if run.dispatched_at else None
            )
            lines.append(
                f"run {run.pk} {run.job} slot {run.scheduled_for.isoformat() if run.scheduled_for else '-'}: "
                f"{run.status}, dispatched {run.dispatch_count}x, last {age and round(age, 1)} s ago, "
                f"worker {run.worker or '-'}; {rq}"
            )
    finally:
        client.close()
    return lines


def stop_all(harness: Harness) -> dict[str, list[int | None]]:
    """SIGTERM the schedulers, then the workers; wait for stray work horses."""
    exits: dict[str, list[int | None]] = {"scheduler": [], "worker": []}
    for role, slots in (("scheduler", harness.schedulers), ("worker", harness.workers)):
        for slot in slots:
            if slot.alive and slot.popen:
                slot.popen.send_signal(signal.SIGTERM)
        for slot in slots:
            if slot.popen is None or slot.life is None or slot.life.ended is not None:
                continue
            try:
                code = slot.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                slot.popen.kill()
                code = None
            slot.life.ended, slot.life.how = time.time(), f"sigterm -> {code}"
            exits[role].append(code)
    deadline = time.monotonic() + 15  # horses of killed workers finish their job
    while processes_with(harness.token) and time.monotonic() < deadline:
        time.sleep(0.2)
    return exits


# --- the figures ------------------------------------------------------------------


def read_side_effects(path: Path) -> list[tuple[str, int, str, int]]:
    lines = []
    if path.exists():
        for line in path.read_text().splitlines():
            job, run_id, slot, pid = line.split()
            lines.append((job, int(run_id), slot, int(pid)))
    return lines


def expected_slots(window: tuple[float, float]) -> set[tuple[str, float]]:
    from django_togo_scheduler.conf import app_settings
    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.specs import get_timezone, parse_spec

    slots = set()
    start, end = utc(window[0]), utc(window[1])
    for job in ScheduledJob.objects.all():
        tz = get_timezone(job.timezone or app_settings.TIMEZONE)
        for at in parse_spec(job.spec).iter_after(
            start - timedelta(microseconds=1), tz
        ):
            if at > end:
                break
            slots.add((job.name, at.timestamp()))
    return slots


def alive_intervals(harness: Harness) -> list[tuple[float, float]]:
    """When each scheduler process was ticking: first tick to death."""
    from django_togo_scheduler.models import SchedulerProcess

    first_tick = {
        pid: started.timestamp()
        for pid, started in SchedulerProcess.objects.values_list("pid", "started_at")
    }
    intervals = []
    for life in harness.lives:
        if life.role == "scheduler" and life.pid in first_tick:
            intervals.append((first_tick[life.pid], life.ended or time.time()))
    return intervals


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def analyse(
    harness: Harness,
    *,
    window: tuple[float, float],
    settle: tuple[float, float],
    snapshot: dict[str, list[int]],
    dead_bound: float,
    queue_bound: float,
) -> dict[str, Any]:
    from django_togo_scheduler.models import Run

    runs = {
        r["pk"]: r
        for r in Run.objects.values(
            "pk",
            "job",
            "status",
            "scheduled_for",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "worker",
            "dispatch_count",
        )
    }
    effects = read_side_effects(harness.side_effects)
    executions = Counter(run_id for _job, run_id, _slot, _pid in effects)

    # Slots: expected in the window, fired (a Run exists), twice.
    expected = expected_slots(window)
    ledger = Counter(
        (r["job"], r["scheduled_for"].timestamp())
        for r in runs.values()
        if r["scheduled_for"]
    )
    fired = {key for key in expected if key in ledger}
    slot_runs: dict[tuple[str, str], set[int]] = defaultdict(set)
    for job, run_id, slot, _pid in effects:
        slot_runs[(job, slot)].add(run_id)
    duplicate_slots = sum(n - 1 for n in ledger.values() if n > 1) + sum(
        len(ids) - 1
        for (_job, slot), ids in slot_runs.items()
        if slot != "-" and len(ids) > 1
    )
    intervals = alive_intervals(harness)
    gaps = sorted(
        (job, at)
        for job, at in expected - fired
        if any(start <= at and at + 1.0 <= end for start, end in intervals)
    )
    missed_dead = len(expected - fired) - len(gaps)

    # Executions: twice, of a run that never started, or none for a done run.
    duplicate_executions = sum(n - 1 for n in executions.values() if n > 1)
    unstarted = sorted(
        run_id
        for job, run_id, slot, _pid in effects
        if run_id not in runs
        or runs[run_id]["started_at"] is None
        or runs[run_id]["job"] != job
        or (
            runs[run_id]["scheduled_for"]
            and runs[run_id]["scheduled_for"].isoformat() != slot
        )
    )
    done_silent = sorted(
        pk for pk, r in runs.items() if r["status"] == "done" and pk not in executions
    )
    lost = sorted(set(snapshot["queued"]) | set(done_silent))

    # Dead workers: how long the scheduler took to fail their runs. A "worker
    # died" verdict is right only for a run whose process the harness killed
    # before the verdict; any other was a live run failed (its result then
    # discarded).
    latencies: list[float] = []
    late: list[int] = []
    live_failed: list[int] = []
    for pk, r in runs.items():
        if r["status"] != "failed" or not r["error"].startswith("worker died"):
            continue
        pid = int(r["worker"].rsplit(":", 1)[1]) if ":" in r["worker"] else 0
        killed_at = harness.killed_pids.get(pid)
        if killed_at is None or killed_at > r["finished_at"].timestamp():
            live_failed.append(pk)
            continue
        latency = r["finished_at"].timestamp() - max(
            killed_at, r["started_at"].timestamp()
        )
        latencies.append(latency)
        if latency > dead_bound:
            late.append(pk)
    waits = []
    queued_too_long = []
    for pk, r in runs.items():
        if r["status"] == "skipped":
            continue
        end = r["started_at"] or (r["finished_at"] if r["status"] == "failed" else None)
        wait = (end.timestamp() if end else settle[1]) - r["created_at"].timestamp()
        if end is not None:
            waits.append(wait)
        if wait > queue_bound and pk not in snapshot["queued"]:
            queued_too_long.append(pk)
    past_bound = sorted(
        (
            set(snapshot["running"])
            | set(late)
            | set(queued_too_long)
            | harness.stale_seen
        )
        - set(lost)
    )

    statuses = Counter(r["status"] for r in runs.values())
    failed_reasons = Counter(
        "worker died"
        if r["error"].startswith("worker died")
        else "queue message lost"
        if "queue message lost" in r["error"]
        else "other"
        for r in runs.values()
        if r["status"] == "failed"
    )
    window_runs: dict[str, list[int]] = {"enqueue": [], "dequeue": [], "start": []}
    if harness.hits.exists():
        for line in harness.hits.read_text().splitlines():
            kind, _pid, _at, detail = (line.split(" ", 3) + [""])[:4]
            if kind == "enqueue":
                window_runs[kind] += [int(pk) for pk in detail.split(",") if pk]
            elif kind in ("dequeue", "start"):
                # the detail starts with the RQ job id "<pk>-<dispatch>" or the run id
                window_runs[kind].append(int(detail.split()[0].split("-")[0]))
    window_outcomes = {
        kind: dict(Counter(_window_outcome(runs.get(pk)) for pk in pks))
        for kind, pks in window_runs.items()
    }
    logs = scan_logs(harness.workdir / "logs")
    # A slot that two schedulers claimed: the second insert hit the unique
    # constraint on (job, scheduled_for), which logged it. Only the constraint
    # kept it from firing twice; the claim (the locked read) should have.
    saved_by_constraint = sum(
        count for name, count in logs.items() if name.endswith(".already_recorded")
    )

    return {
        "slots_expected": len(expected),
        "slots_fired": len(fired),
        "duplicate_slots": duplicate_slots,
        "slots_saved_by_the_constraint": saved_by_constraint,
        "duplicate_executions": duplicate_executions,
        "executions_of_unstarted_runs": len(unstarted),
        "recorded_runs_lost": len(lost),
        "live_runs_failed_as_dead": len(live_failed),
        "in_flight_past_bound": len(past_bound),
        "gaps_while_scheduler_alive": len(gaps),
        "details": {
            "slots_missed_while_no_scheduler_alive": missed_dead,
            "gaps": [f"{job}@{utc(at).isoformat()}" for job, at in gaps[:20]],
            "lost_runs": lost[:50],
            "past_bound_runs": past_bound[:50],
            "unstarted_runs_executed": unstarted[:50],
            "runs": len(runs),
            "runs_by_status": dict(statuses),
            "failed_by_reason": dict(failed_reasons),
            "executions": len(effects),
            "dead_worker_runs_failed": len(latencies),
            "dead_worker_latency_max_s": round(max(latencies), 2)
            if latencies
            else None,
            "dead_worker_latency_median_s": round(statistics.median(latencies), 2)
            if latencies
            else None,
            "live_runs_failed_as_dead": live_failed[:50],
            "queue_wait_p50_s": round(percentile(waits, 0.5), 3),
            "queue_wait_p99_s": round(percentile(waits, 0.99), 3),
            "queue_wait_max_s": round(max(waits), 3) if waits else None,
            "runs_redispatched": sum(
                1 for r in runs.values() if r["dispatch_count"] > 1
            ),
            "window_runs_by_status": window_outcomes,
            # a run caught between commit and enqueue has a dispatch that never
            # reached Redis: it runs only if a scheduler dispatches it again
            "window_enqueue_runs_dispatched_again": sum(
                1
                for pk in window_runs["enqueue"]
                if pk in runs and runs[pk]["dispatch_count"] >= 2
            ),
            # ... or a newer slot of its job superseded it in the outbox first
            "window_enqueue_runs_found_again": sum(
                1
                for pk in window_runs["enqueue"]
                if pk in runs
                and (
                    runs[pk]["dispatch_count"] >= 2
                    or _window_outcome(runs[pk]) == "superseded"
                )
            ),
            "window_enqueue_runs": len(window_runs["enqueue"]),
            "worker_window_runs": {
                "dequeue": window_runs["dequeue"][:50],
                "start": window_runs["start"][:50],
            },
            "unexpected_exits": harness.unexpected,
            "log_lines": logs,
        },
        "events": dict(sorted(harness.events.items())),
    }


def _window_outcome(run: dict[str, Any] | None) -> str:
    """A window run's status; "superseded" for one a newer slot of its job
    replaced while it waited in the outbox (put back by the lost-message check)."""
    if run is None:
        return "missing"
    if run["status"] == "skipped" and run["error"].startswith("superseded"):
        return "superseded"
    return str(run["status"])


def scan_logs(logs: Path) -> dict[str, int]:
    """Counts of notable lines in the processes' logs, by role (``scheduler.*``).

    ``already_recorded`` (a slot the unique constraint turned away) feeds the
    figure ``slots_saved_by_the_constraint``; the others are details. The
    ``worker_died_failed`` lines are every "worker died" verdict, right or
    wrong: the figure ``live_runs_failed_as_dead`` tells them apart from the
    ledger and the harness's kills.
    """
    marks = {
        "already_recorded": "was already recorded",
        "tracebacks": "Traceback (most recent call last)",
        "tick_db_errors": "Tick failed",
        "queue_unreachable": "unreachable",
        "message_lost_redispatched": "its queue message is gone",
        "worker_died_failed": "worker died",
        "result_discarded": "result discarded",
    }
    counts: Counter[str] = Counter()
    for path in sorted(logs.glob("*.log")):
        role = path.stem.split("-")[0]
        for line in path.read_text(errors="replace").splitlines():
            for name, mark in marks.items():
                if mark in line:
                    counts[f"{role}.{name}"] += 1
    return dict(sorted(counts.items()))


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
    recreate_database(args.db)
    redis = RedisServer(args.workdir)
    try:
        setup_django(args, redis.url)
        figures = run(args, redis)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(args.db)
    return report(figures)


if __name__ == "__main__":
    sys.exit(main())
