"""bench/chaos.py's set-up: what it needs, and Django in the harness itself.

The run's database is dropped and created by bench.harness.db.
"""

from __future__ import annotations

import argparse
import os
import shutil

from bench.chaos_processes import APP_NAME, SETTINGS
from bench.harness.db import postgres_unreachable


def services_missing() -> str | None:
    """Why the harness cannot run here (None when it can)."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    return postgres_unreachable()


def setup_django(args: argparse.Namespace, redis_url: str) -> None:
    """The harness's own Django: the run's settings, migrated."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "TOGO_CHAOS_DB": args.db,
            "TOGO_CHAOS_REDIS_URL": redis_url,
            "TOGO_CHAOS_STALE_AFTER": str(args.stale_after),
            "TOGO_CHAOS_ROLE": f"{APP_NAME}-harness",
        }
    )
    os.environ.pop("TOGO_CHAOS_TRIGGER", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
