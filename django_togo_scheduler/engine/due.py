"""The claim's first statement: the due schedules, read under a lock, as ``DueJob`` rows.

Compiled once per database and process, like the probe, and read with a plain
cursor on PostgreSQL and SQLite; other databases, and a process that leaves
schedules out (no handler here), go through the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connections, models
from django.db.models import ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_togo_scheduler.locking import lock_rows
from django_togo_scheduler.models import IN_OUTBOX, Run, ScheduledJob

from .state import DueJob

CLAIM_BATCH = 500  # schedules claimed per transaction


# What the claim reads of a due schedule.
PLANNED_FIELDS = (
    "name",
    "spec",
    "timezone",
    "next_run_at",
    "catchup",
    "queue",
    "timeout",
)


# What the claim reads of each due schedule, in this order (see DueJob).
DUE_COLUMNS = ("pk", *PLANNED_FIELDS, "in_flight")


def aware(value: datetime | str | None) -> datetime | None:
    """A datetime read with a plain cursor, aware: SQLite gives naive ones, or text."""
    if isinstance(value, str):  # SQLite returns the stored text of an expression
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _due_query(alias: str, now: datetime, exclude: set[str]) -> QuerySet[ScheduledJob]:
    """The due schedules, locked, with what each has in flight.

    ``in_flight`` is one subquery, as cheap as an ``EXISTS``: null when the job
    has no run in flight, false when one was handed out (or runs), true when
    every run in flight is an RQ run still in the outbox (queued, never handed
    out: its queue was unreachable): the runs in flight sorted handed-out first,
    the first one's flag. Inline runs in the outbox (a manual trigger, runs a
    stopping scheduler gave back) wait a second at most, for the next sweep:
    they keep their job busy as before.
    """
    undelivered = ExpressionWrapper(
        IN_OUTBOX & ~Q(queue=""),
        output_field=models.BooleanField(),
    )
    first_in_flight = (
        Run.objects.using(alias)
        .in_flight()
        .filter(job=OuterRef("name"))
        .annotate(undelivered=undelivered)
        .order_by("undelivered")
        .values("undelivered")[:1]
    )
    due = (
        ScheduledJob.objects.using(alias)
        .due(now)
        .only(*PLANNED_FIELDS)
        .annotate(
            in_flight=Subquery(first_in_flight, output_field=models.BooleanField())
        )
    )
    if exclude:
        due = due.exclude(name__in=sorted(exclude))
    return lock_rows(due.order_by("next_run_at")[:CLAIM_BATCH], alias)


# The claim's statement, compiled once per database with a stand-in instant,
# and the position of that instant among its parameters.
_CLAIMS: dict[str, tuple[str, list[Any], int]] = {}


_STAND_IN = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


def lock_due(alias: str, now: datetime, exclude: set[str]) -> list[DueJob]:
    """Read and lock the due schedules: the claim's first statement.

    Compiled once per database and process, like the probe, and read with a
    plain cursor on PostgreSQL and SQLite, whose values need no converter but
    SQLite's naive datetimes; only a process that left
    schedules out (no handler here), or another database, goes through the ORM.
    """
    connection = connections[alias]
    if exclude or connection.vendor not in ("postgresql", "sqlite"):
        return read_due(alias, now, exclude)
    field = ScheduledJob._meta.get_field("next_run_at")
    assert isinstance(field, models.DateTimeField)
    compiled = _CLAIMS.get(alias)
    if compiled is None:
        query = _due_query(alias, _STAND_IN, exclude).values_list(*DUE_COLUMNS).query
        sql, params = query.get_compiler(using=alias).as_sql()
        stand_in = field.get_db_prep_value(_STAND_IN, connection)
        where = [i for i, param in enumerate(params) if param == stand_in]
        if len(where) != 1:  # not the statement this code knows: no cache
            return read_due(alias, now, exclude)
        compiled = _CLAIMS[alias] = (sql, list(params), where[0])
    sql, params, where_now = compiled
    params = list(params)
    params[where_now] = field.get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_due_job(row) for row in rows]


def read_due(alias: str, now: datetime, exclude: set[str]) -> list[DueJob]:
    """The due schedules through the ORM (its converters), compiled each time."""
    rows = _due_query(alias, now, exclude).values_list(*DUE_COLUMNS)
    return [_due_job(row) for row in rows]


def _due_job(row: Sequence[Any]) -> DueJob:
    """A row of ``DUE_COLUMNS`` as a ``DueJob``, from a cursor or the ORM."""
    pk, name, spec, tz, at, catchup, queue, timeout, in_flight = row
    return DueJob(
        pk, name, spec, tz, aware(at), catchup, queue, timeout,
        busy=in_flight is not None, undelivered=bool(in_flight),
    )  # fmt: skip
