"""The package root: public names, and nothing happening at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import django_togo_scheduler as togo

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = [
    "job",
    "register",
    "registered",
    "get_scheduler",
    "Service",
    "RunContext",
    "InvalidSpec",
    "UnknownJob",
    "every",
    "daily_at",
    "hourly_at",
    "weekly_on",
    "EVERY_MINUTE",
    "EVERY_FIVE_MINUTES",
    "EVERY_TEN_MINUTES",
    "EVERY_FIFTEEN_MIN",
    "EVERY_THIRTY_MIN",
    "HOURLY",
    "DAILY",
    "WEEKLY",
    "MONTHLY",
    "STATUS_QUEUED",
    "STATUS_RUNNING",
    "STATUS_DONE",
    "STATUS_FAILED",
    "STATUS_SKIPPED",
    "run_started",
    "run_finished",
    "run_skipped",
]


def test_package__every_public_name_of_the_contract_is_importable():
    for name in PUBLIC:
        assert getattr(togo, name) is not None, name
    assert set(PUBLIC) <= set(togo.__all__)
    assert (togo.STATUS_QUEUED, togo.STATUS_RUNNING, togo.STATUS_DONE) == (
        "queued",
        "running",
        "done",
    )
    assert (togo.STATUS_FAILED, togo.STATUS_SKIPPED) == ("failed", "skipped")


def test_package__unknown_attribute():
    try:
        togo.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_package__importing_reads_no_settings_and_no_models():
    code = (
        "import sys, django_togo_scheduler, django_togo_scheduler.specs;"
        "from django.conf import settings;"
        "assert not settings.configured;"
        "assert 'django_togo_scheduler.models' not in sys.modules;"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": ""},
    )
    assert result.stdout.strip() == "ok", result.stderr
