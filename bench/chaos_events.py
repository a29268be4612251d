"""bench/chaos.py's chaos: the events, and the narrow windows a process dies in.

A chaos event acts on the processes of :mod:`bench.chaos_processes` (see the
kinds in bench/chaos.py's docstring). A window is armed by creating the file
``<trigger>.<window>`` that the chaos app (bench/chaos_app) of that one process
watches for; the process records the hit in ``hits.log`` and dies there.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos_processes import APP_NAME, Processes, Slot, utc
from bench.harness.procs import kill, parent_of, processes_with

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


@dataclass
class Armed:
    """A window armed in one process, waiting for it to get there."""

    kind: str
    slot: Slot
    pid: int
    path: str
    deadline: float


@dataclass
class Harness(Processes):
    """The processes of a run, and the chaos done to them."""

    events: Counter[str] = field(default_factory=Counter)
    armed: Armed | None = None
    pending_kinds: list[str] = field(default_factory=list)
    stale_seen: set[int] = field(default_factory=set)
    covered: bool = False

    @property
    def kinds(self) -> list[str]:
        return list(self.args.events)

    def supervise(self) -> None:
        """Settle an armed window, then what :class:`Processes` does."""
        self.check_window()
        super().supervise()

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
        super().cleanup()
