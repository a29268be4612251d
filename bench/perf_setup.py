"""bench/perf.py's children: Django configured for one database, handlers, set-up."""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness.db import pg_params
from bench.harness.redis_server import client
from bench.harness.schedules import create_mixed, register
from bench.perf_config import QUEUE, SCRIPT, SQLITE_WAL


def configure_django(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="perf",
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_rq",
            "django_togo_scheduler",
        ],
        DATABASES={"default": database(args)},
        RQ_QUEUES={QUEUE: {"URL": args.redis_url}},
        TOGO_SCHEDULER={"QUEUE": QUEUE, "AUTODISCOVER": None},
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "loggers": {
                "django_togo_scheduler": {"handlers": ["console"], "level": "WARNING"}
            },
        },
    )
    django.setup()


def database(args: argparse.Namespace) -> dict[str, Any]:
    """The child's database: ``--child-db`` postgres (``--pg-name``) or sqlite."""
    if args.child_db == "postgres":
        params = pg_params()
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": args.pg_name,
            "USER": params["user"],
            "HOST": params["host"],
            "PORT": params["port"],
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": args.sqlite_path,
        # As docs/configuration.md recommends where workers run beside the
        # scheduler: WAL, so a commit does not wait for the disk.
        "OPTIONS": {"timeout": 20, "init_command": SQLITE_WAL},
    }


def register_handlers(count: int, prefix: str = "perf.job") -> None:
    register(f"{prefix}{i:06d}" for i in range(count))


def child_command(args: argparse.Namespace, child: str, handlers: int) -> list[str]:
    """The command line of another child (runscheduler, worker) on this database."""
    command = [sys.executable, str(SCRIPT), "--child", child]
    command += ["--child-db", args.child_db, "--redis-url", args.redis_url]
    command += ["--sqlite-path", args.sqlite_path, "--pg-name", args.pg_name]
    return command + ["--register", str(handlers)]


def redis_client(args: argparse.Namespace) -> Any:
    return client(args.redis_url)


def populate_idle(count: int, seed: int = 42) -> None:
    """``count`` schedules of bench/tick.py's mix, next slots 1 h to 1 week ahead."""
    names = [f"perf.job{i:06d}" for i in range(count)]
    create_mixed(names, random.Random(seed), datetime.now(UTC) + timedelta(hours=1))
