"""Schedules declared in code (``@job(schedule=...)``) and in the ``SCHEDULE`` setting.

``runscheduler`` syncs them into the database when it starts; the setting wins
over the decorator for the same name. A sync never deletes: a declared schedule
the syncing process does not declare is marked orphaned (another process may run
other code, as in a rolling deploy), keeps its state, and is removed only by
:func:`prune_orphans` (``scheduler prune --orphans``, or the loop after
``ORPHAN_GRACE``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet

from . import schedules
from .conf import app_settings
from .exceptions import ImproperlyConfiguredSchedule, TogoSchedulerError
from .locking import write_transaction
from .models import ScheduledJob
from .registry import registry

logger = logging.getLogger(__name__)

SYNC_ATTEMPTS = 3  # a sync losing a race with another starting scheduler retries
#: How long an orphaned schedule is kept before the schedulers' hourly prune
#: removes it: longer than any rollout, short enough that a removed declaration
#: does not linger (``scheduler prune --orphans`` removes them at once).
ORPHAN_GRACE = timedelta(days=7)


def setting_entries(value: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Parse the ``SCHEDULE`` setting into ``{name: (spec, options)}``.

    Raises ``ImproperlyConfiguredSchedule`` for an entry of the wrong shape; specs
    and options are validated where they are used.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfiguredSchedule(
            f"TOGO_SCHEDULER['SCHEDULE'] must be a dict of name -> spec, not {type(value).__name__}."
        )
    entries: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not name:
            raise ImproperlyConfiguredSchedule(
                f"SCHEDULE: job name {name!r} must be a non-empty string."
            )
        if isinstance(entry, str):
            entries[name] = (entry, {})
        elif isinstance(entry, Mapping) and isinstance(entry.get("spec"), str):
            options = {key: val for key, val in entry.items() if key != "spec"}
            entries[name] = (entry["spec"], options)
        else:
            raise ImproperlyConfiguredSchedule(
                f"SCHEDULE[{name!r}] must be a spec string or a dict with a 'spec' string, not {entry!r}."
            )
    return entries


def declared_schedules() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every declared schedule, ``{name: (spec, options)}``, setting over decorator."""
    declared = {
        spec.name: (spec.schedule or "", dict(spec.options))
        for spec in registry.declared()
    }
    declared.update(setting_entries(app_settings.SCHEDULE))
    return declared


def declared_source(name: str) -> str:
    """Where the declaration of ``name`` comes from, in words for the admin."""
    if name in setting_entries(app_settings.SCHEDULE):
        return "TOGO_SCHEDULER['SCHEDULE'] setting"
    return f"@job in {registry.get(name).func.__module__}"


def sync_declared(now: datetime) -> list[ScheduledJob]:
    """Create or update every declared schedule in the database; keep ``paused``.

    Everything is validated before anything is written, so a bad entry changes
    nothing. The error raised keeps its type (``UnknownJob``, ``InvalidSpec``,
    ...) and its message says which declaration is wrong.
    """
    declared = declared_schedules()
    in_setting = set(setting_entries(app_settings.SCHEDULE))
    for name, (spec, options) in sorted(declared.items()):
        where = f"SCHEDULE[{name!r}]" if name in in_setting else f"@job({name!r})"
        _validate(name, spec, options, where)
    for attempt in range(SYNC_ATTEMPTS):
        try:
            return _write(declared, now)
        except IntegrityError:
            # Another scheduler starting at the same moment created the same
            # rows first (PostgreSQL locks no row that does not exist yet):
            # read them again and update instead.
            if attempt == SYNC_ATTEMPTS - 1:
                raise
            logger.info("Another scheduler synced the same schedules; syncing again.")
    raise AssertionError("unreachable")  # pragma: no cover


def _write(
    declared: dict[str, tuple[str, dict[str, Any]]], now: datetime
) -> list[ScheduledJob]:
    with write_transaction(ScheduledJob):
        synced = [
            schedules.upsert_schedule(
                name, spec, options, now, declared=True, source=declared_source(name)
            )
            for name, (spec, options) in sorted(declared.items())
        ]
        # A declared schedule this process does not declare may be declared by
        # another one (a rolling deploy runs old and new code side by side): it
        # is marked orphaned, never deleted here. Schedules made through the
        # Service API or the admin are not declared and are left alone.
        # Nothing orphaned (the usual start) costs one read, of the partial
        # index togo_job_declared_name (the declared rows only, not the whole
        # table); the few names are sorted here, for the log.
        gone = ScheduledJob.objects.filter(declared=True).exclude(
            name__in=list(declared)
        )
        found = sorted(gone.order_by().values_list("name", "orphaned_at"))
        newly = [name for name, orphaned_at in found if orphaned_at is None]
        for name in newly:
            logger.warning(
                "Declared schedule %r is not declared by this process's code; "
                "marking it orphaned. It keeps its state and keeps firing wherever "
                "a scheduler has its handler; it is removed by `scheduler prune "
                "--orphans`, or after %s unless a scheduler declares it again.",
                name,
                _days(ORPHAN_GRACE),
                extra={"job": name},
            )
        if newly:
            ScheduledJob.objects.filter(name__in=newly, orphaned_at=None).update(
                orphaned_at=now
            )
    return synced


def is_orphaned(job: ScheduledJob) -> bool:
    """Whether ``job`` is a declared schedule that the last sync did not declare."""
    return job.orphaned_at is not None


def prune_orphans(now: datetime, older_than: timedelta | None = None) -> list[str]:
    """Delete the orphaned schedules; return their names, sorted.

    With ``older_than``, only those orphaned at least that long before ``now``.
    Their run history stays. An orphan this process declares is not deleted: it
    is declared here again, and its mark is cleared, as a sync would.
    """
    orphans = ScheduledJob.objects.filter(declared=True, orphaned_at__isnull=False)
    if not orphans.exists():  # the usual case: one read, no write lock
        return []
    mine = set(declared_schedules())
    cutoff = None if older_than is None else now - older_than
    with write_transaction(ScheduledJob):
        found = _orphaned_since(orphans.select_for_update())
        adopted = sorted(found.keys() & mine)
        if adopted:
            orphans.filter(name__in=adopted).update(orphaned_at=None)
        names = sorted(
            name
            for name, since in found.items()
            if name not in mine and (cutoff is None or since <= cutoff)
        )
        if names:
            orphans.filter(name__in=names).delete()
    for name in adopted:
        logger.info(
            "Declared schedule %r is declared by this process; no longer orphaned.",
            name,
            extra={"job": name},
        )
    for name in names:
        logger.warning(
            "Removed the orphaned schedule %r (orphaned since %s); its run "
            "history stays.",
            name,
            found[name].isoformat(timespec="seconds"),
            extra={"job": name},
        )
    return names


def _orphaned_since(orphans: QuerySet[ScheduledJob]) -> dict[str, datetime]:
    rows = orphans.order_by().values_list("name", "orphaned_at")
    # orphaned_at is never null here (the filter's); this is for the type checker.
    return {name: since for name, since in rows if since is not None}


def _days(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days != 1 else "1 day"


def _validate(name: str, spec: str, options: dict[str, Any], where: str) -> None:
    from .specs import validate_spec

    try:
        registry.get(name)
        validate_spec(spec)
        schedules.normalise_options(name, options)
    except (TogoSchedulerError, ValueError) as exc:
        raise type(exc)(describe_error(where, name, exc)) from exc


def describe_error(where: str, name: str, exc: Exception) -> str:
    """``exc``'s message prefixed with where the schedule was declared."""
    # normalise_options already names the schedule; say it once.
    return f"{where}: {str(exc).removeprefix(f'Schedule {name!r}: ')}"
