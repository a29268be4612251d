"""django-togo-scheduler: recurring jobs on cron schedules for Django.

Every public name of the contract is importable from here. Names that need the
models (the service, the run context) are loaded on first use, so importing the
package touches neither settings nor the database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .exceptions import (
    AlreadyRegistered,
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
    TogoSchedulerError,
    UnknownJob,
)
from .registry import job, register, registered
from .signals import run_finished, run_skipped, run_started, schedule_overdue
from .specs import (
    DAILY,
    EVERY_FIFTEEN_MIN,
    EVERY_FIVE_MINUTES,
    EVERY_MINUTE,
    EVERY_TEN_MINUTES,
    EVERY_THIRTY_MIN,
    HOURLY,
    MONTHLY,
    WEEKLY,
    daily_at,
    every,
    hourly_at,
    weekly_on,
)

if TYPE_CHECKING:
    from .execution import RunContext
    from .service import Service, get_scheduler

__version__ = "0.1.0.dev0"

STATUS_QUEUED = "queued"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"

_LAZY = {
    "RunContext": "django_togo_scheduler.execution",
    "Service": "django_togo_scheduler.service",
    "get_scheduler": "django_togo_scheduler.service",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DAILY",
    "EVERY_FIFTEEN_MIN",
    "EVERY_FIVE_MINUTES",
    "EVERY_MINUTE",
    "EVERY_TEN_MINUTES",
    "EVERY_THIRTY_MIN",
    "HOURLY",
    "MONTHLY",
    "STATUS_DONE",
    "STATUS_FAILED",
    "STATUS_QUEUED",
    "STATUS_RUNNING",
    "STATUS_SKIPPED",
    "WEEKLY",
    "AlreadyRegistered",
    "InvalidDuration",
    "InvalidSpec",
    "InvalidTimezone",
    "RunContext",
    "Service",
    "TogoSchedulerError",
    "UnknownJob",
    "daily_at",
    "every",
    "get_scheduler",
    "hourly_at",
    "job",
    "register",
    "registered",
    "run_finished",
    "run_skipped",
    "run_started",
    "schedule_overdue",
    "weekly_on",
]
