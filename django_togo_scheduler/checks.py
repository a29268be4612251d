"""System checks for the ``TOGO_SCHEDULER`` setting. They never query the database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from .conf import DEFAULTS, SETTING_NAME, app_settings
from .exceptions import TogoSchedulerError

# Numeric keys and the least value each accepts.
NUMBERS = {"INLINE_WORKERS": 1, "MAX_SLEEP": 0.001, "STALE_AFTER": 1}


def _raw() -> Any:
    # The setting as the project wrote it: app_settings assumes a dict.
    return getattr(settings, SETTING_NAME, None) or {}


def _is_dict() -> bool:
    # Every other check reads keys of the setting, which needs a dict.
    return isinstance(_raw(), dict)


def check_settings(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """E001: unknown keys or values of the wrong type in ``TOGO_SCHEDULER``; E004: bad zone."""
    from .specs import get_timezone, parse_duration

    if not _is_dict():
        return [
            Error(
                f"TOGO_SCHEDULER must be a dict, not {type(_raw()).__name__}.",
                id="django_togo_scheduler.E001",
            )
        ]
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
    for key in ("RUN_RETENTION", "CATCHUP_WINDOW", "MISFIRE_GRACE"):
        try:
            value = getattr(app_settings, key)
            if value is not None or key == "MISFIRE_GRACE":
                parse_duration(value)
        except (TogoSchedulerError, TypeError, ValueError) as exc:
            errors.append(
                Error(
                    f"TOGO_SCHEDULER[{key!r}]: {exc}", id="django_togo_scheduler.E001"
                )
            )
    errors.extend(_check_numbers())
    try:
        get_timezone(app_settings.TIMEZONE)
    except TogoSchedulerError as exc:
        errors.append(
            Error(f"TOGO_SCHEDULER['TIMEZONE']: {exc}", id="django_togo_scheduler.E004")
        )
    return errors


def _check_numbers() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, least in NUMBERS.items():
        try:
            value = getattr(app_settings, key)
        except (TypeError, ValueError):
            value = None
        if value is None or value < least:
            errors.append(
                Error(
                    f"TOGO_SCHEDULER[{key!r}] must be a number of at least {least}, not {_raw().get(key)!r}.",
                    id="django_togo_scheduler.E001",
                )
            )
    return errors


def declarations(
    entries: dict[str, tuple[str, dict[str, Any]]],
) -> Iterator[tuple[str, str, str | None, dict[str, Any]]]:
    """``(where, name, spec, options)`` of every declared schedule.

    The ``SCHEDULE`` setting's entries, then the ``@job(...)`` declarations the
    setting does not override (the sync uses the setting's).
    """
    from .registry import registry

    for name, (spec, options) in entries.items():
        yield f"SCHEDULE[{name!r}]", name, spec, options
    for declared in registry.declarations():
        if declared.name not in entries:
            where = f"@job({declared.name!r})"
            yield where, declared.name, declared.schedule, declared.options


def check_schedule(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """E002: a declared schedule (``SCHEDULE`` entry or ``@job``) of the wrong shape
    or with an invalid spec or option; E003: a ``SCHEDULE`` entry naming no registered job."""
    from .declared import describe_error, setting_entries
    from .registry import registry
    from .schedules import normalise_options
    from .specs import validate_spec

    if not _is_dict():
        return []
    try:
        entries = setting_entries(app_settings.SCHEDULE)
    except TogoSchedulerError as exc:
        return [Error(str(exc), id="django_togo_scheduler.E002")]
    errors: list[CheckMessage] = []
    for where, name, spec, options in declarations(entries):
        try:
            if spec is not None:  # a @job with options and no schedule has none
                validate_spec(spec)
            normalise_options(name, options)
        except (TogoSchedulerError, ValueError) as exc:
            errors.append(
                Error(describe_error(where, name, exc), id="django_togo_scheduler.E002")
            )
        if name in entries and not registry.is_registered(name):
            errors.append(
                Error(
                    f"SCHEDULE[{name!r}] names no registered job.",
                    hint="Register a handler with @job or register(), in a module "
                    "AUTODISCOVER imports (default: <app>/jobs.py).",
                    id="django_togo_scheduler.E003",
                )
            )
    return errors


def check_queue(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """W001: ``QUEUE`` was set to a name that no django-rq queue has: jobs run inline;
    W002: the same for the ``queue`` option of a declared schedule."""
    from .dispatch import rq_queue_configured

    if not _is_dict():
        return []
    warnings = _check_schedule_queues()
    name = app_settings.QUEUE
    if "QUEUE" not in app_settings.user_keys or not name or rq_queue_configured(name):
        return warnings
    return [
        Warning(
            f"TOGO_SCHEDULER['QUEUE'] is {name!r}, but django_rq is not installed or "
            "RQ_QUEUES has no such queue: jobs will run inline in the scheduler process.",
            hint="Add the queue to RQ_QUEUES, or set QUEUE to None to run jobs inline on purpose.",
            id="django_togo_scheduler.W001",
        ),
        *warnings,
    ]


def _check_schedule_queues() -> list[CheckMessage]:
    from .declared import setting_entries
    from .dispatch import rq_queue_configured

    try:
        entries = setting_entries(app_settings.SCHEDULE)
    except TogoSchedulerError:
        return []  # E002 says so
    return [
        Warning(
            f"{where}: queue {queue!r} is not a configured django-rq queue "
            "(django_rq is not installed or RQ_QUEUES has no such queue): its runs "
            "will run inline in the scheduler process.",
            hint="Add the queue to RQ_QUEUES, or drop the queue option to use QUEUE.",
            id="django_togo_scheduler.W002",
        )
        for where, _, spec, options in declarations(entries)
        if spec is not None  # options without a schedule are not used
        and isinstance(queue := options.get("queue"), str)
        and queue
        and not rq_queue_configured(queue)
    ]
