"""System checks for the ``TOGO_SCHEDULER`` setting. They never query the database."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

from .conf import DEFAULTS, app_settings
from .exceptions import TogoSchedulerError


def check_settings(app_configs: list[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """E001: unknown keys or values of the wrong type in ``TOGO_SCHEDULER``; E004: bad zone."""
    from .specs import get_timezone, parse_duration

    errors: list[CheckMessage] = []
    unknown = sorted(app_settings.user_keys - set(DEFAULTS))
    if unknown:
        errors.append(
            Error(
                f"TOGO_SCHEDULER has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="django_togo_scheduler.E001",
            )
        )
    for key in ("RUN_RETENTION", "CATCHUP_WINDOW"):
        try:
            value = getattr(app_settings, key)
            if value is not None:
                parse_duration(value)
        except (TogoSchedulerError, TypeError, ValueError) as exc:
            errors.append(Error(f"TOGO_SCHEDULER[{key!r}]: {exc}", id="django_togo_scheduler.E001"))
    try:
        get_timezone(app_settings.TIMEZONE)
    except TogoSchedulerError as exc:
        errors.append(Error(f"TOGO_SCHEDULER['TIMEZONE']: {exc}", id="django_togo_scheduler.E004"))
    return errors


def check_schedule(app_configs: list[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """E002: a ``SCHEDULE`` entry of the wrong shape or with an invalid spec or option;
    E003: a ``SCHEDULE`` entry naming no registered job."""
    from .declared import setting_entries
    from .registry import registry
    from .service import normalise_options
    from .specs import validate_spec

    try:
        entries = setting_entries(app_settings.SCHEDULE)
    except TogoSchedulerError as exc:
        return [Error(str(exc), id="django_togo_scheduler.E002")]
    errors: list[CheckMessage] = []
    for name, (spec, options) in entries.items():
        try:
            validate_spec(spec)
            normalise_options(name, options)
        except (TogoSchedulerError, ValueError) as exc:
            errors.append(Error(f"SCHEDULE[{name!r}]: {exc}", id="django_togo_scheduler.E002"))
        if not registry.is_registered(name):
            errors.append(
                Error(
                    f"SCHEDULE[{name!r}] names no registered job.",
                    hint="Register a handler with @job or register(), in a module "
                    "AUTODISCOVER imports (default: <app>/jobs.py).",
                    id="django_togo_scheduler.E003",
                )
            )
    return errors


def check_queue(app_configs: list[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """W001: ``QUEUE`` was set to a name that no django-rq queue has: jobs run inline."""
    from .dispatch import rq_queue_configured

    name = app_settings.QUEUE
    if "QUEUE" not in app_settings.user_keys or not name or rq_queue_configured(name):
        return []
    return [
        Warning(
            f"TOGO_SCHEDULER['QUEUE'] is {name!r}, but django_rq is not installed or "
            "RQ_QUEUES has no such queue: jobs will run inline in the scheduler process.",
            hint="Add the queue to RQ_QUEUES, or set QUEUE to None to run jobs inline on purpose.",
            id="django_togo_scheduler.W001",
        )
    ]
