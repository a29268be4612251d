"""``manage.py runscheduler --once``: sync the declared schedules, then one tick.

The inline pool runs jobs in its own threads, with their own database
connections: those tests use ``transactional_db`` so the threads see the rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import job
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.specs import get_timezone, validate_spec

PREFIX = "Cannot sync the declared schedules: "


def error_of(func, value):
    """The message specs.py gives for a bad value (its wording is specs.py's business)."""
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


@pytest.fixture(autouse=True)
def fresh_service():
    """The process's service remembers its last tick: start each test without one."""
    get_scheduler.cache_clear()
    yield
    get_scheduler.cache_clear()


@pytest.fixture
def clock_at(monkeypatch, now):
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: now)
    return now


@pytest.fixture
def declared(registry):
    """Two jobs that declare schedules in code."""

    @job("togo.code_only", schedule="*/10 * * * *", timezone="Asia/Tokyo", timeout=30)
    def code_only(ctx):
        pass

    @job("togo.both", schedule="* * * * *", catchup="all")
    def both(ctx):
        pass

    return registry


def runscheduler_once():
    out, err = StringIO(), StringIO()
    call_command("runscheduler", "--once", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def schedules():
    return {
        job.name: (
            job.spec,
            job.timezone,
            job.timeout,
            job.catchup,
            job.paused,
            job.next_run_at,
        )
        for job in ScheduledJob.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_once__syncs_decorator_and_setting_schedules_setting_wins(
    clock_at, declared, settings
):
    settings.TOGO_SCHEDULER = {
        "QUEUE": None,
        "SCHEDULE": {
            "togo.both": {"spec": "0 7 * * *", "timezone": "Europe/Berlin"},
            "testapp.noop": "@hourly",
        },
    }

    assert runscheduler_once() == ("", "")

    assert schedules() == {
        "togo.code_only": ("*/10 * * * *", "Asia/Tokyo", 30, "latest", False, datetime(2026, 11, 27, 12, 10, tzinfo=UTC)),
        # The setting's entry replaces the decorator's, options included.
        "togo.both": ("0 7 * * *", "Europe/Berlin", None, "latest", False, datetime(2026, 11, 28, 6, 0, tzinfo=UTC)),
        "testapp.noop": ("@hourly", "", None, "latest", False, datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
    }  # fmt: skip
    # Nothing was due yet: a new schedule does not fire at creation.
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_once__runs_one_tick_that_executes_due_jobs_inline(clock_at, settings):
    settings.TOGO_SCHEDULER = {
        "QUEUE": None,
        "SCHEDULE": {"testapp.noop": "*/5 * * * *"},
    }
    # Declared as it already is in the database: the pending slot is kept, and due.
    ScheduledJob.objects.create(
        name="testapp.noop", spec="*/5 * * * *", next_run_at=clock_at
    )
    ScheduledJob.objects.create(
        name="testapp.fails", spec="@hourly", next_run_at=clock_at - timedelta(hours=1)
    )
    ScheduledJob.objects.create(
        name="testapp.no_args",
        spec="@daily",
        next_run_at=clock_at + timedelta(hours=12),
    )

    assert runscheduler_once() == ("", "")

    runs = {
        run.job: (run.status, run.trigger, run.scheduled_for)
        for run in Run.objects.all()
    }  # fmt: skip
    assert runs == {
        "testapp.noop": ("done", "schedule", clock_at),
        # catchup="latest": of the two due slots only the newest fires.
        "testapp.fails": ("failed", "schedule", clock_at),
    }
    assert (
        "RuntimeError: this job always fails"
        in Run.objects.get(job="testapp.fails").error
    )
    assert dict(ScheduledJob.objects.values_list("name", "next_run_at")) == {
        "testapp.noop": clock_at + timedelta(minutes=5),
        "testapp.fails": clock_at + timedelta(hours=1),
        "testapp.no_args": clock_at + timedelta(hours=12),
    }


@pytest.mark.django_db
def test_once__keeps_paused_and_the_pending_slot_of_unchanged_schedules(
    clock_at, declared, settings
):
    settings.TOGO_SCHEDULER = {"QUEUE": None}
    pending = clock_at + timedelta(seconds=30)
    ScheduledJob.objects.create(
        name="togo.both",
        spec="* * * * *",
        catchup="all",
        paused=True,
        paused_reason="by hand",
        next_run_at=pending,
    )

    runscheduler_once()

    job = ScheduledJob.objects.get(name="togo.both")
    assert (job.paused, job.paused_reason, job.next_run_at) == (
        True,
        "by hand",
        pending,
    )
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_once__nothing_declared_nothing_due(clock_at):
    assert runscheduler_once() == ("", "")
    assert not ScheduledJob.objects.exists() and not Run.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"nope.missing": "@daily"},
            f"{PREFIX}SCHEDULE['nope.missing']: No job handler is registered under the name 'nope.missing'.",
        ),
        (
            {"testapp.noop": "61 * * * *"},
            f"{PREFIX}SCHEDULE['testapp.noop']: {error_of(validate_spec, '61 * * * *')}",
        ),
        (
            {"testapp.noop": {"spec": "@daily", "timezone": "Mars/Base"}},
            f"{PREFIX}SCHEDULE['testapp.noop']: {error_of(get_timezone, 'Mars/Base')}",
        ),
        (
            {"testapp.noop": {"spec": "@daily", "colour": "red"}},
            f"{PREFIX}SCHEDULE['testapp.noop']: unknown options ['colour'].",
        ),
        (
            {"testapp.noop": ["@daily"]},
            f"{PREFIX}SCHEDULE['testapp.noop'] must be a spec string or a dict with a 'spec' string, not ['@daily'].",
        ),
        (
            ["testapp.noop"],
            f"{PREFIX}TOGO_SCHEDULER['SCHEDULE'] must be a dict of name -> spec, not list.",
        ),
    ],
)
def test_once__bad_schedule_entry_fails_and_changes_nothing(
    clock_at, declared, settings, entry, message
):
    # A valid entry sorted before the bad one is not written either.
    schedule = (
        {"testapp.fails": "@hourly", **entry} if isinstance(entry, dict) else entry
    )
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": schedule}
    due = ScheduledJob.objects.create(
        name="testapp.no_args", spec="@hourly", next_run_at=clock_at
    )
    before = schedules()

    with pytest.raises(CommandError) as excinfo:
        runscheduler_once()

    assert str(excinfo.value) == message
    assert excinfo.value.returncode == 2  # invalid input
    assert schedules() == before
    assert list(ScheduledJob.objects.values_list("pk", flat=True)) == [due.pk]
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_once__bad_option_in_a_decorator_names_the_job(clock_at, registry, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None}
    job("togo.bad_zone", schedule="@daily", timezone="Nowhere/Special")(
        lambda ctx: None
    )

    with pytest.raises(CommandError) as excinfo:
        runscheduler_once()

    assert (
        str(excinfo.value)
        == f"{PREFIX}@job('togo.bad_zone'): {error_of(get_timezone, 'Nowhere/Special')}"
    )
    assert excinfo.value.returncode == 2

    assert not ScheduledJob.objects.exists()


@pytest.mark.django_db
def test_system_check_errors_exit_2(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "MISFIRE_GRACE": "soon"}

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("runscheduler", "--once", skip_checks=False)

    assert excinfo.value.returncode == 2
    assert "django_togo_scheduler.E001" in str(excinfo.value)
    assert not ScheduledJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("grace", ["-1", "nan", "inf"])
def test_grace__must_be_a_number_of_seconds(grace):
    with pytest.raises(CommandError) as excinfo:
        call_command("runscheduler", "--once", "--grace", grace)

    assert excinfo.value.returncode == 2
    assert str(excinfo.value).startswith(
        "--grace must be a number of seconds, 0 or more"
    )


@pytest.mark.django_db
def test_once__a_database_error_at_the_sync_exits_1(monkeypatch):
    from django.db import OperationalError

    def unreachable(now):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django_togo_scheduler.loop.sync_declared", unreachable)
    with pytest.raises(CommandError) as excinfo:
        runscheduler_once()

    assert excinfo.value.returncode == 1
    assert str(excinfo.value) == f"{PREFIX}connection refused"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("setting", "args", "line"),
    [
        (
            '{"QUEUE": None, "SCHEDULE": {"testapp.noop": "61 * * * *"}}',
            [],
            "SystemCheckError: System check identified some issues:\n\nERRORS:\n"
            "?: (django_togo_scheduler.E002) SCHEDULE['testapp.noop']: ",
        ),
        (
            '{"STALE_AFTER": 0}',
            [],
            "SystemCheckError: System check identified some issues:\n\nERRORS:\n"
            "?: (django_togo_scheduler.E001) ",
        ),
        # Past the checks, the sync refuses it before writing anything.
        (
            '{"QUEUE": None, "SCHEDULE": {"testapp.noop": "61 * * * *"}}',
            ["--skip-checks"],
            "CommandError: Cannot sync the declared schedules: SCHEDULE['testapp.noop']: ",
        ),
    ],
)
def test_subprocess__invalid_declaration_and_check_errors_exit_2(
    tmp_path, setting, args, line
):
    from tests.procs import ROOT, subprocess_env

    (tmp_path / "bad_settings.py").write_text(
        f"from tests.settings import *\nTOGO_SCHEDULER = {setting}\n"
    )
    env = subprocess_env()
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{tmp_path}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "runscheduler",
            "--settings=bad_settings",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(line), result.stderr
