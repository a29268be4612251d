"""``manage.py scheduler``: exact output of each subcommand, and exit status 2 on bad input."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import get_timezone, parse_duration, validate_spec

ROOT = Path(__file__).resolve().parents[2]
TRACEBACK = 'Traceback (most recent call last):\n  File "jobs.py", line 26, in fails\nRuntimeError: this job always fails\n'


@pytest.fixture
def clock_at(monkeypatch, now):
    """Freezes ``django_togo_scheduler.clock.now`` at the ``now`` fixture's instant."""
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: now)
    return now


def error_of(func, value):
    """The message specs.py gives for a bad value (its wording is specs.py's business)."""
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


def scheduler(*args):
    """Run ``manage.py scheduler *args``; return (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("scheduler", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def scheduler_fails(*args):
    """Run a command that must fail with bad input; return (stdout, the message).

    It raises ``CommandError`` with ``returncode`` 2 and a one-line message,
    which Django prints on stderr as ``CommandError: <message>`` (nothing else
    is written there).
    """
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("scheduler", *args, stdout=out, stderr=err)
    assert excinfo.value.returncode == 2
    assert err.getvalue() == ""
    message = str(excinfo.value)
    assert "\n" not in message
    return out.getvalue(), f"{message}\n"


# list


@pytest.mark.django_db
def test_list__no_schedules():
    assert scheduler("list") == ("No schedules.\n", "")


@pytest.mark.django_db
def test_list__table_with_zone_state_next_run_and_last_status(clock_at, service, calls):
    service.schedule("testapp.noop", "*/5 * * * *")
    service.schedule("test.record", "0 7 * * 1", timezone="Europe/Berlin")
    service.pause("test.record")
    # A schedule left in the database by code that is no longer deployed.
    ScheduledJob.objects.create(
        name="ghost.job", spec="@hourly", next_run_at=clock_at + timedelta(hours=1)
    )
    Run.objects.create(job="testapp.noop", status="failed")
    Run.objects.create(job="testapp.noop", status="done")
    Run.objects.create(job="ghost.job", status="failed")

    out, err = scheduler("list")

    assert out == (
        "NAME          SPEC         TIMEZONE       STATE               NEXT RUN                   LAST\n"
        "ghost.job     @hourly      UTC            active, NO HANDLER  2026-11-27T13:00:00+00:00  failed\n"
        "test.record   0 7 * * 1    Europe/Berlin  paused              -                          -\n"
        "testapp.noop  */5 * * * *  UTC            active              2026-11-27T12:05:00+00:00  done\n"
    )
    assert err == ""


@pytest.mark.django_db
def test_list__pause_reasons_orphans_and_no_next_run_while_paused(
    clock_at, service, calls
):
    service.schedule("testapp.noop", "@hourly")
    service.schedule("testapp.slow", "@hourly")
    service.schedule("test.record", "@daily")
    service.pause("testapp.noop", reason="holiday\n  season", by="alice")
    service.pause("testapp.slow", by="bob")
    ScheduledJob.objects.filter(name="test.record").update(
        declared=True, orphaned_at=clock_at - timedelta(hours=2)
    )

    out, err = scheduler("list")

    assert out.splitlines() == [
        "NAME          SPEC     TIMEZONE  STATE                                             NEXT RUN                   LAST",
        "test.record   @daily   UTC       active, orphaned since 2026-11-27T10:00:00+00:00  2026-11-28T00:00:00+00:00  -",
        "testapp.noop  @hourly  UTC       paused: holiday season (by alice)                 -                          -",
        "testapp.slow  @hourly  UTC       paused (by bob)                                   -                          -",
    ]
    assert err == ""


@pytest.mark.django_db
def test_list__json_has_stable_keys_iso_times_and_nulls(clock_at, service, calls):
    import json

    service.schedule(
        "test.record", "30 8 * * *", timezone="Asia/Tokyo", queue="low", timeout=60,
        catchup="all", max_age="2d",
    )  # fmt: skip
    service.schedule("testapp.noop", "@hourly")
    service.pause("testapp.noop", reason="holiday", by="alice")
    ScheduledJob.objects.create(
        name="ghost.job", spec="@hourly", declared=True, source="@job in old.jobs",
        next_run_at=clock_at, orphaned_at=clock_at - timedelta(days=1),
        overdue_since=clock_at - timedelta(minutes=5),
    )  # fmt: skip
    Run.objects.create(job="test.record", status="done")

    out, err = scheduler("list", "--json")

    base = {"paused": False, "paused_reason": None, "paused_by": None}
    assert json.loads(out) == [
        {
            "name": "ghost.job", "spec": "@hourly", "timezone": "UTC", **base,
            "paused_at": None, "next_run_at": "2026-11-27T12:00:00+00:00",
            "last_status": None, "overdue_since": "2026-11-27T11:55:00+00:00",
            "orphaned_at": "2026-11-26T12:00:00+00:00", "has_handler": False,
            "declared": True, "source": "@job in old.jobs", "queue": None,
            "timeout": None, "catchup": "latest", "max_age": None,
        },
        {
            "name": "test.record", "spec": "30 8 * * *", "timezone": "Asia/Tokyo",
            **base, "paused_at": None, "next_run_at": "2026-11-28T08:30:00+09:00",
            "last_status": "done", "overdue_since": None, "orphaned_at": None,
            "has_handler": True, "declared": False, "source": None, "queue": "low",
            "timeout": 60, "catchup": "all", "max_age": "2d",
        },
        {
            "name": "testapp.noop", "spec": "@hourly", "timezone": "UTC",
            "paused": True, "paused_reason": "holiday", "paused_by": "alice",
            "paused_at": "2026-11-27T12:00:00+00:00", "next_run_at": None,
            "last_status": None, "overdue_since": None, "orphaned_at": None,
            "has_handler": True, "declared": False, "source": None, "queue": None,
            "timeout": None, "catchup": "latest", "max_age": None,
        },
    ]  # fmt: skip
    assert err == ""


@pytest.mark.django_db
def test_list__json_of_no_schedules_is_an_empty_array():
    assert scheduler("list", "--json") == ("[]\n", "")


@pytest.mark.django_db
def test_list__default_zone_is_the_timezone_setting(clock_at, service, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "TIMEZONE": "America/New_York"}
    service.schedule("testapp.noop", "0 9 * * *")

    out, _ = scheduler("list")

    assert out.splitlines()[1].split() == [
        "testapp.noop", "0", "9", "*", "*", "*", "America/New_York", "active",
        "2026-11-27T09:00:00-05:00", "-",
    ]  # fmt: skip


@pytest.mark.django_db
def test_list__a_zone_unknown_to_zoneinfo_shows_the_row_in_utc(clock_at):
    ScheduledJob.objects.create(
        name="testapp.noop",
        spec="@daily",
        timezone="Atlantis/Capital",
        next_run_at=clock_at,
    )

    out, err = scheduler("list")

    assert out.splitlines()[1].split() == [
        "testapp.noop", "@daily", "Atlantis/Capital", "active", "2026-11-27T12:00:00+00:00", "-",
    ]  # fmt: skip
    assert err == ""


@pytest.mark.django_db
def test_list__options_after_the_subcommand(clock_at):
    # Django's own options are accepted after the subcommand, as for any command.
    assert scheduler("list", "--verbosity", "2", "--no-color") == (
        "No schedules.\n",
        "",
    )


# runs


def make_runs(now):
    Run.objects.create(
        id=7, job="testapp.noop", status="done", trigger="schedule",
        scheduled_for=now - timedelta(minutes=5),
        started_at=now - timedelta(minutes=5) + timedelta(seconds=0.25),
        finished_at=now - timedelta(minutes=5) + timedelta(seconds=1.75),
    )  # fmt: skip
    Run.objects.create(
        id=8, job="testapp.fails", status="failed", trigger="manual",
        started_at=now - timedelta(minutes=1), finished_at=now - timedelta(seconds=58),
        error=TRACEBACK,
    )  # fmt: skip
    Run.objects.create(
        id=12, job="testapp.noop", status="queued", trigger="catchup", scheduled_for=now
    )


@pytest.mark.django_db
def test_runs__table_newest_first(now):
    make_runs(now)

    out, err = scheduler("runs")

    assert out == (
        "ID  JOB            STATUS  TRIGGER   SCHEDULED FOR              STARTED                    SECONDS  ERROR\n"
        "12  testapp.noop   queued  catchup   2026-11-27T12:00:00+00:00  -                          -        -\n"
        "8   testapp.fails  failed  manual    -                          2026-11-27T11:59:00+00:00  2.000    RuntimeError: this job always fails\n"
        "7   testapp.noop   done    schedule  2026-11-27T11:55:00+00:00  2026-11-27T11:55:00+00:00  1.500    -\n"
    )
    assert err == ""


@pytest.mark.django_db
def test_runs__no_runs():
    assert scheduler("runs") == ("No runs.\n", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "ids"),
    [
        (("--job", "testapp.noop"), ["12", "7"]),
        (("--status", "failed"), ["8"]),
        (("--job", "testapp.noop", "--status", "done"), ["7"]),
        (("--limit", "2"), ["12", "8"]),
        (("--job", "testapp.no_args"), []),
    ],
)
def test_runs__filters_and_limit(now, args, ids):
    make_runs(now)

    out, _ = scheduler("runs", *args)

    assert [line.split()[0] for line in out.splitlines()[1:]] == ids
    if not ids:
        assert out == "No runs.\n"


@pytest.mark.django_db
def test_runs__json_newest_first_with_stable_keys(now, settings):
    import json

    settings.TOGO_SCHEDULER = {"QUEUE": None, "TIMEZONE": "Asia/Kolkata"}
    make_runs(now)
    Run.objects.update(created_at=now - timedelta(hours=1))
    Run.objects.filter(pk=8).update(queue="low", worker="web-1:42")

    out, err = scheduler("runs", "--json", "--limit", "2")

    created = "2026-11-27T16:30:00+05:30"
    assert json.loads(out) == [
        {
            "id": 12, "job": "testapp.noop", "status": "queued", "trigger": "catchup",
            "scheduled_for": "2026-11-27T17:30:00+05:30", "created_at": created,
            "started_at": None, "finished_at": None, "duration": None,
            "queue": None, "worker": None, "error": None,
        },
        {
            "id": 8, "job": "testapp.fails", "status": "failed", "trigger": "manual",
            "scheduled_for": None, "created_at": created,
            "started_at": "2026-11-27T17:29:00+05:30",
            "finished_at": "2026-11-27T17:29:02+05:30", "duration": 2.0,
            "queue": "low", "worker": "web-1:42", "error": TRACEBACK,
        },
    ]  # fmt: skip
    assert err == ""
    assert scheduler("runs", "--json", "--job", "nope") == ("[]\n", "")


@pytest.mark.django_db
def test_runs__times_in_the_timezone_setting(now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "TIMEZONE": "Asia/Kolkata"}
    make_runs(now)

    out, _ = scheduler("runs", "--limit", "1")

    assert out.splitlines()[1].split()[4:6] == ["2026-11-27T17:30:00+05:30", "-"]


# trigger, pause, resume


def scheduler_exits(code, *args):
    """Run a command that must end with ``CommandError`` and ``code``; (stdout, message)."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("scheduler", *args, stdout=out, stderr=err)
    assert excinfo.value.returncode == code
    return out.getvalue(), str(excinfo.value)


@pytest.mark.django_db
def test_trigger__no_scheduler__runs_it_here_and_waits_for_it(clock_at):
    out, err = scheduler("trigger", "testapp.noop")

    run = Run.objects.get()
    assert (run.job, run.status, run.trigger, run.scheduled_for) == (
        "testapp.noop",
        "done",
        "manual",
        None,
    )
    assert out.splitlines() == [
        f"Run #{run.pk} of testapp.noop: no scheduler is running: running it here.",
        f"Run #{run.pk} of testapp.noop done in 0.000 s.",
    ]
    assert err == ""


@pytest.mark.django_db
def test_trigger__a_live_scheduler_gets_it(clock_at):
    live_scheduler(clock_at)

    out, err = scheduler("trigger", "testapp.noop")

    run = Run.objects.get()
    assert (run.status, run.dispatched_at) == ("queued", None)  # its next tick
    assert out == (
        f"Run #{run.pk} of testapp.noop handed to the running scheduler "
        "web-1:42 (not started yet).\n"
    )


@pytest.mark.django_db
def test_trigger__through_rq_says_which_queue(clock_at, settings):
    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}

    out, _ = scheduler("trigger", "testapp.noop")

    run = Run.objects.get()
    assert out == f"Run #{run.pk} of testapp.noop queued on RQ queue 'togo'.\n"


@pytest.mark.django_db
def test_trigger__wait_exits_1_when_the_run_failed(clock_at):
    out, message = scheduler_exits(1, "trigger", "testapp.fails", "--wait")

    run = Run.objects.get()
    assert out.splitlines() == [
        f"Run #{run.pk} of testapp.fails: no scheduler is running: running it here.",
        f"Run #{run.pk} of testapp.fails failed in 0.000 s: "
        "RuntimeError: this job always fails",
    ]
    assert message == f"run #{run.pk} of testapp.fails failed"


@pytest.mark.django_db
def test_trigger__wait_exits_0_when_done(clock_at):
    out, _ = scheduler("trigger", "testapp.noop", "--wait")
    assert out.splitlines()[-1].endswith(" done in 0.000 s.")


@pytest.mark.django_db
def test_trigger__skipped_while_a_run_is_in_flight():
    busy = Run.objects.create(job="testapp.noop", status="running")

    out, _ = scheduler("trigger", "testapp.noop")

    run = Run.objects.exclude(pk=busy.pk).get()
    assert (run.status, run.trigger) == ("skipped", "manual")
    assert (
        out
        == f"Run #{run.pk} of testapp.noop skipped: its previous run is still in flight.\n"
    )
    out, message = scheduler_exits(1, "trigger", "testapp.noop", "--wait")
    assert out.endswith("skipped: its previous run is still in flight.\n")
    assert message.endswith(" of testapp.noop was skipped")


# run


@pytest.mark.django_db
def test_run__streams_the_jobs_log_lines_and_its_start_and_end(clock_at, settings):
    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}  # here all the same

    out, err = scheduler("run", "testapp.chatty")

    run = Run.objects.get()
    assert (run.status, run.trigger, run.queue) == ("done", "manual", "")
    assert out.splitlines() == [
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.chatty' "
        f"started on {run.worker}.",
        f"INFO django_togo_scheduler.jobs.testapp.chatty: step one of run {run.pk}",
        "WARNING django_togo_scheduler.jobs.testapp.chatty: step two",
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.chatty' "
        "done in 0.000 s.",
    ]
    assert err == ""
    # The loggers are as they were.
    assert logging.getLogger("django_togo_scheduler.jobs.testapp.chatty").level == 0
    assert not logging.getLogger("django_togo_scheduler.execution").handlers


@pytest.mark.django_db
def test_run__failed_prints_the_traceback_and_exits_1(clock_at):
    out, message = scheduler_exits(1, "run", "testapp.fails")

    run = Run.objects.get()
    lines = out.splitlines()
    assert lines[:3] == [
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.fails' "
        f"started on {run.worker}.",
        f"ERROR django_togo_scheduler.execution: Run {run.pk} of 'testapp.fails' failed.",
        f"INFO django_togo_scheduler.execution: Run {run.pk} of 'testapp.fails' "
        "failed in 0.000 s.",
    ]
    assert "\n".join(lines[3:]) == run.error.rstrip()
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: this job always fails"
    assert message == f"run #{run.pk} of testapp.fails failed"


@pytest.mark.django_db
def test_run__skipped_while_a_run_is_in_flight_exits_1():
    busy = Run.objects.create(job="testapp.noop", status="running")

    out, message = scheduler_exits(1, "run", "testapp.noop")

    run = Run.objects.exclude(pk=busy.pk).get()
    assert run.status == "skipped"
    assert out == (
        f"Run #{run.pk} of testapp.noop skipped: its previous run is still in flight.\n"
    )
    assert message == f"run #{run.pk} of testapp.noop was skipped"


@pytest.mark.django_db
def test_pause__pauses_with_the_reason(clock_at, service):
    service.schedule("testapp.noop", "@hourly")

    out, err = scheduler("pause", "testapp.noop", "--reason", "maintenance window")

    job = ScheduledJob.objects.get()
    assert (job.paused, job.paused_reason) == (True, "maintenance window")
    assert (out, err) == ("Paused testapp.noop.\n", "")


@pytest.mark.django_db
def test_resume__restarts_from_the_next_slot_in_the_jobs_zone(clock_at, service):
    service.schedule("testapp.noop", "30 8 * * *", timezone="Asia/Tokyo")
    service.pause("testapp.noop")
    ScheduledJob.objects.update(next_run_at=clock_at - timedelta(days=3))

    out, err = scheduler("resume", "testapp.noop")

    job = ScheduledJob.objects.get()
    assert not job.paused
    assert job.next_run_at == datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert (out, err) == (
        "Resumed testapp.noop; next run 2026-11-28T08:30:00+09:00.\n",
        "",
    )


# next


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ("*/20 * * * *",),
            [
                "2026-11-27T12:20:00+00:00",
                "2026-11-27T12:40:00+00:00",
                "2026-11-27T13:00:00+00:00",
                "2026-11-27T13:20:00+00:00",
                "2026-11-27T13:40:00+00:00",
            ],
        ),
        (
            ("0 9 * * 1-5", "--count", "3", "--timezone", "Europe/Berlin"),
            [
                "2026-11-30T09:00:00+01:00",
                "2026-12-01T09:00:00+01:00",
                "2026-12-02T09:00:00+01:00",
            ],
        ),
        (
            ("@every 90m", "--count", "2"),
            ["2026-11-27T13:30:00+00:00", "2026-11-27T15:00:00+00:00"],
        ),
        (
            ("@monthly", "--count", "1", "--timezone", "UTC"),
            ["2026-12-01T00:00:00+00:00"],
        ),
    ],
)
def test_next__one_iso_time_a_line(clock_at, args, lines):
    assert scheduler("next", *args) == ("".join(f"{line}\n" for line in lines), "")


def test_next__offsets_follow_daylight_saving(monkeypatch):
    # Berlin skips 02:00-03:00 on 2027-03-28: the 02:30 slot fires at 03:00 CEST.
    monkeypatch.setattr(
        "django_togo_scheduler.clock.now", lambda: datetime(2027, 3, 26, 12, tzinfo=UTC)
    )

    out, _ = scheduler(
        "next", "30 2 * * *", "--count", "3", "--timezone", "Europe/Berlin"
    )

    assert out.splitlines() == [
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


def test_next__default_zone_is_the_timezone_setting(clock_at, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "TIMEZONE": "America/Los_Angeles"}

    out, _ = scheduler("next", "@daily", "--count", "2")

    assert out == "2026-11-28T00:00:00-08:00\n2026-11-29T00:00:00-08:00\n"


def test_next__count_bounds_are_inclusive(clock_at):
    assert (
        len(scheduler("next", "* * * * *", "--count", "1000")[0].splitlines()) == 1000
    )


def test_next__non_integer_count_is_a_usage_error():
    with pytest.raises(CommandError, match="argument --count: invalid int value: 'x'"):
        scheduler("next", "* * * * *", "--count", "x")


# prune


def make_finished_runs(now):
    day = timedelta(days=1)
    for status, finished in [
        ("done", 31 * day),
        ("failed", 45 * day),
        ("skipped", 30 * day + timedelta(minutes=1)),
    ]:
        Run.objects.create(
            job="testapp.noop", status=status, finished_at=now - finished
        )
    Run.objects.create(job="testapp.noop", status="done", finished_at=now - 29 * day)
    Run.objects.create(
        job="testapp.noop", status="done", finished_at=now - timedelta(minutes=30)
    )
    Run.objects.create(job="testapp.noop", status="queued")
    Run.objects.create(job="testapp.slow", status="running", started_at=now - 60 * day)


@pytest.mark.django_db
def test_prune__default_retention_keeps_recent_and_in_flight_runs(clock_at):
    make_finished_runs(clock_at)

    assert scheduler("prune") == (
        "Deleted 3 run(s) that finished more than 30d ago.\n",
        "",
    )
    assert sorted(Run.objects.values_list("status", flat=True)) == [
        "done",
        "done",
        "queued",
        "running",
    ]


@pytest.mark.django_db
def test_prune__older_than(clock_at):
    make_finished_runs(clock_at)

    assert (
        scheduler("prune", "--older-than", "1d")[0]
        == "Deleted 4 run(s) that finished more than 1d ago.\n"
    )
    assert (
        scheduler("prune", "--older-than", "10m")[0]
        == "Deleted 1 run(s) that finished more than 10m ago.\n"
    )
    assert sorted(Run.objects.values_list("status", flat=True)) == ["queued", "running"]


@pytest.mark.django_db
def test_prune__retention_from_the_setting(clock_at, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": "40d"}
    make_finished_runs(clock_at)

    assert (
        scheduler("prune")[0] == "Deleted 1 run(s) that finished more than 40d ago.\n"
    )


@pytest.mark.django_db
def test_prune__no_duration_at_all_exits_2(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": None}
    Run.objects.create(
        job="testapp.noop", status="done", finished_at=datetime(2000, 1, 1, tzinfo=UTC)
    )

    assert scheduler_fails("prune") == (
        "",
        "scheduler prune: no --older-than given and RUN_RETENTION is not set\n",
    )
    assert Run.objects.count() == 1


# prune --orphans


def make_orphans(now, registry):
    """Two orphaned schedules (one with runs), one this code declares, others."""
    registry.register("test.declared_here", lambda: None, schedule="@daily")
    ScheduledJob.objects.create(
        name="old.report", spec="@daily", declared=True,
        orphaned_at=now - timedelta(days=3),
    )  # fmt: skip
    ScheduledJob.objects.create(
        name="old.sync", spec="@hourly", declared=True, paused=True,
        orphaned_at=now - timedelta(hours=1),
    )  # fmt: skip
    # Orphaned by an older process whose code lacks it: declared here again.
    ScheduledJob.objects.create(
        name="test.declared_here", spec="@daily", declared=True,
        orphaned_at=now - timedelta(days=30),
    )  # fmt: skip
    ScheduledJob.objects.create(name="testapp.noop", spec="@hourly", declared=True)
    ScheduledJob.objects.create(name="testapp.slow", spec="@hourly")  # API-made
    Run.objects.create(job="old.report", status="done", finished_at=now)


@pytest.mark.django_db
def test_prune__orphans_deletes_the_orphaned_schedules_and_keeps_their_runs(
    clock_at, registry, settings
):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": None}
    make_orphans(clock_at, registry)

    assert scheduler("prune", "--orphans") == (
        "Deleted 2 orphaned schedule(s): old.report, old.sync. Their run history "
        "stays.\n",
        "",
    )
    assert list(
        ScheduledJob.objects.order_by("name").values_list("name", "orphaned_at")
    ) == [
        ("test.declared_here", None),
        ("testapp.noop", None),
        ("testapp.slow", None),
    ]
    assert Run.objects.filter(job="old.report").count() == 1
    assert scheduler("prune", "--orphans") == (
        "Deleted 0 orphaned schedule(s).\n",
        "",
    )


@pytest.mark.django_db
def test_prune__orphans_older_than(clock_at, registry):
    make_orphans(clock_at, registry)

    assert scheduler("prune", "--orphans", "--older-than", "2d") == (
        "Deleted 1 orphaned schedule(s) orphaned more than 2d ago: old.report. "
        "Their run history stays.\n",
        "",
    )
    assert ScheduledJob.objects.filter(orphaned_at__isnull=False).get().name == (
        "old.sync"
    )
    assert Run.objects.count() == 1  # runs are not pruned with --orphans


# help texts


# explain's positional name gets its help text with explain's rework.
HELP_OWNED_ELSEWHERE = {("explain", "name")}


def test_help__every_subcommand_and_option_has_a_help_text():
    import argparse

    from django_togo_scheduler.management.commands.scheduler import Command

    parser = Command().create_parser("manage.py", "scheduler")
    (subparsers,) = [
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    lines = {action.dest: action.help for action in subparsers._choices_actions}
    missing = []
    for name, sub in subparsers.choices.items():
        if not lines.get(name) or sub.description != lines[name]:
            missing.append((name, "(help line and description)"))
        missing.extend(
            (name, action.dest)
            for action in sub._actions
            if not action.help or action.help == argparse.SUPPRESS
        )

    assert set(subparsers.choices) >= {
        "list",
        "runs",
        "trigger",
        "run",
        "pause",
        "resume",
        "next",
        "prune",
        "status",
        "explain",
    }
    assert [m for m in missing if m not in HELP_OWNED_ELSEWHERE] == []


# bad input


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("trigger", "nope"),
            "scheduler trigger: No job handler is registered under the name 'nope'.",
        ),
        (
            ("pause", "testapp.noop"),
            "scheduler pause: There is no schedule named 'testapp.noop'.",
        ),
        (("resume", "nope"), "scheduler resume: There is no schedule named 'nope'."),
        (
            ("next", "* * * * *", "--count", "0"),
            "scheduler next: --count must be between 1 and 1000, not 0",
        ),
        (
            ("next", "* * * * *", "--count", "1001"),
            "scheduler next: --count must be between 1 and 1000, not 1001",
        ),
        (
            ("runs", "--status", "lost"),
            "scheduler runs: Unknown run status 'lost'; one of queued, running, done, failed, skipped.",
        ),
        (("runs", "--limit", "0"), "scheduler runs: --limit must be at least 1, not 0"),
    ],
)
def test_bad_input__exits_2_with_one_line_on_stderr(args, line):
    assert scheduler_fails(*args) == ("", f"{line}\n")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "func", "value"),
    [
        (("next", "bad spec"), validate_spec, "bad spec"),
        (("next", "61 * * * *"), validate_spec, "61 * * * *"),
        (("next", "@every 0s", "--count", "2"), validate_spec, "@every 0s"),
        (("next", "0 0 31 2 *"), validate_spec, "0 0 31 2 *"),
        (("next", "* * * * *", "--timezone", "Mars/Base"), get_timezone, "Mars/Base"),
        (("prune", "--older-than", "3x"), parse_duration, "3x"),
    ],
)
def test_bad_input__spec_zone_and_duration_errors_exit_2(args, func, value):
    message = error_of(func, value)
    assert repr(value) in message  # the line names what is wrong
    assert scheduler_fails(*args) == ("", f"scheduler {args[0]}: {message}\n")


@pytest.mark.django_db
def test_bad_input__changes_nothing():
    scheduler_fails("pause", "nope")
    scheduler_fails("trigger", "nope")
    assert not Run.objects.exists() and not ScheduledJob.objects.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr"),
    [
        (
            ["next", "bad spec"],
            2,
            "",
            f"CommandError: scheduler next: {error_of(validate_spec, 'bad spec')}\n",
        ),
        (["next", "@yearly", "--count", "2", "--timezone", "Asia/Tokyo"], 0, None, ""),
        (
            ["next", "* * * * *", "--count", "many"],
            2,
            "",
            "__main__.py scheduler next: error: argument --count: invalid int value: 'many'\n",
        ),
    ],
)
def test_subprocess__exit_status_and_stderr(args, code, stdout, stderr):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "scheduler",
            *args,
            "--settings",
            "tests.settings",
        ],
        cwd=ROOT,
        env={**os.environ, "TOGO_TEST_DB": "sqlite", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode, result.stderr) == (code, stderr)
    if stdout is not None:
        assert result.stdout == stdout
    else:
        lines = result.stdout.splitlines()
        assert len(lines) == 2
        assert all(
            line.startswith("20") and line.endswith("-01-01T00:00:00+09:00")
            for line in lines
        )


@pytest.mark.slow
def test_subprocess__a_bad_spec_in_a_jobs_module_fails_cleanly():
    # tests.badjobs declares "0 25 * * *": before, the import in
    # AppConfig.ready raised, and every command printed a traceback.
    result = subprocess.run(
        [sys.executable, "-m", "django", "scheduler", "list"]
        + ["--settings", "tests.settings_badjobs"],
        cwd=ROOT,
        env={**os.environ, "TOGO_TEST_DB": "sqlite", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode, result.stdout) == (2, "")  # invalid input
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("SystemCheckError: System check identified")
    assert (
        "(django_togo_scheduler.E002) @job('badjobs.typo'): "
        f"{error_of(validate_spec, '0 25 * * *')}\n" in result.stderr
    )


# overdue in list and status


@pytest.mark.django_db
def test_list__overdue_schedules_say_since_when(clock_at, service):
    service.schedule("testapp.noop", "@hourly", max_age="2h", timezone="Asia/Tokyo")
    service.schedule("testapp.no_args", "@hourly")
    ScheduledJob.objects.filter(name="testapp.noop").update(
        overdue_since=clock_at - timedelta(minutes=30)
    )

    out, _ = scheduler("list")

    assert out.splitlines()[1:] == [
        "testapp.no_args  @hourly  UTC         active                                           2026-11-27T13:00:00+00:00  -",
        "testapp.noop     @hourly  Asia/Tokyo  active, overdue since 2026-11-27T20:30:00+09:00  2026-11-27T22:00:00+09:00  -",
    ]


def live_scheduler(now):
    from django_togo_scheduler.models import SchedulerProcess

    SchedulerProcess.objects.create(
        host="web-1", pid=42, started_at=now - timedelta(hours=1), last_tick_at=now
    )


def mark_overdue(now):
    for name, since in [
        ("testapp.slow", now - timedelta(hours=3)),
        ("testapp.noop", now),
    ]:
        ScheduledJob.objects.create(
            name=name, spec="@hourly", max_age="1h", overdue_since=since
        )
    ScheduledJob.objects.create(name="testapp.fails", spec="@hourly", max_age="1h")


@pytest.mark.django_db
def test_status__fail_on_overdue_exits_1_and_names_them(clock_at):
    live_scheduler(clock_at)
    mark_overdue(clock_at)

    out, message = scheduler_exits(1, "status", "--fail-on-overdue")

    assert out.splitlines() == [
        "SCHEDULER  STARTED                    LAST TICK                  AGE     ABANDONED",
        "web-1:42   2026-11-27T11:00:00+00:00  2026-11-27T12:00:00+00:00  0s ago  0",
        "Overdue: testapp.noop (since 2026-11-27T12:00:00+00:00), testapp.slow (since 2026-11-27T09:00:00+00:00)",
    ]
    assert message == "2 schedule(s) overdue"


@pytest.mark.django_db
def test_status__overdue_is_shown_but_only_fails_with_the_flag(clock_at):
    live_scheduler(clock_at)
    ScheduledJob.objects.create(name="testapp.fails", spec="@hourly", max_age="1h")

    out, err = scheduler("status", "--fail-on-overdue")  # nothing overdue: exit 0
    assert (len(out.splitlines()), err) == (2, "")

    ScheduledJob.objects.update(overdue_since=clock_at)
    out, err = scheduler("status")  # shown; without the flag, still exit 0
    assert out.splitlines()[2:] == [
        "Overdue: testapp.fails (since 2026-11-27T12:00:00+00:00)"
    ]


@pytest.mark.django_db
def test_status__no_scheduler_and_overdue_lists_both(clock_at):
    mark_overdue(clock_at)

    out, message = scheduler_exits(1, "status")

    assert out.splitlines()[0] == "No scheduler ticked within 30s."
    assert out.splitlines()[1].startswith("Overdue: testapp.noop")
    assert message == "no scheduler ticked within 30s"


def handed_out(now, job, queue, ago):
    return Run.objects.create(
        job=job, trigger="manual", queue=queue, dispatched_at=now - ago
    )


@pytest.mark.django_db
def test_status__runs_handed_out_but_not_started_fail_it_by_queue(clock_at):
    from django_togo_scheduler.models import SchedulerProcess

    live_scheduler(clock_at)
    SchedulerProcess.objects.update(abandoned_threads=3)
    minute = timedelta(minutes=1)
    stuck = [
        handed_out(clock_at, f"testapp.tick{i}", "togo", 6 * minute) for i in range(12)
    ]
    inline = handed_out(clock_at, "testapp.noop", "", 10 * minute)
    handed_out(clock_at, "testapp.slow", "togo", 4 * minute)  # younger than 5m
    Run.objects.create(job="testapp.fails", trigger="manual")  # in the outbox: waits
    Run.objects.create(
        job="testapp.no_args",
        status="running",
        dispatched_at=clock_at - 9 * minute,
        started_at=clock_at - 9 * minute,
    )

    out, message = scheduler_exits(1, "status")

    named = ", ".join(f"#{run.pk} {run.job}" for run in stuck[:10])
    assert out.splitlines()[1:] == [
        "web-1:42   2026-11-27T11:00:00+00:00  2026-11-27T12:00:00+00:00  0s ago  3",
        "Abandoned threads: web-1:42 has 3 (inline handlers still running past their "
        "timeout: they cannot be stopped; a restart of the scheduler frees them)",
        f"Unstarted for more than 5m: inline: #{inline.pk} testapp.noop "
        "(the inline pool holding them is full or hung)",
        f"Unstarted for more than 5m: RQ queue 'togo': {named} and 2 more "
        "(is an rqworker running for it?)",
    ]
    assert message == "13 run(s) handed out more than 5m ago have not started"
    out, _ = scheduler("status", "--unstarted-after", "11m")
    assert "Unstarted" not in out


@pytest.mark.django_db
def test_status__json(clock_at):
    live_scheduler(clock_at)
    mark_overdue(clock_at)
    run = handed_out(clock_at, "testapp.noop", "", timedelta(minutes=6))

    out, message = scheduler_exits(1, "status", "--json")

    assert json.loads(out) == {
        "healthy": False,
        "problems": ["1 run(s) handed out more than 5m ago have not started"],
        "schedulers": [
            {
                "scheduler": "web-1:42",
                "host": "web-1",
                "pid": 42,
                "started_at": "2026-11-27T11:00:00+00:00",
                "last_tick_at": "2026-11-27T12:00:00+00:00",
                "age_seconds": 0.0,
                "abandoned_threads": 0,
            }
        ],
        "overdue": [
            {"name": "testapp.noop", "since": "2026-11-27T12:00:00+00:00"},
            {"name": "testapp.slow", "since": "2026-11-27T09:00:00+00:00"},
        ],
        "unstarted_count": 1,
        "unstarted": [
            {
                "id": run.pk,
                "job": "testapp.noop",
                "queue": "",
                "dispatched_at": "2026-11-27T11:54:00+00:00",
            }
        ],
    }
    run.delete()
    out, err = scheduler("status", "--json")
    assert json.loads(out)["healthy"] is True and err == ""


@pytest.mark.django_db
def test_status__bad_unstarted_after_exits_2(clock_at):
    _, err = scheduler_fails("status", "--unstarted-after", "soon")
    assert err.startswith("scheduler status: 'soon' is not a duration")


# explain


@pytest.mark.django_db
def test_explain__prints_the_explanation(clock_at):
    ScheduledJob.objects.create(
        name="testapp.noop", spec="30 2 * * *", timezone="Europe/Berlin",
        next_run_at=datetime(2026, 11, 28, 1, 30, tzinfo=UTC),
    )  # fmt: skip
    ScheduledJob.objects.update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    run = Run.objects.create(
        job="testapp.noop", status="failed",
        scheduled_for=datetime(2026, 3, 29, 1, tzinfo=UTC),
        started_at=datetime(2026, 3, 29, 1, tzinfo=UTC),
        finished_at=datetime(2026, 3, 29, 1, 0, 2, tzinfo=UTC), error=TRACEBACK,
    )  # fmt: skip

    out, err = scheduler("explain", "testapp.noop", "--at", "2026-03-29T12:00")

    assert err == ""
    assert out == (
        "Schedule: testapp.noop  30 2 * * *  (Europe/Berlin, catchup=latest)\n"
        "At:       2026-03-29T12:00:00+02:00\n"
        "Slot:     2026-03-29T03:00:00+02:00\n"
        "Decision: ran, failed\n"
        "Reason:   fired at its slot; the run failed: RuntimeError: this job always fails\n"
        f"Run:      #{run.pk} failed, trigger schedule, started 2026-03-29T03:00:00+02:00, "
        "finished 2026-03-29T03:00:02+02:00, error: RuntimeError: this job always fails\n"
        "Next:     2026-11-28T02:30:00+01:00, 2026-11-29T02:30:00+01:00, 2026-11-30T02:30:00+01:00\n"
    )


@pytest.mark.django_db
def test_explain__default_time_is_now(clock_at):
    ScheduledJob.objects.create(
        name="testapp.noop", spec="*/5 * * * *", next_run_at=clock_at
    )

    out, _ = scheduler("explain", "testapp.noop")

    assert out.splitlines()[1:4] == [
        "At:       2026-11-27T12:00:00+00:00",
        "Slot:     2026-11-27T12:00:00+00:00",
        "Decision: scheduler down",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("nope",), "There is no schedule named 'nope'."),
        (
            ("testapp.noop", "--at", "29.03.2026"),
            "invalid time '29.03.2026': expected ISO 8601, e.g. 2026-03-29T02:30 "
            "or 2026-03-29T02:30:00+02:00",
        ),
    ],
)
def test_explain__bad_input_exits_2(clock_at, args, line):
    ScheduledJob.objects.create(
        name="testapp.noop", spec="@hourly", next_run_at=clock_at
    )

    assert scheduler_fails("explain", *args) == ("", f"scheduler explain: {line}\n")
