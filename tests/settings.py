"""Settings for the test suite. ``TOGO_TEST_DB`` picks the database: sqlite or postgres."""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_rq",
    "tests.testapp",
    "django_togo_scheduler",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_DB = os.environ.get("TOGO_TEST_DB", "sqlite")
# Subprocesses started by the tests (runscheduler) connect to the test database
# itself, whose name the parent passes down.
_TEST_NAME = os.environ.get("TOGO_TEST_DB_NAME")

if _DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _TEST_NAME or "togo",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": f"test_togo_{os.getpid()}"},
        }
    }
else:
    _FILE = os.path.join(tempfile.gettempdir(), f"togo-test-{os.getpid()}.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _TEST_NAME or _FILE,
            # A file, not memory: scheduler subprocesses share it.
            "TEST": {"NAME": _FILE},
            "OPTIONS": {"timeout": 20},
        }
    }

# Worker subprocesses of the RQ tests get the Redis URL and their settings from
# the environment; in-process tests set RQ_QUEUES with the settings fixture.
RQ_QUEUES: dict[str, dict[str, object]] = (
    {"togo": {"URL": os.environ["TOGO_TEST_REDIS_URL"]}}
    if os.environ.get("TOGO_TEST_REDIS_URL")
    else {}
)

# Every other key keeps the library's default (conf.DEFAULTS), so the suite
# tests what ships. A subprocess that needs another value gets it from the
# environment (TOGO_TEST_STALE_AFTER, TOGO_TEST_MAX_SLEEP,
# TOGO_TEST_MISFIRE_GRACE); an in-process test sets it with the settings fixture.
TOGO_SCHEDULER: dict[str, object] = {"QUEUE": os.environ.get("TOGO_TEST_QUEUE") or None}
for _key in ("STALE_AFTER", "MAX_SLEEP"):
    if os.environ.get(f"TOGO_TEST_{_key}"):
        TOGO_SCHEDULER[_key] = float(os.environ[f"TOGO_TEST_{_key}"])
if os.environ.get("TOGO_TEST_MISFIRE_GRACE"):
    TOGO_SCHEDULER["MISFIRE_GRACE"] = os.environ["TOGO_TEST_MISFIRE_GRACE"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_togo_scheduler": {"handlers": ["console"], "level": "WARNING"}},
}
