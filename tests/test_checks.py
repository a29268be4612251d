"""System checks of the ``TOGO_SCHEDULER`` setting: one test (at least) per id."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_togo_scheduler.checks import check_queue, check_schedule, check_settings
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.registry import job
from django_togo_scheduler.specs import get_timezone, parse_duration, validate_spec

HINT_E003 = "Register a handler with @job or register(), in a module AUTODISCOVER imports (default: <app>/jobs.py)."


def error_of(func, value):
    """The message specs.py gives for a bad value (its wording is specs.py's business)."""
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


def run_all():
    return check_settings(None) + check_schedule(None) + check_queue(None)


def test_checks__a_full_valid_configuration_passes(settings):
    settings.RQ_QUEUES = {"low": {"URL": "redis://127.0.0.1:6379/0"}}
    settings.TOGO_SCHEDULER = {
        "QUEUE": "low",
        "TIMEZONE": "Europe/Berlin",
        "SCHEDULE": {
            "testapp.noop": "*/5 * * * *",
            "testapp.fails": {
                "spec": "@every 1h30m", "timezone": "Asia/Tokyo", "queue": "low", "timeout": 60,
                "catchup": "all", "max_age": "2h",
            },
        },
        "AUTODISCOVER": "jobs",
        "RUN_RETENTION": "7d",
        "CATCHUP_WINDOW": None,
        "MISFIRE_GRACE": "30s",
        "INLINE_WORKERS": 2,
        "MAX_SLEEP": 0.5,
        "STALE_AFTER": 60,
    }  # fmt: skip

    assert run_all() == []


def test_checks__no_setting_at_all_passes(settings):
    del settings.TOGO_SCHEDULER

    assert run_all() == []


# E001


def test_check_settings__e001_unknown_keys(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "QUEU": "default", "RETENTION": "1d"}

    assert check_settings(None) == [
        Error(
            "TOGO_SCHEDULER has unknown keys: QUEU, RETENTION.",
            hint="Known keys: AUTODISCOVER, CATCHUP_WINDOW, INLINE_WORKERS, MAX_SLEEP, "
            "MISFIRE_GRACE, QUEUE, RUN_RETENTION, SCHEDULE, STALE_AFTER, TIMEZONE.",
            id="django_togo_scheduler.E001",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RUN_RETENTION", "forever"),
        ("CATCHUP_WINDOW", 3600),
        ("CATCHUP_WINDOW", "0s"),
        ("MISFIRE_GRACE", None),
        ("MISFIRE_GRACE", "soon"),
    ],
)
def test_check_settings__e001_bad_duration(settings, key, value):
    settings.TOGO_SCHEDULER = {key: value}

    assert check_settings(None) == [
        Error(
            f"TOGO_SCHEDULER[{key!r}]: {error_of(parse_duration, value)}",
            id="django_togo_scheduler.E001",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value", "least"),
    [
        ("INLINE_WORKERS", 0, 1),
        ("INLINE_WORKERS", "many", 1),
        ("MAX_SLEEP", -1, 0.001),
        ("MAX_SLEEP", None, 0.001),
        ("STALE_AFTER", 0.5, 1),
    ],
)
def test_check_settings__e001_bad_number(settings, key, value, least):
    settings.TOGO_SCHEDULER = {key: value}

    assert check_settings(None) == [
        Error(
            f"TOGO_SCHEDULER[{key!r}] must be a number of at least {least}, not {value!r}.",
            id="django_togo_scheduler.E001",
        )
    ]


def test_check_settings__e001_setting_not_a_dict_and_the_other_checks_stay_quiet(
    settings,
):
    settings.TOGO_SCHEDULER = [("QUEUE", None)]

    assert run_all() == [
        Error(
            "TOGO_SCHEDULER must be a dict, not list.", id="django_togo_scheduler.E001"
        )
    ]


# E002


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            "@daily",
            "TOGO_SCHEDULER['SCHEDULE'] must be a dict of name -> spec, not str.",
        ),
        (
            {"testapp.noop": ["@daily"]},
            "SCHEDULE['testapp.noop'] must be a spec string or a dict with a 'spec' string, not ['@daily'].",
        ),
        (
            {"testapp.noop": {"timezone": "UTC"}},
            "SCHEDULE['testapp.noop'] must be a spec string or a dict with a 'spec' string, not {'timezone': 'UTC'}.",
        ),
    ],
)
def test_check_schedule__e002_bad_shape(settings, schedule, message):
    settings.TOGO_SCHEDULER = {"SCHEDULE": schedule}

    assert check_schedule(None) == [Error(message, id="django_togo_scheduler.E002")]


@pytest.mark.parametrize(
    ("entry", "spec"),
    [
        ("0 0 30 2 *", "0 0 30 2 *"),
        ("* * * * * *", "* * * * * *"),
        ("@reboot", "@reboot"),
        ({"spec": ""}, ""),
        ({"spec": "@every 1x", "timezone": "UTC"}, "@every 1x"),
    ],
)
def test_check_schedule__e002_invalid_spec(settings, entry, spec):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"testapp.noop": entry, "testapp.fails": "@hourly"}
    }

    assert check_schedule(None) == [
        Error(
            f"SCHEDULE['testapp.noop']: {error_of(validate_spec, spec)}",
            id="django_togo_scheduler.E002",
        )
    ]
    assert repr(spec) in error_of(validate_spec, spec)  # the message names the spec


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "SCHEDULE['testapp.noop']: unknown options ['colour']."),
        (
            {"catchup": "some"},
            "SCHEDULE['testapp.noop']: catchup must be one of ['latest', 'none', 'all'], not 'some'.",
        ),
        (
            {"timeout": 0},
            "SCHEDULE['testapp.noop']: timeout must be a number of seconds from 1 to 31536000, not 0.",
        ),
        (
            {"queue": 5},
            "SCHEDULE['testapp.noop']: queue must be a queue name (a string of at most 100 characters), not '5'.",
        ),
    ],
)
def test_check_schedule__e002_bad_option(settings, options, message):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"testapp.noop": {"spec": "@daily", **options}}
    }

    assert check_schedule(None) == [Error(message, id="django_togo_scheduler.E002")]


def test_check_schedule__e002_bad_timezone_option(settings):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"testapp.noop": {"spec": "@daily", "timezone": "Mars/Base"}}
    }

    assert check_schedule(None) == [
        Error(
            f"SCHEDULE['testapp.noop']: {error_of(get_timezone, 'Mars/Base')}",
            id="django_togo_scheduler.E002",
        )
    ]


def test_check_schedule__e002_bad_option_value_in_a_decorator(settings, registry):
    settings.TOGO_SCHEDULER = {}
    job("togo.code", schedule="@daily", catchup="everything")(lambda ctx: None)

    assert check_schedule(None) == [
        Error(
            "@job('togo.code'): catchup must be one of ['latest', 'none', 'all'], not 'everything'.",
            id="django_togo_scheduler.E002",
        )
    ]


@pytest.mark.parametrize(
    ("schedule", "options", "message"),
    [
        ("every day", {}, error_of(validate_spec, "every day")),
        ("0 0 30 2 *", {}, error_of(validate_spec, "0 0 30 2 *")),
        ("", {}, error_of(validate_spec, "")),
        ("@daily", {"timezone": "Moon/Base"}, error_of(get_timezone, "Moon/Base")),
        ("@daily", {"colour": "red"}, "unknown options ['colour']."),
        (None, {"colour": "red"}, "unknown options ['colour']."),
    ],
)
def test_check_schedule__e002_a_decorators_spec_zone_or_options(
    settings, registry, schedule, options, message
):
    # Recorded at import without raising; reported here, saying where.
    settings.TOGO_SCHEDULER = {}
    job("togo.code", schedule=schedule, **options)(lambda ctx: None)

    assert check_schedule(None) == [
        Error(f"@job('togo.code'): {message}", id="django_togo_scheduler.E002")
    ]


def test_check_schedule__the_setting_overrides_a_bad_decorator(settings, registry):
    job("togo.code", schedule="@daily", catchup="everything")(lambda ctx: None)
    job("togo.spec", schedule="every day")(lambda ctx: None)
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"togo.code": "@hourly", "togo.spec": "@daily"}
    }

    assert check_schedule(None) == []


# E003


def test_check_schedule__e003_unknown_job(settings):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"testapp.noop": "@daily", "reports.weekly": "0 7 * * 1"}
    }

    assert check_schedule(None) == [
        Error(
            "SCHEDULE['reports.weekly'] names no registered job.",
            hint=HINT_E003,
            id="django_togo_scheduler.E003",
        )
    ]


def test_check_schedule__e002_and_e003_together(settings):
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"nope": "every day"}}

    assert [error.id for error in check_schedule(None)] == [
        "django_togo_scheduler.E002",
        "django_togo_scheduler.E003",
    ]


# E004


@pytest.mark.parametrize("zone", ["Mars/Base", 1, "utc+1"])
def test_check_settings__e004_bad_timezone(settings, zone):
    settings.TOGO_SCHEDULER = {"TIMEZONE": zone}

    assert check_settings(None) == [
        Error(
            f"TOGO_SCHEDULER['TIMEZONE']: {error_of(get_timezone, zone)}",
            id="django_togo_scheduler.E004",
        )
    ]


def test_check_settings__timezone_falls_back_to_time_zone(settings):
    settings.TIME_ZONE = "America/Chicago"
    settings.TOGO_SCHEDULER = {"TIMEZONE": None}

    assert check_settings(None) == []


# W001


def test_check_queue__w001_queue_names_no_configured_queue(settings):
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "high"}

    assert check_queue(None) == [
        Warning(
            "TOGO_SCHEDULER['QUEUE'] is 'high', but django_rq is not installed or RQ_QUEUES has no "
            "such queue: jobs will run inline in the scheduler process.",
            hint="Add the queue to RQ_QUEUES, or set QUEUE to None to run jobs inline on purpose.",
            id="django_togo_scheduler.W001",
        )
    ]


def test_check_queue__w001_when_django_rq_is_not_installed(settings, monkeypatch):
    from django.apps import apps

    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "default"}
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "django_rq")

    assert [w.id for w in check_queue(None)] == ["django_togo_scheduler.W001"]


@pytest.mark.parametrize(
    ("togo", "queues"),
    [
        (
            {},
            {},
        ),  # QUEUE not set: the default "default" quietly means inline without a queue
        ({"QUEUE": None}, {}),
        ({"QUEUE": ""}, {}),
        ({"QUEUE": "default"}, {"default": {"URL": "redis://127.0.0.1:6379/0"}}),
        ({"QUEUE": "low"}, {"default": {}, "low": {"URL": "redis://127.0.0.1:6379/1"}}),
    ],
)
def test_check_queue__no_w001(settings, togo, queues):
    settings.RQ_QUEUES = queues
    settings.TOGO_SCHEDULER = togo

    assert check_queue(None) == []


# W002


def w002(where, queue):
    return Warning(
        f"{where}: queue {queue!r} is not a configured django-rq queue (django_rq is "
        "not installed or RQ_QUEUES has no such queue): its runs will run inline in "
        "the scheduler process.",
        hint="Add the queue to RQ_QUEUES, or drop the queue option to use QUEUE.",
        id="django_togo_scheduler.W002",
    )


def test_check_queue__w002_a_declared_schedules_queue_is_not_configured(
    settings, registry
):
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    job("togo.code", schedule="@daily", queue="hihg")(lambda ctx: None)
    job("togo.fine", schedule="@daily", queue="default")(lambda ctx: None)
    job("togo.unscheduled", queue="nope")(lambda ctx: None)  # no schedule: unused
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {
            "testapp.noop": {"spec": "@daily", "queue": "low"},
            "testapp.fails": {"spec": "@daily", "queue": "default"},
            "testapp.slow": "@daily",
        }
    }

    assert check_queue(None) == [
        w002("SCHEDULE['testapp.noop']", "low"),
        w002("@job('togo.code')", "hihg"),
    ]


def test_check_queue__w002_when_django_rq_is_not_installed_and_beside_w001(
    settings, monkeypatch
):
    from django.apps import apps

    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}
    settings.TOGO_SCHEDULER = {
        "QUEUE": "default",
        "SCHEDULE": {"testapp.noop": {"spec": "@daily", "queue": "default"}},
    }
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "django_rq")

    assert [(w.id, w.msg[:26]) for w in check_queue(None)] == [
        ("django_togo_scheduler.W001", "TOGO_SCHEDULER['QUEUE'] is"),
        ("django_togo_scheduler.W002", "SCHEDULE['testapp.noop']: "),
    ]


def test_check_queue__w002_not_for_a_setting_that_overrides_the_decorator(
    settings, registry
):
    job("togo.code", schedule="@daily", queue="nope")(lambda ctx: None)
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"togo.code": "@hourly"}}

    assert check_queue(None) == []


def test_check_queue__a_malformed_schedule_setting_is_left_to_e002(settings):
    settings.TOGO_SCHEDULER = {"SCHEDULE": ["testapp.noop"]}

    assert check_queue(None) == []


# through manage.py check


def test_check_command__passes_with_the_test_settings():
    out = StringIO()

    call_command("check", stdout=out)

    assert out.getvalue() == "System check identified no issues (0 silenced).\n"


def test_check_command__reports_our_errors(settings):
    settings.TOGO_SCHEDULER = {
        "QUEUE": None,
        "SCHEDULE": {"testapp.noop": "61 * * * *"},
        "TIMEZONE": "Nowhere",
    }

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", stdout=StringIO(), stderr=StringIO())

    report = str(excinfo.value)
    assert (
        f"(django_togo_scheduler.E002) SCHEDULE['testapp.noop']: {error_of(validate_spec, '61 * * * *')}"
        in report
    )
    assert (
        f"(django_togo_scheduler.E004) TOGO_SCHEDULER['TIMEZONE']: {error_of(get_timezone, 'Nowhere')}"
        in report
    )
    assert "2 issues" in report


def test_check_command__warning_does_not_fail(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": "missing"}
    out, err = StringIO(), StringIO()

    call_command("check", stdout=out, stderr=err)

    assert "django_togo_scheduler.W001" in err.getvalue() + out.getvalue()


def manage(*args):
    """``python -m django *args`` with the settings of ``tests.badjobs`` (a real process)."""
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings", "tests.settings_badjobs"],
        cwd=root,
        env={**os.environ, "TOGO_TEST_DB": "sqlite", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_check_command__a_bad_spec_or_zone_in_a_jobs_module_is_e002_not_a_traceback():
    result = manage("check")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[3:5] == [
        "?: (django_togo_scheduler.E002) @job('badjobs.typo'): "
        + error_of(validate_spec, "0 25 * * *"),
        "?: (django_togo_scheduler.E002) @job('badjobs.zone'): "
        + error_of(get_timezone, "Moon/Base"),
    ]
