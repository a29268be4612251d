"""Settings for ``bench/burst.py``: ``bench/settings.py`` plus a django-rq queue."""

from __future__ import annotations

import os

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]  # noqa: F405

RQ_QUEUES = {
    "bench": {"URL": os.environ.get("TOGO_BENCH_REDIS", "redis://127.0.0.1:6379/14")}
}

TOGO_SCHEDULER = {"QUEUE": "bench", "AUTODISCOVER": None}
