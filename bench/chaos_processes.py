"""bench/chaos.py's processes: the schedulers and workers, started, watched, restarted.

Each scheduler or worker position is a :class:`Slot`, filled by successive
processes (a :class:`Life` each); every process runs ``python -m django`` with
bench/chaos_settings.py and the environment that tells it its role, and logs to
``<workdir>/logs/<role>-<index>.log``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness.procs import kill, processes_with, start, terminate, wait_or_kill
from bench.harness.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "bench.chaos_settings"
APP_NAME = "togo-chaos"  # application_name prefix of every connection of a run
WORKER_BOOT = 5.0  # a worker counts as up this long after its start at the latest


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


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
    popen: Any = None  # subprocess.Popen[bytes]
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
class Processes:
    """Every process of a run, and what became of each."""

    args: argparse.Namespace
    workdir: Path
    redis: RedisServer
    token: str
    rng: random.Random
    schedulers: list[Slot] = field(default_factory=list)
    workers: list[Slot] = field(default_factory=list)
    lives: list[Life] = field(default_factory=list)
    killed_pids: dict[int, float] = field(default_factory=dict)  # pid -> kill time
    unexpected: list[str] = field(default_factory=list)

    # --- paths and environment

    @property
    def side_effects(self) -> Path:
        return self.workdir / "side_effects.log"

    @property
    def hits(self) -> Path:
        return self.workdir / "hits.log"

    def env(self, slot: Slot) -> dict[str, str]:
        return {
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
            "TOGO_CHAOS_TRIGGER": slot.trigger,
        }

    def note(self, kind: str, detail: str = "") -> None:
        with open(self.workdir / "events.log", "a") as log:
            log.write(f"{utc(time.time()).isoformat()} {kind} {detail}\n")

    def log_tail(self, slot: Slot, lines: int = 3) -> str:
        path = self.workdir / "logs" / f"{slot.name}.log"
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def all_slots(self) -> list[Slot]:
        return [*self.schedulers, *self.workers]

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
        slot.popen = start(
            [sys.executable, "-m", "django", *command, f"--settings={SETTINGS}"],
            cwd=ROOT,
            env=self.env(slot),
            log=self.workdir / "logs" / f"{slot.name}.log",
            header=f"=== generation {slot.generation} at {utc(time.time()).isoformat()}\n",
            orphaned=True,
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

    def supervise(self) -> None:
        """Notice exits, restart what is due, mark processes up."""
        for slot in self.all_slots():
            if slot.popen is not None and slot.life and slot.life.ended is None:
                code = slot.popen.poll()
                if code is not None:
                    self.exited(slot, code)
            if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                self.spawn(slot)
        self.mark_ready()

    def exited(self, slot: Slot, code: int) -> None:
        """A process died that the harness did not kill: noted, restarted in 1 s."""
        tail = self.log_tail(slot)
        self.unexpected.append(
            f"{slot.name} pid {slot.popen.pid} exited {code}: {tail}"
        )
        self.note("unexpected_exit", f"{slot.name} {code}")
        self.ended(slot, f"exit {code}")
        slot.restart_at = time.monotonic() + 1.0

    def mark_ready(self) -> None:
        """A scheduler is up once it has a heartbeat row; a worker once registered."""
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

    def stop_all(self) -> dict[str, list[int | None]]:
        """SIGTERM the schedulers, then the workers; wait for stray work horses."""
        exits: dict[str, list[int | None]] = {"scheduler": [], "worker": []}
        for role, slots in (("scheduler", self.schedulers), ("worker", self.workers)):
            terminate(slot.popen for slot in slots if slot.alive)
            for slot in slots:
                if (
                    slot.popen is None
                    or slot.life is None
                    or slot.life.ended is not None
                ):
                    continue
                code = wait_or_kill(slot.popen, 60)
                slot.life.ended, slot.life.how = time.time(), f"sigterm -> {code}"
                exits[role].append(code)
        deadline = time.monotonic() + 15  # horses of killed workers finish their job
        while processes_with(self.token) and time.monotonic() < deadline:
            time.sleep(0.2)
        return exits

    def cleanup(self) -> None:
        """Kill whatever of this run is still alive, Redis too."""
        for slot in self.all_slots():
            if slot.alive and slot.popen:
                slot.popen.kill()
                slot.popen.wait(timeout=10)
        for pid in processes_with(self.token):
            kill(pid)
        self.redis.kill()
