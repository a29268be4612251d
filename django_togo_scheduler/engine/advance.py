"""Moving claimed schedules to their next slot, in as few statements as possible."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from django_togo_scheduler import clock, schedules
from django_togo_scheduler.models import ScheduledJob

if TYPE_CHECKING:
    from .planning import Plan
    from .state import DueJob


def advance(
    alias: str, jobs: list[DueJob], plans: dict[int, Plan], now: datetime
) -> None:
    """Move each planned schedule to its next slot; pause those the claim found
    broken (``DueJob.problem`` says why), as of ``now``."""
    # Schedules sharing their next slot are advanced in one UPDATE: a burst of
    # thousands of "* * * * *" schedules is one statement, not thousands.
    # Schedules with next slots of their own are advanced together in one
    # UPDATE ... FROM (VALUES ...) where the database has it.
    groups: dict[datetime, list[int]] = {}
    for pk, plan in plans.items():
        groups.setdefault(plan.next_run_at, []).append(pk)
    if len(groups) > 1 and _updates_from_values(connections[alias]):
        _advance_each(alias, {pk: plan.next_run_at for pk, plan in plans.items()})
    else:
        for next_run_at, pks in groups.items():
            _advance_group(alias, pks, next_run_at)
    for job in jobs:
        if job.problem:  # the claim found its spec or zone broken (rare)
            schedules.pause(
                ScheduledJob.objects.using(alias).filter(pk=job.pk),
                job.problem,
                schedules.BY_SCHEDULER,
                now,
            )


def _advance_group(alias: str, pks: list[int], next_run_at: datetime) -> None:
    """Set the ``next_run_at`` of the schedules ``pks``, in one UPDATE.

    On PostgreSQL the keys go as one array (``= ANY(%s)``): psycopg parses and
    quotes a statement of 500 placeholders anew at every claim, not one array.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        ScheduledJob.objects.using(alias).filter(pk__in=pks).update(
            next_run_at=next_run_at, updated_at=clock.now()
        )
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(ScheduledJob._meta.db_table)} "
            f"SET {quote('next_run_at')} = %s, {quote('updated_at')} = %s "
            f"WHERE {quote('id')} = ANY(%s::bigint[])",
            [next_run_at, clock.now(), pks],
        )


def _updates_from_values(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 33)
    return False


def _advance_each(alias: str, next_runs: dict[int, datetime]) -> None:
    """Set each schedule's own ``next_run_at``, in one statement."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    opts = ScheduledJob._meta
    field = opts.get_field("next_run_at")
    assert isinstance(field, models.DateTimeField)
    # PostgreSQL types the VALUES list from its first row: say it once.
    stamp = (
        "CAST(%s AS timestamp with time zone)"
        if connection.vendor == "postgresql"
        else "%s"
    )
    rows = ", ".join(f"(%s, {stamp})" for _ in next_runs)
    params: list[Any] = [field.get_db_prep_save(clock.now(), connection)]
    for pk, next_run_at in next_runs.items():
        params += [pk, field.get_db_prep_save(next_run_at, connection)]
    table = quote(opts.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # Both databases name the VALUES columns column1, column2, ...
            f"UPDATE {table} SET {quote('next_run_at')} = v.column2, "
            f"{quote('updated_at')} = %s "
            f"FROM (VALUES {rows}) AS v WHERE {table}.{quote('id')} = v.column1",
            params,
        )
