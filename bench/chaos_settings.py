"""Settings for ``bench/chaos.py``: PostgreSQL, a django-rq queue, short reconcile bounds.

Every process of a chaos run (schedulers, workers, the harness itself) uses these
settings; the harness passes what differs through the environment:

``TOGO_CHAOS_DB``         database name (``togo_chaos``) on ``PGHOST:PGPORT`` as ``PGUSER``
``TOGO_CHAOS_REDIS_URL``  the harness's own redis-server
``TOGO_CHAOS_ROLE``       the connection's ``application_name`` (``togo-chaos-scheduler-0``
                          ...), so the harness can ``pg_terminate_backend`` one role
``TOGO_CHAOS_STALE_AFTER`` ``STALE_AFTER`` in seconds (6 by default, to keep runs short)
"""

from __future__ import annotations

import os

SECRET_KEY = "chaos-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_rq",
    "django_togo_scheduler",
    "bench.chaos_app",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("TOGO_CHAOS_DB", "togo_chaos"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        # Persistent connections (the scheduler loop keeps its own anyway): a
        # connection the harness terminates is found broken by the next query.
        "CONN_MAX_AGE": 60,
        "OPTIONS": {
            "application_name": os.environ.get("TOGO_CHAOS_ROLE", "togo-chaos"),
        },
    }
}

RQ_QUEUES = {
    "chaos": {"URL": os.environ.get("TOGO_CHAOS_REDIS_URL", "redis://127.0.0.1:6399/0")}
}

TOGO_SCHEDULER = {
    "QUEUE": "chaos",
    "AUTODISCOVER": "jobs",
    "RUN_RETENTION": None,  # the harness reads the whole ledger at the end
    "STALE_AFTER": float(os.environ.get("TOGO_CHAOS_STALE_AFTER", "6")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # Skipped runs are logged at INFO; the logs keep what went wrong.
        "django_togo_scheduler": {"handlers": ["console"], "level": "WARNING"},
        "rq.worker": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
