from __future__ import annotations

import pytest

from django_togo_scheduler.execution import execute_run, fail_run, finish_run, start_run
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
    assert fail_run(started, "timeout: too slow")

    assert finish_run(started) is False

    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == ("failed", "timeout: too slow")


def test_fail_run__noop_when_the_run_ended_meanwhile(calls):
    run = Run.objects.create(job="test.record", trigger="manual")
    stale_copy = Run.objects.get(pk=run.pk)
    execute_run(run.pk)
    assert fail_run(stale_copy, "worker died") is False
    assert Run.objects.get(pk=run.pk).status == "done"
