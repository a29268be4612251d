from __future__ import annotations

import pytest

from django_togo_scheduler import clock, transitions
from django_togo_scheduler.execution import execute_run, finish_run, start_run
from django_togo_scheduler.models import Run
from django_togo_scheduler.signals import run_finished, run_started

pytestmark = pytest.mark.django_db


@pytest.fixture
def signals():
    seen = []

    def on_started(sender, run, **kw):
        seen.append(("started", run.pk, run.status))

    def on_finished(sender, run, **kw):
        seen.append(("finished", run.pk, run.status))

    run_started.connect(on_started, dispatch_uid="test-started")
    run_finished.connect(on_finished, dispatch_uid="test-finished")
    yield seen
    run_started.disconnect(dispatch_uid="test-started")
    run_finished.disconnect(dispatch_uid="test-finished")


def test_execute_run__done_with_signals(calls, signals):
    run = Run.objects.create(job="test.record", trigger="manual")

    assert execute_run(run.pk) == "done"

    run.refresh_from_db()
    assert run.status == "done" and run.error == "" and run.worker
    assert run.duration is not None and run.duration.total_seconds() >= 0
    assert signals == [("started", run.pk, "running"), ("finished", run.pk, "done")]


def test_execute_run__failed_records_the_traceback(signals):
    run = Run.objects.create(job="testapp.fails", trigger="manual")

    assert execute_run(run.pk) == "failed"

    run.refresh_from_db()
    assert run.status == "failed"
    assert (
        "Traceback" in run.error and "RuntimeError: this job always fails" in run.error
    )
    assert signals[-1] == ("finished", run.pk, "failed")


def test_execute_run__handler_without_parameters_is_called_with_none(
    tmp_path, monkeypatch
):
    log = tmp_path / "effects"
    monkeypatch.setenv("TOGO_TEST_SIDE_EFFECTS", str(log))
    run = Run.objects.create(job="testapp.no_args", trigger="manual")
    assert execute_run(run.pk) == "done"
    assert log.read_text() == "no_args\n"


def test_execute_run__unregistered_handler_fails_the_run():
    run = Run.objects.create(job="gone.job", trigger="manual")
    assert execute_run(run.pk) == "failed"
    assert "No job handler is registered" in Run.objects.get(pk=run.pk).error


def test_execute_run__second_delivery_runs_nothing(calls, signals):
    run = Run.objects.create(job="test.record", trigger="manual")
    execute_run(run.pk)
    before = Run.objects.filter(pk=run.pk).values().get()

    assert execute_run(run.pk) is None

    assert Run.objects.filter(pk=run.pk).values().get() == before
    assert len(calls) == 1 and len(signals) == 2


def test_start_run__only_one_of_two_deliveries_wins(calls):
    run = Run.objects.create(job="test.record", trigger="manual")
    assert start_run(run.pk, worker="a:1") is not None
    assert start_run(run.pk, worker="b:2") is None
    assert Run.objects.get(pk=run.pk).worker == "a:1"


def test_finish_run__late_result_of_a_failed_run_is_discarded(calls, signals):
    run = Run.objects.create(job="test.record", trigger="manual")
    started = start_run(run.pk)
    assert transitions.fail(started, "timeout: too slow", clock.now())

    assert finish_run(started) is False

    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == ("failed", "timeout: too slow")


@pytest.mark.parametrize("returning", [True, False])
def test_start_run__returns_the_run_as_stored(monkeypatch, returning):
    from datetime import UTC, datetime

    monkeypatch.setattr(transitions.sql, "returns_from_update", lambda _conn: returning)
    slot = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    run = Run.objects.create(
        job="test.record", scheduled_for=slot, timeout=30, queue="", trigger="schedule"
    )

    started = start_run(run.pk, worker="host:1")

    assert started is not None
    assert (started.pk, started.job, started.status) == (run.pk, run.job, "running")
    assert (
        started.scheduled_for == slot and started.scheduled_for.utcoffset() is not None
    )
    assert started.started_at == started.heartbeat_at is not None
    assert started.started_at.utcoffset() is not None
    assert (started.worker, started.timeout) == ("host:1", 30)
    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.started_at, stored.worker) == (
        "running",
        started.started_at,
        "host:1",
    )
    assert start_run(run.pk) is None


@pytest.mark.django_db(transaction=True)
def test_heartbeat__one_thread_beats_for_every_running_run(settings):
    import threading
    from datetime import timedelta

    from django_togo_scheduler import clock
    from django_togo_scheduler.execution import Heartbeat
    from tests.procs import wait_until

    settings.TOGO_SCHEDULER = {"QUEUE": None, "STALE_AFTER": 0.3}  # a beat per 0.1 s
    old = clock.now() - timedelta(hours=1)
    first, second, idle = (
        Run.objects.create(job="test.record", status="running", heartbeat_at=old)
        for _ in range(3)
    )

    def beats():
        return dict(Run.objects.values_list("pk", "heartbeat_at"))

    with Heartbeat(first.pk):
        with Heartbeat(second.pk):
            # One statement beats for both: the same instant, whatever thread
            # (an earlier test's) was beating before.
            assert wait_until(lambda: old < (b := beats())[first.pk] == b[second.pk])
            beaters = [t for t in threading.enumerate() if t.name == "togo-heartbeat"]
        # The second run ended: its beats stop, the first's go on. A beat that
        # had read the runs before the end may still land; two fresh beats of
        # the first run later, none can.
        seen = [beats()[first.pk]]

        def beaten_twice_more():
            if (value := beats()[first.pk]) != seen[-1]:
                seen.append(value)
            return len(seen) >= 3

        assert wait_until(beaten_twice_more)
        ended = beats()

    assert len(beaters) == 1
    assert ended[second.pk] < seen[2]
    assert ended[idle.pk] == old  # not running here: never beaten for


@pytest.mark.django_db(transaction=True)
def test_execute_run__the_end_is_recorded_once_the_database_is_back(
    calls, monkeypatch, caplog
):
    from django.db import OperationalError

    from django_togo_scheduler import execution

    run = Run.objects.create(job="test.record", trigger="manual")
    real_finish = execution.finish_run
    failures = []

    def flaky_finish(run, **kwargs):
        if len(failures) < 2:
            failures.append(run.pk)
            raise OperationalError("server closed the connection unexpectedly")
        return real_finish(run, **kwargs)

    pauses = []
    monkeypatch.setattr(execution, "finish_run", flaky_finish)
    monkeypatch.setattr(execution, "_pause", pauses.append)

    assert execute_run(run.pk) == "done"

    assert Run.objects.get(pk=run.pk).status == "done" and len(calls) == 1
    assert pauses == list(execution.END_RETRIES[:2])
    assert caplog.text.count("Cannot record the end of run") == 2


@pytest.mark.django_db(transaction=True)
def test_execute_run__an_end_never_recorded_raises_after_the_last_try(
    calls, monkeypatch
):
    from django.db import OperationalError

    from django_togo_scheduler import execution

    run = Run.objects.create(job="test.record", trigger="manual")

    def down(run, **kwargs):
        raise OperationalError("the database system is shutting down")

    pauses = []
    monkeypatch.setattr(execution, "finish_run", down)
    monkeypatch.setattr(execution, "_pause", pauses.append)

    with pytest.raises(OperationalError):
        execute_run(run.pk)

    assert pauses == list(execution.END_RETRIES)
    assert Run.objects.get(pk=run.pk).status == "running"  # the reconciler's case


def test_execute_run__two_statements_per_run(calls):
    # What a worker's per-run cost comes down to: the guarded start (the run
    # returned by the same statement) and the guarded end. A statement more per
    # run is a measurable regression of the worker benchmark on PostgreSQL.
    from django.db import connection

    from django_togo_scheduler.transitions.sql import returns_from_update

    run = Run.objects.create(job="test.record", trigger="manual")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert execute_run(run.pk) == "done"

    assert len(calls) == 1
    if not returns_from_update(connection):
        pytest.skip("this database has no UPDATE ... RETURNING")
    assert [sql.split()[0] for sql in statements] == ["UPDATE", "UPDATE"]
    assert "RETURNING" in statements[0] and "RETURNING" not in statements[1]
