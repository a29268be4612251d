"""The schedules the benchmarks create, and the handler they all run."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .db import analyze

# The idle mix (bench/tick.py's, reused by bench/perf.py): specs, zones and
# catch-up policies drawn at random, in this order, for every schedule.
SPECS = [
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "15 */2 * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "@every 30s",
    "@every 1h30m",
    "@daily",
]
ZONES = ["", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
CATCHUP = ["latest"] * 8 + ["none", "all"]
SPREAD = timedelta(days=7)  # next_run_at of the idle mix: within a week of its first
BATCH = 5_000  # rows per bulk_create while setting up


def noop(*args: object) -> None:
    """The handler of every benchmark schedule: the trivial work."""


def register(names: Iterable[str]) -> None:
    """:func:`noop` registered as the handler of every name."""
    from django_togo_scheduler.registry import registry

    for name in names:
        registry.register(name, noop)


def create_mixed(
    names: list[str], rng: random.Random, first: datetime, batch: int = BATCH
) -> None:
    """One schedule of the idle mix per name, due from ``first`` to a week after it.

    A third of them have a timeout; PostgreSQL's statistics are refreshed after.
    """
    from django_togo_scheduler.models import ScheduledJob

    def row(i: int, name: str) -> Any:
        return ScheduledJob(
            name=name,
            spec=rng.choice(SPECS),
            timezone=rng.choice(ZONES),
            catchup=rng.choice(CATCHUP),
            timeout=60 if i % 3 == 0 else None,
            next_run_at=first + SPREAD * rng.random(),
        )

    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        ScheduledJob.objects.bulk_create(
            row(i, name) for i, name in enumerate(chunk, start)
        )
    analyze()


def create_due(names: Iterable[str], at: datetime) -> None:
    """One ``* * * * *`` schedule per name, every one due at ``at`` (a burst)."""
    from django_togo_scheduler.models import ScheduledJob

    ScheduledJob.objects.bulk_create(
        (ScheduledJob(name=name, spec="* * * * *", next_run_at=at) for name in names),
        batch_size=2000,
    )
