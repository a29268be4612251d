"""Guarded status changes of a run.

The two writes of every run a worker executes, as SQL built once. ``start``:
``queued -> running``, one ``UPDATE ... RETURNING`` where the database has it
(PostgreSQL, SQLite 3.35+), so only one process wins a run and gets the run back
in the same statement. ``end``: ``running -> done|failed``, guarded on
``running``. Both are plain statements on a cursor: compiling them through the
ORM for every run cost more than their round trips to PostgreSQL.

``supersede``: ``queued -> skipped`` for runs that were never handed out, when a
newer run of their job replaces them (the queue was unreachable meanwhile).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.db.models.expressions import Col

from .models import Run

# The error of a run a newer run of its job replaced before it was handed out.
SUPERSEDED = "superseded while the queue was unreachable"
# The same for an inline run no scheduler was running to hand out (a manual run
# a process put back in the outbox when it exited), replaced by a manual run.
SUPERSEDED_UNTAKEN = (
    "superseded by a newer manual run: it was never handed out (no scheduler "
    "was running to take it)"
)

# Columns the start sets, in the order of its parameters.
START_CHANGES = ("status", "started_at", "heartbeat_at", "worker")
END_CHANGES = ("status", "finished_at", "error")


def start(run_id: int, now: datetime, worker: str) -> Run | None:
    """The guarded ``queued -> running`` update; the run as it now is, or None."""
    alias = router.db_for_write(Run)
    connection = connections[alias]
    params = [
        Run.Status.RUNNING.value,
        _prep("started_at", now, connection),
        _prep("heartbeat_at", now, connection),
        worker,
        run_id,
        Run.Status.QUEUED.value,
    ]
    returning = returns_from_update(connection)
    sql = _start_sql(connection, returning=returning)
    applied, row = _execute(alias, sql, params, returning=returning)
    if not returning:  # the update, then a read
        return Run.objects.using(alias).get(pk=run_id) if applied else None
    return None if row is None else _from_row(alias, connection, row)


def end(run_id: int, status: str, now: datetime, error: str) -> bool:
    """The guarded ``running -> status`` update; whether it applied."""
    alias = router.db_for_write(Run)
    connection = connections[alias]
    params = [
        status,
        _prep("finished_at", now, connection),
        error,
        run_id,
        Run.Status.RUNNING.value,
    ]
    applied, _ = _execute(alias, _end_sql(connection), params, returning=False)
    return applied


def supersede(
    jobs: Collection[str],
    now: datetime,
    *,
    using: str | None = None,
    inline_before: datetime | None = None,
) -> list[Run]:
    """``queued -> skipped`` for the RQ runs of ``jobs`` never handed out; the runs it changed.

    The runs taken are those with a queue (``queue`` not empty: RQ) that are
    ``queued`` with ``dispatched_at`` null: in the outbox, never handed to
    Redis, or given back by an enqueue Redis refused. They end ``skipped`` with
    ``error = SUPERSEDED`` and ``finished_at = now``. Inline runs in the outbox
    are left alone (they wait a second at most, for a sweep), except those
    recorded before ``inline_before``: a manual trigger that found no live
    scheduler takes them (``error = SUPERSEDED_UNTAKEN``), since none would hand
    them out; a younger one still has its hand-over coming (a run recorded in
    the same transaction, handed over at its commit). A run another
    process hands out meanwhile is left alone too: on PostgreSQL the outbox
    sweep holds its row ``FOR UPDATE``, this waits for it and then finds
    ``dispatched_at`` set. So the caller must look again at what is in flight
    afterwards (a job with a run handed out is busy), must call it inside the
    transaction that records the newer run (it adds no savepoint), and sends
    ``run_skipped`` for each returned run after that commit.
    """
    alias = using or router.db_for_write(Run)
    with transaction.atomic(using=alias, savepoint=False):
        undelivered = Run.objects.using(alias).filter(
            job__in=sorted(jobs),
            status=Run.Status.QUEUED,
            dispatched_at__isnull=True,
        )
        runs = list(undelivered.select_for_update().order_by("id"))
        runs = [
            run
            for run in runs
            if run.queue or (inline_before and run.created_at < inline_before)
        ]
        for run in runs:
            run.error = SUPERSEDED if run.queue else SUPERSEDED_UNTAKEN
        for error in {run.error for run in runs}:
            undelivered.filter(
                pk__in=[run.pk for run in runs if run.error == error]
            ).update(status=Run.Status.SKIPPED, error=error, finished_at=now)
    for run in runs:
        run.status, run.finished_at = Run.Status.SKIPPED, now
    return runs


def _execute(
    alias: str, sql: str, params: list[Any], *, returning: bool
) -> tuple[bool, Any]:
    """Whether ``sql`` changed a row, and the row it returned (``returning``).

    As ``QuerySet.update``: an error inside an atomic block marks it for rollback.
    """
    with (
        transaction.mark_for_rollback_on_error(alias),
        connections[alias].cursor() as cursor,
    ):
        cursor.execute(sql, params)
        row = cursor.fetchone() if returning else None
        return cursor.rowcount > 0, row


def returns_from_update(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database answers an ``UPDATE`` with its rows (``RETURNING``)."""
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


def _prep(name: str, value: Any, connection: BaseDatabaseWrapper) -> Any:
    return _field(name).get_db_prep_save(value, connection)


@functools.cache
def _field(name: str) -> Field[Any, Any]:
    field = Run._meta.get_field(name)
    assert isinstance(field, Field)
    return field


_SQL: dict[tuple[str, str, str], str] = {}  # (alias, vendor, statement) -> SQL


def _start_sql(connection: BaseDatabaseWrapper, *, returning: bool) -> str:
    key = (connection.alias, connection.vendor, "start" if returning else "start-")
    if key not in _SQL:
        quote = connection.ops.quote_name
        sql = _guarded_update(START_CHANGES, quote)
        if returning:
            sql += " RETURNING " + ", ".join(quote(str(f.column)) for f in _fields())
        _SQL[key] = sql
    return _SQL[key]


def _end_sql(connection: BaseDatabaseWrapper) -> str:
    key = (connection.alias, connection.vendor, "end")
    if key not in _SQL:
        _SQL[key] = _guarded_update(END_CHANGES, connection.ops.quote_name)
    return _SQL[key]


def _guarded_update(changes: Sequence[str], quote: Callable[[str], str]) -> str:
    assignments = ", ".join(
        f"{quote(str(_field(name).column))} = %s" for name in changes
    )
    return (
        f"UPDATE {quote(Run._meta.db_table)} SET {assignments} "
        f"WHERE {quote(str(_field('id').column))} = %s "
        f"AND {quote(str(_field('status').column))} = %s"
    )


def _fields() -> list[Field[Any, Any]]:
    return list(Run._meta.concrete_fields)


_CONVERTED: dict[
    tuple[str, str], list[tuple[int, Col]]
] = {}  # (alias, vendor) -> columns


def _from_row(alias: str, connection: BaseDatabaseWrapper, row: Sequence[Any]) -> Run:
    """What a queryset makes of a row: its values through the backend's and the
    fields' converters (SQLite returns datetimes as text), then ``Model.from_db``."""
    key = (alias, connection.vendor)
    if key not in _CONVERTED:  # on PostgreSQL, no column of a run needs converting
        cols = [field.get_col(Run._meta.db_table) for field in _fields()]
        _CONVERTED[key] = [
            (i, col) for i, col in enumerate(cols) if _converters(col, connection)
        ]
    values = list(row)
    for i, col in _CONVERTED[key]:
        # Looked up on this connection: a backend's converters are its methods.
        for convert in _converters(col, connection):
            values[i] = convert(values[i], col, connection)
    return Run.from_db(alias, [f.attname for f in _fields()], values)


def _converters(col: Col, connection: BaseDatabaseWrapper) -> list[Any]:
    return [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]
