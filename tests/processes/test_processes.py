"""Real ``runscheduler`` processes against the test database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from django_togo_scheduler.specs import parse_spec
from tests.procs import wait_for_other_sessions_to_end

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SECOND = timedelta(seconds=1)


def start_scheduler(
    side_effects: Path, *args: str, **env: str
) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOGO_TEST_DB": "postgres" if connection.vendor == "postgresql" else "sqlite",
        "TOGO_TEST_DB_NAME": connection.settings_dict["NAME"],
        "TOGO_TEST_SIDE_EFFECTS": str(side_effects),
        **env,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "runscheduler",
            "--settings=tests.settings",
            *args,
        ],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(procs):
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        results.append((proc.returncode, out, err))
    return results


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_three_schedulers__every_slot_fires_exactly_once(tmp_path):
    from django_togo_scheduler.models import SchedulerProcess

    side_effects = tmp_path / "effects.log"
    procs = [start_scheduler(side_effects) for _ in range(3)]
    # The slots begin once all three tick: a loaded machine (or coverage in
    # the children) may take seconds to start them.
    assert wait_until(
        lambda: (
            SchedulerProcess.objects.filter(pid__in=[p.pid for p in procs]).count() == 3
        ),
        timeout=60,
    )
    first = parse_spec("@every 1s").next_after(clock.now() + 2 * SECOND, None)
    names = [f"testapp.tick{i}" for i in range(6)]
    for name in names:
        ScheduledJob.objects.create(name=name, spec="@every 1s", next_run_at=first)
    assert wait_until(
        lambda: Run.objects.filter(scheduled_for__gte=first + 5 * SECOND).count() >= 6
    )
    results = stop(procs)

    for code, _out, err in results:
        assert code == 0, err
        assert (
            "already recorded" not in err
        )  # the claim, not the constraint, kept slots apart
        assert "Traceback" not in err, err
    for name in names:
        slots = sorted(
            Run.objects.filter(job=name).values_list("scheduled_for", flat=True)
        )
        assert slots[0] == first
        # no slot twice, no gap while the schedulers ran
        assert [(b - a) for a, b in zip(slots, slots[1:], strict=False)] == [SECOND] * (
            len(slots) - 1
        )
        assert len(slots) >= 6
    done = Run.objects.filter(status="done").count()
    lines = side_effects.read_text().splitlines()
    executed = Counter(" ".join(line.split()[:3]) for line in lines)
    assert len(executed) == len(lines) == done  # every run executed once
    assert not Run.objects.filter(status="failed").exists()
    # A slot that came while its job's previous run was still going is fired
    # as a skipped run (overlap prevention): how many depends on the load.
    reasons = set(Run.objects.filter(status="skipped").values_list("error", flat=True))
    assert all("still in flight" in reason for reason in reasons), reasons
    workers = {line.split()[3] for line in lines}
    assert len(workers) >= 1


def test_sigterm__finishes_the_running_job_and_exits_zero(tmp_path):
    side_effects, gate = tmp_path / "effects.log", tmp_path / "gate"
    run = Run.objects.create(job="testapp.gated", trigger="manual")
    proc = start_scheduler(side_effects, TOGO_TEST_GATE=str(gate))
    err = StderrLines(proc)
    try:
        assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "running")
        # ... in this scheduler, whose signal handlers are in place by then.
        assert Run.objects.get(pk=run.pk).worker.endswith(f":{proc.pid}")
        proc.send_signal(signal.SIGTERM)
        # The scheduler handled the signal while the job could not end (its
        # gate is shut) ...
        stopping = err.wait_for("Stopping", timeout=60)
        assert stopping, f"exit status {proc.poll()}, stderr: {err.text()!r}"
        assert Run.objects.get(pk=run.pk).status == "running"
        # ... and the job, let go now, ends before the scheduler does.
        gate.touch()
        code = proc.wait(timeout=30)
        out = proc.stdout.read()
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
        proc.stdout.close()

    assert code == 0, err.text()
    assert "Scheduler stopped." in out
    assert Run.objects.get(pk=run.pk).status == "done"
    assert side_effects.read_text() == f"gated {run.pk} started\ngated {run.pk} done\n"


class StderrLines:
    """A child's stderr read line by line in a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._stream = proc.stderr
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,))
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self.ended = True
            self._new.notify_all()

    ended = False

    def wait_for(self, prefix: str, timeout: float = 20.0) -> bool:
        """Whether a line starting with ``prefix`` came within ``timeout`` seconds
        (False as soon as the stream ends without one)."""

        def seen() -> bool:
            return any(line.startswith(prefix) for line in self.lines)

        with self._new:
            self._new.wait_for(lambda: seen() or self.ended, timeout)
            return seen()

    def close(self) -> None:
        """Wait for the end of the stream (the child exited) and close it."""
        self._thread.join(timeout=30)
        self._stream.close()

    def text(self) -> str:
        return "".join(self.lines)


def test_once__one_tick_then_exit(tmp_path):
    side_effects = tmp_path / "effects.log"
    run = Run.objects.create(job="testapp.noop", trigger="manual")
    proc = start_scheduler(side_effects, "--once")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert Run.objects.get(pk=run.pk).status == "done"


def test_trigger_from_another_process__handed_out_by_the_loops_next_tick(tmp_path):
    # A run recorded elsewhere (a trigger from another process) is handed out by
    # the first tick of the loop after it was recorded, and that tick comes when
    # the loop's sleep, capped at MAX_SLEEP, ends. With MAX_SLEEP longer than
    # the scheduler's HEARTBEAT_EVERY, every idle tick writes its instant to
    # SchedulerProcess.last_tick_at: the ticks can be seen from here, and
    # nothing is measured on this process's clock.
    from django_togo_scheduler.models import SchedulerProcess
    from django_togo_scheduler.processes import HEARTBEAT_EVERY

    max_sleep = HEARTBEAT_EVERY.total_seconds() + 1
    proc = start_scheduler(tmp_path / "effects.log", TOGO_TEST_MAX_SLEEP=str(max_sleep))

    def last_tick():
        return (
            SchedulerProcess.objects.filter(pid=proc.pid)
            .values_list("last_tick_at", flat=True)
            .first()
        )

    try:
        assert wait_until(lambda: last_tick() is not None, timeout=30)
        first = last_tick()
        # A tick of the loop itself (not the row's creation), then the run:
        # recorded after that tick's look at the outbox.
        assert wait_until(lambda: last_tick() != first, timeout=4 * max_sleep)
        previous = last_tick()
        run = Run.objects.create(job="testapp.noop", trigger="manual")
        assert wait_until(lambda: last_tick() != previous, timeout=4 * max_sleep)
        picked_by = last_tick()
        assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "done")
    finally:
        ((code, _out, err),) = stop([proc])
    assert code == 0, err

    run.refresh_from_db()
    assert previous < run.created_at < run.dispatched_at
    # Handed out by the next tick, not a later one ...
    assert run.dispatched_at == picked_by and run.dispatch_count == 1
    # ... which came once the loop had slept MAX_SLEEP: the pickup waits for
    # the sleep, and for nothing longer (a whole MAX_SLEEP of margin for a
    # tick's own work, which takes milliseconds).
    slept = picked_by - previous
    assert timedelta(seconds=max_sleep) <= slept < timedelta(seconds=2 * max_sleep)


def test_second_sigterm__exits_at_once_with_a_timed_out_job_and_fails_the_running_run(
    tmp_path,
):
    side_effects = tmp_path / "effects.log"
    hung = Run.objects.create(job="testapp.hangs", trigger="manual", timeout=1)
    run = Run.objects.create(job="testapp.slow", trigger="manual")
    proc = start_scheduler(
        side_effects, TOGO_TEST_SLOW_SECONDS="60", TOGO_TEST_HANG_SECONDS="60"
    )
    # One thread abandoned past its timeout, one run still running.
    assert wait_until(lambda: Run.objects.get(pk=hung.pk).status == "failed")
    assert "timeout" in Run.objects.get(pk=hung.pk).error
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "running")
    proc.send_signal(signal.SIGTERM)
    # Two signals sent before the first was handled would coalesce into one:
    # wait until the process says it is stopping.
    assert _stderr_line(proc, "Stopping: finishing the current tick")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 1
    assert time.monotonic() - started < 20  # not the 60 s of either job
    assert "Second signal: exiting now" in err
    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed"  # now, not after STALE_AFTER
    assert failed.error == (
        f"scheduler exited: {failed.worker} stopped before the run ended "
        "(a second signal ended the process)"
    )
    assert SchedulerProcess.objects.get(pid=proc.pid).stopped_at is not None
    wait_for_other_sessions_to_end()


def test_sigterm__waits_at_most_the_grace_then_fails_the_run_and_exits_zero(tmp_path):
    side_effects = tmp_path / "effects.log"
    run = Run.objects.create(job="testapp.slow", trigger="manual")
    proc = start_scheduler(side_effects, "--grace", "1", TOGO_TEST_SLOW_SECONDS="60")
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "running")
    started = time.monotonic()

    ((code, out, err),) = stop([proc])

    assert code == 0, err
    assert time.monotonic() - started < 1 + 20  # the grace, not the job's 60 s
    assert "Scheduler stopped." in out
    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed"
    assert failed.error == (
        f"scheduler exited: {failed.worker} stopped before the run ended "
        "(still running 1 s after the scheduler was asked to stop)"
    )
    assert not side_effects.exists()  # the handler never finished
    wait_for_other_sessions_to_end()


def _stderr_line(proc, start, timeout=20):
    """Read stderr until a line starts with ``start`` (log lines may come first).

    Raw reads of the pipe: a buffered readline could hold the line while
    ``select`` waits for more.
    """
    seen = b"\n"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            seen += os.read(proc.stderr.fileno(), 65536)
            if b"\n" + start.encode() in seen:
                return True
    return False


def test_status__probes_a_running_scheduler(tmp_path):
    from django_togo_scheduler.models import SchedulerProcess

    def probe():
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TOGO_TEST_DB": "postgres"
            if connection.vendor == "postgresql"
            else "sqlite",
            "TOGO_TEST_DB_NAME": connection.settings_dict["NAME"],
        }
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "django",
                "scheduler",
                "status",
                "--settings=tests.settings",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert probe().returncode == 1
    proc = start_scheduler(tmp_path / "effects.log")
    try:
        assert wait_until(
            lambda: SchedulerProcess.objects.filter(pid=proc.pid).exists()
        )
        alive = probe()
        assert alive.returncode == 0 and f":{proc.pid}" in alive.stdout
    finally:
        ((code, _out, err),) = stop([proc])
    assert code == 0, err
    assert probe().returncode == 1  # a clean stop is recorded
