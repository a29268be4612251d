from __future__ import annotations

from datetime import timedelta

import pytest

from django_togo_scheduler import InvalidSpec, UnknownJob, get_scheduler
from django_togo_scheduler.exceptions import InvalidTimezone
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.service import Service

pytestmark = pytest.mark.django_db


def test_get_scheduler__one_service_per_process():
    assert isinstance(get_scheduler(), Service)
    assert get_scheduler() is get_scheduler()


def test_schedule__creates_with_options_and_first_slot_after_now(service, calls):
    job = service.schedule(
        "test.record",
        "  */5  * * * * ",
        timezone="Europe/Berlin",
        queue="low",
        timeout=60,
        catchup="all",
        max_age="2h",
    )
    assert (
        job.spec,
        job.timezone,
        job.queue,
        job.timeout,
        job.catchup,
        job.max_age,
    ) == (
        "*/5 * * * *",
        "Europe/Berlin",
        "low",
        60,
        "all",
        "2h",
    )
    assert job.next_run_at > job.created_at
    assert job.next_run_at.minute % 5 == 0 and job.next_run_at.second == 0


def test_schedule__replaces_and_keeps_paused(service, calls):
    service.schedule("test.record", "* * * * *")
    service.pause("test.record", reason="maintenance")
    job = service.schedule("test.record", "@hourly")
    assert ScheduledJob.objects.count() == 1
    assert job.spec == "@hourly" and job.paused
    assert job.next_run_at.minute == 0


def test_schedule__unchanged_redeclaration_keeps_the_pending_slot(service, calls):
    first = service.schedule("test.record", "* * * * *")
    ScheduledJob.objects.filter(pk=first.pk).update(
        next_run_at=first.next_run_at - timedelta(minutes=3)
    )
    again = service.schedule("test.record", "* * * * *")
    assert again.next_run_at == first.next_run_at - timedelta(minutes=3)


@pytest.mark.parametrize(
    ("name", "spec", "options", "error"),
    [
        ("nope", "* * * * *", {}, UnknownJob),
        ("test.record", "61 * * * *", {}, InvalidSpec),
        ("test.record", None, {}, InvalidSpec),
        ("test.record", "* * * * *", {"timezone": "Mars/Olympus"}, InvalidTimezone),
        ("test.record", "* * * * *", {"catchup": "sometimes"}, ValueError),
        ("test.record", "* * * * *", {"timeout": 0}, ValueError),
        ("test.record", "* * * * *", {"timeout": "10"}, ValueError),
        ("test.record", "* * * * *", {"max_age": "soon"}, ValueError),
        ("test.record", "* * * * *", {"colour": "red"}, ValueError),
        ("test.record", "* * * * *", {"queue": 3}, ValueError),
        ("test.record", "* * * * *", {"queue": "q" * 101}, ValueError),
        ("test.record", "* * * * *", {"timeout": 10**12}, ValueError),
        ("test.record", "* * * * *", {"max_age": "9" * 40 + "d"}, ValueError),
    ],
)
def test_schedule__bad_input_raises_and_changes_nothing(
    service, calls, name, spec, options, error
):
    with pytest.raises(error):
        service.schedule(name, spec, **options)
    assert not ScheduledJob.objects.exists()


def test_schedule__a_queue_no_rq_queue_has_is_kept_and_logged(
    service, calls, settings, caplog
):
    import logging

    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        job = service.schedule("test.record", "@daily", queue="hihg")

    assert job.queue == "hihg"
    assert [(r.levelname, r.getMessage(), r.job) for r in caplog.records] == [
        (
            "WARNING",
            "Schedule 'test.record': queue 'hihg' is not a configured django-rq queue "
            "(django_rq is not installed or RQ_QUEUES has no such queue): its runs "
            "will run inline in the scheduler process.",
            "test.record",
        )
    ]


def test_schedule__a_configured_queue_or_none_logs_nothing(
    service, calls, settings, caplog
):
    import logging

    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        service.schedule("test.record", "@daily", queue="default")
        service.schedule("test.record", "@hourly")

    assert caplog.records == []


def test_unknown_job_is_a_lookup_error_and_invalid_spec_a_value_error():
    assert issubclass(UnknownJob, LookupError)
    assert issubclass(InvalidSpec, ValueError)


def test_unschedule__keeps_history_and_is_a_noop_when_absent(service, calls):
    service.schedule("test.record", "* * * * *")
    Run.objects.create(job="test.record", status="done")
    service.unschedule("test.record")
    service.unschedule("test.record")
    assert not ScheduledJob.objects.exists()
    assert Run.objects.filter(job="test.record").count() == 1


def test_pause_resume__resume_does_not_replay_missed_slots(
    service, calls, now, sync_dispatcher
):
    job = service.schedule("test.record", "* * * * *")
    service.pause("test.record", reason="deploy")
    paused = ScheduledJob.objects.get()
    assert paused.paused and paused.paused_reason == "deploy"
    ScheduledJob.objects.filter(pk=job.pk).update(
        next_run_at=job.next_run_at - timedelta(hours=1)
    )

    service.resume("test.record")

    resumed = ScheduledJob.objects.get()
    assert not resumed.paused and resumed.paused_reason == ""
    assert resumed.next_run_at > resumed.updated_at - timedelta(seconds=1)
    assert (
        service.tick(
            resumed.next_run_at - timedelta(seconds=1), dispatcher=sync_dispatcher
        )
        == []
    )


def test_pause_resume__unknown_job_when_absent(service, calls):
    # A registered handler without a schedule is not a schedule either.
    for name in ("nope", "test.record"):
        with pytest.raises(UnknownJob) as paused:
            service.pause(name)
        with pytest.raises(UnknownJob) as resumed:
            service.resume(name)

        assert (
            str(paused.value)
            == str(resumed.value)
            == (f"There is no schedule named {name!r}.")
        )
    assert not ScheduledJob.objects.exists()


def test_trigger__runs_a_registered_job_without_schedule(service, calls):
    run = service.trigger("test.record", wait=True)

    assert (run.status, run.trigger, run.scheduled_for) == ("done", "manual", None)
    assert calls[0].scheduled_for is None and calls[0].trigger == "manual"


def test_trigger__in_a_test_transaction_it_waits_in_the_outbox_until_commit(
    service, calls, now, sync_dispatcher
):
    run = service.trigger("test.record")
    assert (run.status, run.dispatched_at) == ("queued", None)

    service.tick(now, dispatcher=sync_dispatcher)  # the testing helper's way

    assert Run.objects.get(pk=run.pk).status == "done"


def test_trigger__skipped_while_in_flight(service, calls):
    first = service.trigger("test.record")
    second = service.trigger("test.record")
    assert first.status == "queued"
    assert second.status == "skipped" and "still in flight" in second.error


def test_trigger__unknown_job(service):
    with pytest.raises(UnknownJob):
        service.trigger("nope")


def test_jobs_and_runs__ordering_and_filters(service, calls, registry):
    registry.register("test.other", lambda: None)
    service.schedule("test.record", "* * * * *")
    service.schedule("test.other", "* * * * *")
    a = Run.objects.create(job="test.record", status="done")
    b = Run.objects.create(job="test.other", status="failed")
    c = Run.objects.create(job="test.record", status="failed")

    assert [j.name for j in service.jobs()] == ["test.other", "test.record"]
    assert list(service.runs()) == [c, b, a]
    assert list(service.runs(job="test.record")) == [c, a]
    assert list(service.runs(status="failed")) == [c, b]
    assert list(service.runs(job="test.record", status="failed")) == [c]


@pytest.mark.parametrize("status", ["nope", "DONE", ""])
def test_runs__unknown_status_raises_value_error_naming_the_statuses(service, status):
    Run.objects.create(job="test.record", status="done")

    with pytest.raises(ValueError) as excinfo:
        service.runs(status=status)

    assert str(excinfo.value) == (
        f"Unknown run status {status!r}; one of queued, running, done, failed, skipped."
    )


def test_runs__history_of_an_unscheduled_job_stays_readable(service):
    run = Run.objects.create(job="gone.job", status="done")

    assert list(service.runs(job="gone.job")) == [run]
    assert list(service.runs(job="never.ran")) == []


def test_stop__wakes_a_waiting_loop(service):
    assert not service.stopping
    service.stop()
    assert service.stopping
    assert service.wait(10) is True
