"""The chaos harness (``bench/chaos.py``), short: real schedulers, workers, Redis, PostgreSQL.

It always uses a PostgreSQL database of its own (``togo_chaos_test_<pid>``) and a
redis-server of its own, whatever ``TOGO_TEST_DB`` says; it runs in the PostgreSQL
pass of each matrix cell only (``postgres_only``: deselected on SQLite) and skips
when PostgreSQL or redis-server is missing (a failure where TOGO_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

ROOT = Path(__file__).resolve().parents[2]
ZERO = (
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


@pytest.fixture(scope="module")
def services():
    sys.path.insert(0, str(ROOT))
    try:
        from bench.chaos import services_missing
    finally:
        sys.path.remove(str(ROOT))
    missing = services_missing()
    if missing:
        pytest.skip(f"the chaos harness needs PostgreSQL and redis-server: {missing}")


def run_chaos(tmp_path, *args: str, timeout: float = 300) -> tuple[int, dict, str]:
    # Not measured by coverage (no COVERAGE_* variables): every one of its
    # hundreds of work horses would write a data file of its own, for code the
    # other tests cover.
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DJANGO_SETTINGS_MODULE"
        and not key.startswith(("TOGO_", "COVERAGE_"))
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--db",
            f"togo_chaos_test_{os.getpid()}",
            "--workdir",
            str(tmp_path),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the harness stops its processes
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"the chaos run took longer than {timeout} s:\n{out[-5000:]}")
    lines = [line for line in out.splitlines() if line.startswith("JSON ")]
    assert lines, f"no figures (exit {proc.returncode}):\n{out[-5000:]}"
    return proc.returncode, json.loads(lines[-1].removeprefix("JSON ")), out


def test_chaos__short_run_keeps_every_guarantee(services, tmp_path):
    code, figures, out = run_chaos(tmp_path, "--seconds", "60", "--seed", "5")

    report = out[out.find("| figure") :][:6000]
    assert {name: figures[name] for name in ZERO} == dict.fromkeys(ZERO, 0), report
    assert code == 0, report
    assert (
        figures["slots_expected"] > 500
        and figures["slots_fired"] == (figures["slots_expected"])
    ), report
    events = figures["events"]
    # Both narrow windows of the scheduler were hit on purpose, and every other
    # kind of chaos happened at least once.
    assert events.get("window_insert_hit", 0) >= 1, report
    assert events.get("window_enqueue_hit", 0) >= 1, report
    for kind in ("kill_scheduler", "kill_worker", "restart_redis"):
        assert events.get(kind, 0) >= 1, report
    assert events.get("pg_terminate", 0) + events.get("pg_terminate_burst", 0) >= 1
    assert events.get("kill_horse", 0) + events.get("kill_horse_nothing_running", 0)
    # The runs caught between commit and enqueue were all found again: the
    # lost-message check put them back in the outbox, where another scheduler
    # dispatched them again and they ended, or a newer slot of their job came
    # first and superseded them (a run that never reached the queue does not
    # block its job). (Once dispatched again, chaos may still fail one: a later
    # kill takes its work horse, or Redis loses its message again.)
    details = figures["details"]
    outcomes = details["window_runs_by_status"]["enqueue"]
    assert set(outcomes) <= {"done", "failed", "superseded"}, report
    assert details["window_enqueue_runs"] >= 1, report
    assert (
        details["window_enqueue_runs_found_again"] == details["window_enqueue_runs"]
    ), report
    # Runs fail only for the reasons chaos gives them: a killed worker, or a run
    # whose message was lost MAX_DISPATCHES times (machines lost again and again).
    reasons = set(figures["details"]["failed_by_reason"])
    assert reasons <= {"worker died", "queue message lost"}, report


def test_chaos__worker_lost_before_the_run_starts(services, tmp_path):
    code, figures, out = run_chaos(
        tmp_path,
        "--seconds",
        "8",
        "--seed",
        "1",
        "--mean-gap",
        "1",
        "--events",
        "window_dequeue,window_start",
    )

    report = out[out.find("| figure") :][:6000]
    events = figures["events"]
    if not events.get("window_dequeue_hit", 0) + events.get("window_start_hit", 0):
        raise RuntimeError(f"no worker window was hit: {report}")  # not the bug
    assert figures["recorded_runs_lost"] == 0, report
    assert figures["in_flight_past_bound"] == 0, report
    assert code == 0, report
