"""Manual runs across real processes: ``scheduler trigger``, ``scheduler run``, a shell.

Issue 12, items 1 and 2: with no scheduler an inline trigger used to stay queued
for good; now the triggering process runs it (and waits for it), a live
scheduler takes it, and ``--wait`` reports the outcome wherever it ran.
"""

from __future__ import annotations

import select
import signal
import socket

import pytest

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, SchedulerProcess
from tests.procs import (
    WORKER_CLASS,
    django_command,
    running_redis,
    subprocess_env,
    wait_for_other_sessions_to_end,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

HOST = socket.gethostname()


@pytest.fixture
def side_effects(tmp_path):
    return tmp_path / "effects.log"


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def first_line(stream, timeout=30):
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output"
    return stream.readline().rstrip("\n")


@pytest.fixture
def scheduler(side_effects):
    """A running ``runscheduler``, stopped at the end of the test."""
    proc = django_command("runscheduler", env=subprocess_env(side_effects))
    try:
        assert wait_until(
            lambda: SchedulerProcess.objects.filter(pid=proc.pid).exists()
        )
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        code, _out, err = finish(proc)
        assert code == 0, err


def test_trigger__no_scheduler__the_command_runs_it_and_exits_when_it_ended(
    side_effects,
):
    env = subprocess_env(side_effects, TOGO_TEST_SLOW_SECONDS="1.5")
    proc = django_command("scheduler", "trigger", "testapp.slow", env=env)

    code, out, err = finish(proc)

    assert code == 0, err
    run = Run.objects.get()
    assert (run.status, run.worker) == ("done", f"{HOST}:{proc.pid}")
    assert out.splitlines()[0] == (
        f"Run #{run.pk} of testapp.slow: no scheduler is running: running it here."
    )
    assert out.splitlines()[1].startswith(f"Run #{run.pk} of testapp.slow done in ")
    assert side_effects.read_text() == f"slow {run.pk}\n"


def test_trigger__a_live_scheduler_runs_it(scheduler):
    proc = django_command("scheduler", "trigger", "testapp.noop", env=subprocess_env())

    code, out, err = finish(proc)

    assert code == 0, err
    run = Run.objects.get()
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "done")
    worker = Run.objects.get(pk=run.pk).worker
    assert worker == f"{HOST}:{scheduler.pid}" != clock.worker_name()
    assert (
        out
        == f"Run #{run.pk} of testapp.noop handed to the running scheduler {worker}.\n"
    )


def test_trigger_wait__a_live_scheduler_runs_it__exit_status_follows_the_outcome(
    scheduler,
):
    done = django_command(
        "scheduler", "trigger", "testapp.noop", "--wait", env=subprocess_env()
    )
    code, out, err = finish(done)
    assert code == 0, err
    run = Run.objects.get(job="testapp.noop")
    assert out.splitlines() == [
        f"Run #{run.pk} of testapp.noop handed to the running scheduler {run.worker}.",
        f"Run #{run.pk} of testapp.noop done in {run.duration.total_seconds():.3f} s.",
    ]

    failed = django_command(
        "scheduler", "trigger", "testapp.fails", "--wait", env=subprocess_env()
    )
    code, out, err = finish(failed)

    run = Run.objects.get(job="testapp.fails")
    assert code == 1
    assert run.worker == f"{HOST}:{scheduler.pid}"
    assert out.splitlines()[-1].endswith(": RuntimeError: this job always fails")
    assert err == f"CommandError: run #{run.pk} of testapp.fails failed\n"


def test_trigger__a_scheduler_row_that_looks_live_but_is_dead__run_here(side_effects):
    now = clock.now()
    SchedulerProcess.objects.create(
        host="gone", pid=1, started_at=now, last_tick_at=now
    )
    proc = django_command(
        "scheduler", "trigger", "testapp.noop", env=subprocess_env(side_effects)
    )

    code, out, err = finish(proc)

    assert code == 0, err
    run = Run.objects.get()
    assert (run.status, run.worker) == ("done", f"{HOST}:{proc.pid}")
    assert out.splitlines()[0] == (
        f"Run #{run.pk} of testapp.noop: the scheduler gone:1 did not take it "
        "within 2 s: running it here."
    )


def test_trigger_wait__through_rq_with_a_real_worker(side_effects):
    with running_redis() as redis:
        env = subprocess_env(
            side_effects, TOGO_TEST_REDIS_URL=redis.url, TOGO_TEST_QUEUE="togo"
        )
        waiting = {
            name: django_command("scheduler", "trigger", name, "--wait", env=env)
            for name in ("testapp.noop", "testapp.fails")
        }
        for proc in waiting.values():
            assert first_line(proc.stdout).endswith(" queued on RQ queue 'togo'.")
        assert all(proc.poll() is None for proc in waiting.values())  # waiting

        worker = django_command("rqworker", "togo", "--burst", *WORKER_CLASS, env=env)
        assert finish(worker)[0] == 0

        noop = finish(waiting["testapp.noop"])
        fails = finish(waiting["testapp.fails"])
    assert noop[0] == 0 and " done in " in noop[1], noop
    assert fails[0] == 1 and "RuntimeError: this job always fails" in fails[1], fails
    runs = {run.job: run for run in Run.objects.all()}
    assert runs["testapp.noop"].worker.split(":")[1] != str(waiting["testapp.noop"].pid)


def test_run__streams_while_it_runs_and_exits_1_on_failure(side_effects):
    env = subprocess_env(side_effects, TOGO_TEST_SLOW_SECONDS="3", PYTHONUNBUFFERED="1")
    proc = django_command("scheduler", "run", "testapp.slow", env=env)

    line = first_line(proc.stdout)
    still_running = proc.poll() is None  # the start line came before the end

    code, out, err = finish(proc)
    run = Run.objects.get()
    assert still_running
    assert line == (
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.slow' "
        f"started on {HOST}:{proc.pid}."
    )
    assert code == 0, err
    assert out.splitlines()[-1].startswith(
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.slow' done in "
    )

    failing = django_command("scheduler", "run", "testapp.fails", env=env)
    code, out, err = finish(failing)
    assert code == 1
    assert out.splitlines()[-1] == "RuntimeError: this job always fails"
    assert "Traceback (most recent call last):" in out
    assert err.endswith(" of testapp.fails failed\n")


def test_trigger__ctrl_c_while_it_runs_here_fails_the_run(side_effects):
    env = subprocess_env(side_effects, TOGO_TEST_SLOW_SECONDS="60")
    proc = django_command("scheduler", "trigger", "testapp.slow", env=env)
    assert first_line(proc.stdout).endswith("no scheduler is running: running it here.")
    assert wait_until(lambda: Run.objects.filter(status="running").exists())

    proc.send_signal(signal.SIGINT)
    code, _out, err = finish(proc)

    run = Run.objects.get()
    assert code == 130, err
    assert run.status == "failed"
    assert run.error == (
        f"process exited: {HOST}:{proc.pid} exited before the run ended "
        "(interrupted with Ctrl-C)"
    )
    assert err.splitlines()[-1] == (
        f"CommandError: interrupted: run #{run.pk} of testapp.slow was marked failed"
    )
    wait_for_other_sessions_to_end()


def shell(code, env):
    return django_command("shell", "-c", code, env=env)


TRIGGER = (
    "from django_togo_scheduler import get_scheduler; "
    "print(get_scheduler().trigger('testapp.slow').pk)"
)


def test_shell__exit_waits_for_the_run_it_holds(side_effects):
    env = subprocess_env(side_effects, TOGO_TEST_SLOW_SECONDS="1.5")

    code, out, err = finish(shell(TRIGGER, env))

    assert code == 0, err
    run = Run.objects.get()
    assert str(run.pk) == out.splitlines()[-1]
    assert run.status == "done"
    assert err == (
        "Waiting for 1 inline run(s) of this process to end "
        "(Ctrl-C: stop waiting and mark them failed).\n"
    )


def test_shell__ctrl_c_at_exit_fails_the_run_instead_of_leaving_it_running(
    side_effects,
):
    env = subprocess_env(side_effects, TOGO_TEST_SLOW_SECONDS="60")
    proc = shell(TRIGGER, env)
    assert first_line(proc.stderr).startswith("Waiting for 1 inline run(s)")
    assert wait_until(lambda: Run.objects.filter(status="running").exists())

    proc.send_signal(signal.SIGINT)
    code, _out, err = finish(proc)

    run = Run.objects.get()
    assert code == 0, err
    assert run.status == "failed"
    assert run.error == (
        f"process exited: {HOST}:{proc.pid} exited before the run ended "
        "(interrupted while it waited for the run at exit)"
    )
    wait_for_other_sessions_to_end()
