"""Settings for ``bench/tick.py``: a throwaway database, inline dispatch, quiet logs.

``TOGO_BENCH_DB`` (set by ``tick.py`` from ``--db``) picks the database:
``sqlite`` is a file in the temporary directory, ``postgres`` the database
``togo_bench`` on ``PGHOST:PGPORT`` as ``PGUSER`` (127.0.0.1:5432, postgres).
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_togo_scheduler",
]

SQLITE_PATH = os.path.join(tempfile.gettempdir(), "togo_bench.sqlite3")
POSTGRES_NAME = "togo_bench"

if os.environ.get("TOGO_BENCH_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": POSTGRES_NAME,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # WAL, as docs/configuration.md recommends beside workers.
            "OPTIONS": {
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# No django-rq: every run is recorded for inline execution (Run.queue == "").
# bench/tick.py's burst puts each schedule at the latest slot of its own spec,
# hours old for most: a MISFIRE_GRACE that long keeps every one on time, so each
# policy records its slot (catchup="none" would drop a missed one).
TOGO_SCHEDULER = {"QUEUE": None, "AUTODISCOVER": None, "MISFIRE_GRACE": "365d"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # The engine logs every skipped run at INFO; a benchmark only wants problems.
    "loggers": {"django_togo_scheduler": {"handlers": ["console"], "level": "WARNING"}},
}
