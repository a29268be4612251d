"""Real processes through 30-second outages of Redis and of the database.

``runscheduler`` and ``rqworker --worker-class django_togo_scheduler.worker.Worker``
run against a private redis-server (restarted empty, as a Redis without
persistence comes back) and the test database. They must keep running, log the
outage a bounded number of times, use little CPU meanwhile, recover by
themselves, lose no recorded run, and still stop promptly on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker as RQWorker

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import parse_spec
from tests.procs import ROOT, running_redis, subprocess_env, wait_until

from .test_outages import database_outage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OUTAGE = 30  # seconds, as the issue names
SECOND = timedelta(seconds=1)
WORKER_CLASS = "django_togo_scheduler.worker.Worker"
# A process that spins would burn about OUTAGE seconds of CPU; these allow for
# a slow, shared machine while catching that.
SCHEDULER_CPU = 4.0  # seconds of CPU during the outage (it ticks every second)
WORKER_CPU = 1.0  # seconds


class Proc:
    """A ``python -m django`` child whose output goes to a file."""

    def __init__(self, log: Path, *args: str, env: dict[str, str]) -> None:
        self.log = log
        self._out = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "django", *args, "--settings=tests.settings"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu(self) -> float:
        """User + system CPU seconds of the process itself (not its children)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def text(self) -> str:
        return self.log.read_text()

    def mark(self) -> int:
        """A position in the log; ``since(mark)`` is what was written after it."""
        return len(self.text())

    def since(self, mark: int) -> str:
        return self.text()[mark:]

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the exit took."""
        started = time.monotonic()
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        finally:
            if self.alive():
                self.popen.kill()
                self.popen.wait()
            self._out.close()
        return self.popen.returncode, time.monotonic() - started


@pytest.fixture
def redis_server():
    with running_redis() as server:
        yield server


@pytest.fixture
def procs():
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.alive():
            proc.popen.kill()
            proc.popen.wait()


def rq_env(tmp_path, redis_server, **extra):
    return subprocess_env(
        tmp_path / "effects.log",
        TOGO_TEST_REDIS_URL=redis_server.url,
        TOGO_TEST_QUEUE="togo",
        **extra,
    )


def start(procs, tmp_path, name, *args, env):
    proc = Proc(tmp_path / f"{name}.log", *args, env=env)
    procs.append(proc)
    return proc


def rq_worker(procs, tmp_path, name, env):
    return start(
        procs,
        tmp_path,
        name,
        "rqworker",
        "--worker-class",
        WORKER_CLASS,
        "--name",
        name,
        "togo",
        env=env,
    )


def listening(worker):
    return "Listening on" in worker.text()


def dequeued_runs(log_text):
    """Run ids a worker took, from RQ's "togo: <description> (<job id>)" lines."""
    return [
        int(pk)
        for pk in re.findall(r"togo: \S+ \(run \d+\) \(togo-run-(\d+)-", log_text)
    ]


def slot_steps(job, step):
    slots = list(
        Run.objects.filter(job=job, scheduled_for__isnull=False)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )
    return [b - a for a, b in zip(slots, slots[1:], strict=False)], slots


def assert_no_gap(job, step):
    steps, slots = slot_steps(job, step)
    assert steps == [step] * len(steps), f"{job}: slots {slots}"
    return slots


def test_redis_outage__workers_and_scheduler_ride_it_out(tmp_path, redis_server, procs):
    env = rq_env(tmp_path, redis_server, TOGO_TEST_SLOW_SECONDS=str(OUTAGE + 16))
    # The long run, recorded before anything runs: the first worker takes it.
    slow = Run.objects.create(job="testapp.slow", trigger="manual", queue="togo")
    busy = rq_worker(procs, tmp_path, "togo-busy", env)
    assert wait_until(lambda: listening(busy))
    scheduler = start(procs, tmp_path, "scheduler", "runscheduler", env=env)
    assert wait_until(lambda: Run.objects.get(pk=slow.pk).status == "running")
    idle = rq_worker(procs, tmp_path, "togo-idle", env)
    leaving = rq_worker(procs, tmp_path, "togo-leaving", env)
    assert wait_until(lambda: listening(idle) and listening(leaving))
    first = parse_spec("@every 1s").next_after(clock.now() + SECOND, None)
    ScheduledJob.objects.create(
        name="testapp.tick0", spec="@every 1s", next_run_at=first
    )
    assert wait_until(
        lambda: Run.objects.filter(job="testapp.tick0", status="done").count() >= 2
    )
    # A run handed out whose message was in Redis when it died.
    lost = Run.objects.create(
        job="testapp.tick1",
        trigger="manual",
        queue="togo",
        dispatched_at=clock.now(),
        dispatch_count=1,
    )
    marks = {proc: proc.mark() for proc in procs}
    cpu = {proc: proc.cpu() for proc in procs}

    redis_server.stop()
    down_at = clock.now()
    time.sleep(OUTAGE * 2 / 3)
    # SIGTERM during the outage: an idle worker exits at once, and cleanly.
    status, took = leaving.stop()
    assert (status, took < 3) == (0, True), leaving.text()
    time.sleep(OUTAGE / 3)
    alive = {proc.log.stem: proc.alive() for proc in (busy, idle, scheduler)}
    used = {proc.log.stem: proc.cpu() - cpu[proc] for proc in (busy, idle, scheduler)}
    during = {
        proc.log.stem: proc.since(marks[proc]) for proc in (busy, idle, scheduler)
    }
    # The scheduler kept recording slots, into the outbox.
    outbox = Run.objects.filter(
        job="testapp.tick0", status="queued", dispatched_at__isnull=True
    )
    assert outbox.exists()
    redis_server.start()
    up_at = clock.now()

    assert alive == {"togo-busy": True, "togo-idle": True, "scheduler": True}
    assert used["togo-busy"] < WORKER_CPU and used["togo-idle"] < WORKER_CPU, used
    assert used["scheduler"] < SCHEDULER_CPU, used
    for name in ("togo-busy", "togo-idle"):
        assert during[name].count("Redis unreachable while") == 1, during[name]
        assert len(during[name].splitlines()) <= 6, during[name]
    assert "the work horse goes on" in during["togo-busy"]
    assert during["scheduler"].count("Queue 'togo' unreachable") == 1
    assert len(during["scheduler"].splitlines()) <= 3, during["scheduler"]

    # After: the run that spanned the outage ends done, the lost message is sent
    # again, the outbox is dispatched, and both workers take new runs.
    assert wait_until(lambda: Run.objects.get(pk=slow.pk).status == "done", timeout=60)
    assert wait_until(lambda: Run.objects.get(pk=lost.pk).status == "done", timeout=30)
    assert wait_until(lambda: not outbox.filter(created_at__lt=up_at).exists())

    def both_took_new_runs():
        return all(dequeued_runs(w.since(marks[w])) for w in (busy, idle))

    assert wait_until(both_took_new_runs, timeout=30)
    for worker in (busy, idle):
        assert "Redis reachable again after" in worker.text()
    assert "Queue 'togo' reachable again" in scheduler.text()
    client = Redis.from_url(redis_server.url)
    names = {w.name for w in RQWorker.all(connection=client)}
    assert names == {"togo-busy", "togo-idle"}  # registered again in the new Redis

    status, _ = scheduler.stop()
    assert status == 0, scheduler.text()
    in_flight = Run.objects.filter(status__in=["queued", "running"])
    assert wait_until(lambda: not in_flight.exists(), timeout=30), list(
        in_flight.values()
    )
    for worker in (busy, idle):
        status, _ = worker.stop()
        assert status == 0, worker.text()

    ran = Run.objects.get(pk=slow.pk)
    assert ran.started_at < down_at and ran.finished_at > up_at
    assert Run.objects.get(pk=lost.pk).dispatch_count == 2
    assert_no_gap("testapp.tick0", SECOND)
    assert Counter(Run.objects.values_list("status", flat=True)).keys() <= {
        "done",
        "skipped",
    }
    effects = (tmp_path / "effects.log").read_text().splitlines()
    done = Run.objects.filter(status="done").count()
    assert len(effects) == done  # every done run executed, once


@pytest.mark.postgres_only
def test_database_outage__scheduler_and_worker_ride_it_out(
    tmp_path, redis_server, procs
):
    env = rq_env(tmp_path, redis_server)
    first = parse_spec("@every 5s").next_after(clock.now() + SECOND, None)
    policies = {
        "testapp.tick0": "latest",
        "testapp.tick1": "none",
        "testapp.tick2": "all",
    }
    for name, policy in policies.items():
        ScheduledJob.objects.create(
            name=name, spec="@every 5s", next_run_at=first, catchup=policy
        )
    worker = rq_worker(procs, tmp_path, "togo-worker", env)
    survivor = start(procs, tmp_path, "survivor", "runscheduler", env=env)
    leaving = start(procs, tmp_path, "leaving", "runscheduler", env=env)
    assert wait_until(
        lambda: Run.objects.filter(status="done").count() >= 2 * len(policies),
        timeout=30,
    )
    marks = {proc: proc.mark() for proc in procs}
    cpu = {proc: proc.cpu() for proc in procs}

    with database_outage():
        down_at = clock.now()
        time.sleep(OUTAGE / 2)
        # SIGTERM during the outage: the scheduler backing off exits at once.
        status, took = leaving.stop()
        assert (status, took < 5) == (0, True), leaving.text()
        time.sleep(OUTAGE / 2)
        alive = {proc.log.stem: proc.alive() for proc in (worker, survivor)}
        used = {proc.log.stem: proc.cpu() - cpu[proc] for proc in (worker, survivor)}
    up_at = clock.now()

    assert alive == {"togo-worker": True, "survivor": True}
    assert used["togo-worker"] < WORKER_CPU and used["survivor"] < SCHEDULER_CPU, used
    during = survivor.since(marks[survivor])
    assert during.count("Tick failed: the database is unreachable") == 1, during
    assert during.count("Database still unreachable") <= 5, during  # 1, 2, 4, 8, 16 s

    # The survivor comes back by itself (its back-off reaches 16 s). The outage
    # was downtime (no tick): the slots older than MISFIRE_GRACE (10 s) at its
    # first tick were missed, and each policy decides.
    assert wait_until(
        lambda: "Database reachable again after" in survivor.text(), timeout=45
    )
    late = up_at + 6 * SECOND
    assert wait_until(
        lambda: all(
            Run.objects.filter(job=name, scheduled_for__gt=late, status="done").exists()
            for name in policies
        ),
        timeout=45,
    )
    status, _ = survivor.stop()
    assert status == 0, survivor.text()
    in_flight = Run.objects.filter(status__in=["queued", "running"])
    assert wait_until(lambda: not in_flight.exists(), timeout=30), list(
        in_flight.values()
    )
    status, _ = worker.stop()
    assert status == 0, worker.text()

    # The survivor's first tick after the outage recorded the first runs since.
    back = min(
        Run.objects.filter(created_at__gt=down_at).values_list("created_at", flat=True)
    )
    grace = 10 * SECOND
    outage_runs = {}
    for name, policy in policies.items():
        outage_runs[policy] = list(
            Run.objects.filter(job=name, scheduled_for__gt=down_at, created_at__lt=back + SECOND)
            .order_by("scheduled_for")
            .values_list("scheduled_for", "status", "trigger")
        )  # fmt: skip
    # "all" replays every slot of the outage, in order.
    slots = assert_no_gap("testapp.tick2", 5 * SECOND)
    replayed = outage_runs["all"]
    assert len(replayed) >= OUTAGE // 5 - 1
    assert [status for _, status, _ in replayed] == ["done"] * len(replayed)
    outage = [at for at in slots if down_at < at <= back]
    assert [at for at, _, _ in replayed] == outage
    # "latest" and "none" recorded only the slots still on time at that tick
    # (the first runs, the others are skipped: their job is in flight); the
    # older ones were missed (a second either side of the grace left out).
    for policy in ("latest", "none"):
        recorded = [at for at, _, _ in outage_runs[policy]]
        assert not [at for at in recorded if at < back - grace - SECOND], policy
        on_time = [at for at in outage if at > back - grace + SECOND]
        assert set(on_time) <= set(recorded), (policy, on_time, recorded)
        assert len(recorded) < len(outage) - 2, (policy, recorded, outage)
        statuses = [status for _, status, _ in outage_runs[policy]]
        assert statuses[0] == "done" and set(statuses[1:]) <= {"skipped"}
    assert set(Run.objects.values_list("status", flat=True)) <= {"done", "skipped"}
    effects = (tmp_path / "effects.log").read_text().splitlines()
    assert len(effects) == Run.objects.filter(status="done").count()


@pytest.mark.parametrize(
    ("worker_class", "survives"),
    [("tests.rq_workers.QuickRQWorker", False), ("tests.rq_workers.QuickWorker", True)],
)
def test_redis_outage__rq_worker_exits_watching_a_horse_ours_does_not(
    tmp_path, redis_server, procs, settings, worker_class, survives
):
    from django_togo_scheduler.dispatch.rq import RQDispatcher

    settings.RQ_QUEUES = {"togo": {"URL": redis_server.url}}
    env = rq_env(tmp_path, redis_server, TOGO_TEST_SLOW_SECONDS="5")
    worker = start(
        procs,
        tmp_path,
        "worker",
        "rqworker",
        "--worker-class",
        worker_class,
        "togo",
        env=env,
    )
    run = Run.objects.create(job="testapp.slow", trigger="manual", queue="togo")
    RQDispatcher().dispatch([run])
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "running")
    redis_server.stop()
    # The worker's next heartbeat (1 s here, 30 s by default) meets the outage.
    exited = wait_until(lambda: not worker.alive(), timeout=4)
    # Either way the work horse finishes the run.
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "done")
    redis_server.start()
    assert exited is not survives, worker.text()
    status, _ = worker.stop()
    if survives:
        assert status == 0, worker.text()
    else:  # RQ's behaviour: the ConnectionError ends the work loop
        assert "found an unhandled exception, quitting" in worker.text()
