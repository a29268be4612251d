"""bench/chaos.py's run: processes up, chaos for the duration, settle, stop, figures.

The bounds a run is held to follow from its settings: a dead worker's run is
failed within ``STALE_AFTER`` + 5 s (API.md's "within 30 seconds" for the
default 25 s, scaled), a queued run is executed or failed as lost within
``MAX_DISPATCHES`` lost-message rounds, and the settle lasts longer than
``STALE_AFTER`` plus two lost-message checks.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from bench.chaos_events import Harness
from bench.chaos_figures import analyse
from bench.chaos_processes import Slot, utc
from bench.harness.redis_server import RedisServer

WARMUP = 3.0  # seconds between "every process is up" and the start of the window


@dataclass
class Bounds:
    """What a run is held to, in seconds."""

    stale_after: float
    lost_check: float
    dead: float  # a dead worker's run failed within this long of the death
    queued: float  # a queued run executed, or failed as lost, within this long
    settle: float  # how long the processes stay up after the chaos

    @classmethod
    def of_settings(cls) -> Bounds:
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.dispatch.rq import LOST_CHECK_EVERY, MAX_DISPATCHES

        stale_after = app_settings.STALE_AFTER
        lost_check = LOST_CHECK_EVERY.total_seconds()
        return cls(
            stale_after=stale_after,
            lost_check=lost_check,
            dead=stale_after + 5.0,
            # each lost message is noticed within two checks and sent again by
            # the next tick, at most MAX_DISPATCHES times
            queued=MAX_DISPATCHES * (2 * lost_check + 2.0) + 5.0,
            settle=stale_after + 2 * lost_check + 4.0,
        )


def run(args: argparse.Namespace, redis: RedisServer) -> dict[str, Any]:
    harness = Harness(
        args=args,
        workdir=args.workdir,
        redis=redis,
        token=f"chaos-{os.getpid()}-{time.time_ns()}",
        rng=random.Random(args.seed),
    )
    bounds = Bounds.of_settings()
    try:
        redis.start()
        start_processes(harness)
        window_start = time.time() + WARMUP
        chaos_end = window_start + args.duration
        print(
            f"chaos: {args.duration:.0f} s from {utc(window_start).isoformat()}, seed {args.seed}, "
            f"workdir {args.workdir}",
            flush=True,
        )
        last_sample = chaos(harness, window_start, chaos_end, bounds)
        settle = settle_down(harness, bounds, last_sample)
        snapshot = in_flight_snapshot(settle[0])
        stuck = describe_runs(
            redis.url, sorted({*snapshot["queued"], *snapshot["running"]})[:20]
        )
        exits = harness.stop_all()
        figures = analyse(
            harness,
            window=(window_start, chaos_end),
            settle=settle,
            snapshot=snapshot,
            dead_bound=bounds.dead,
            queue_bound=bounds.queued,
        )
        complete(figures, harness, exits, stuck)
        figures["settings"] = run_settings(args, bounds, settle)
        return figures
    finally:
        harness.cleanup()


def start_processes(harness: Harness) -> None:
    """Every scheduler and worker started, and up (60 s at most)."""
    args = harness.args
    harness.schedulers.extend(Slot("scheduler", i) for i in range(args.schedulers))
    harness.workers.extend(Slot("worker", i) for i in range(args.workers))
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


def chaos(harness: Harness, start: float, end: float, bounds: Bounds) -> float:
    """Chaos events at random moments from ``start`` to ``end``; the last sample's time."""
    gap = harness.args.mean_gap
    next_event = start + harness.rng.expovariate(1 / gap)
    last_sample = 0.0
    while time.time() < end:
        harness.supervise()
        now = time.time()
        if now >= next_event and harness.act():
            next_event = now + harness.rng.expovariate(1 / gap)
        if now - last_sample >= 1.0:
            harness.sample(bounds.dead + 1.0)
            last_sample = now
        time.sleep(0.05)
    # No more chaos; an armed window is disarmed by the next supervise.
    if harness.armed:
        harness.armed.deadline = 0
    return last_sample


def settle_down(
    harness: Harness, bounds: Bounds, last_sample: float
) -> tuple[float, float]:
    """Every process up for ``bounds.settle`` seconds (60 more at most); when."""
    settle_start = time.time()
    settle_end = settle_start + bounds.settle
    while time.time() < settle_end or not all(s.ready for s in harness.all_slots()):
        harness.supervise()
        if time.time() - last_sample >= 1.0:
            harness.sample(bounds.dead + 1.0)
            last_sample = time.time()
        time.sleep(0.1)
        if time.time() > settle_end + 60:
            break
    return settle_start, time.time()


def complete(
    figures: dict[str, Any],
    harness: Harness,
    exits: dict[str, list[int | None]],
    stuck: list[str],
) -> None:
    """The figures of the stop: exit codes, scheduler crashes, what was stuck."""
    figures["exit_codes"] = exits
    # A scheduler must survive everything the chaos does to its database,
    # Redis and workers, and exit 0 on SIGTERM.
    figures["scheduler_crashes"] = sum(
        1 for line in harness.unexpected if line.startswith("scheduler")
    ) + sum(1 for code in exits["scheduler"] if code != 0)
    figures["details"]["in_flight_at_settle_end"] = stuck


def run_settings(
    args: argparse.Namespace, bounds: Bounds, settle: tuple[float, float]
) -> dict[str, Any]:
    return {
        "seconds": args.duration,
        "seed": args.seed,
        "mean_gap": args.mean_gap,
        "events": ",".join(args.events),
        "schedulers": args.schedulers,
        "workers": args.workers,
        "stale_after": bounds.stale_after,
        "lost_check_every": bounds.lost_check,
        "dead_worker_bound": bounds.dead,
        "queued_bound": bounds.queued,
        "settle": round(settle[1] - settle[0], 1),
        "workdir": str(args.workdir),
    }


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
