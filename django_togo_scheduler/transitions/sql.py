"""The guarded writes of ``start`` and ``end`` as SQL built once per database.

Compiling them through the ORM for every run cost more than their round trips to
PostgreSQL; a row an ``UPDATE ... RETURNING`` gives back goes through the same
converters a queryset would apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.db.models.expressions import Col

from django_togo_scheduler.models import Run

# Columns the start sets, in the order of its parameters.
START_CHANGES = ("status", "started_at", "heartbeat_at", "worker")
END_CHANGES = ("status", "finished_at", "error")


def execute(
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


def prep(name: str, value: Any, connection: BaseDatabaseWrapper) -> Any:
    return _field(name).get_db_prep_save(value, connection)


@functools.cache
def _field(name: str) -> Field[Any, Any]:
    field = Run._meta.get_field(name)
    assert isinstance(field, Field)
    return field


_SQL: dict[tuple[str, str, str], str] = {}  # (alias, vendor, statement) -> SQL


def start_sql(connection: BaseDatabaseWrapper, *, returning: bool) -> str:
    key = (connection.alias, connection.vendor, "start" if returning else "start-")
    if key not in _SQL:
        quote = connection.ops.quote_name
        sql = _guarded_update(START_CHANGES, quote)
        if returning:
            sql += " RETURNING " + ", ".join(quote(str(f.column)) for f in _fields())
        _SQL[key] = sql
    return _SQL[key]


def end_sql(connection: BaseDatabaseWrapper) -> str:
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


def from_row(alias: str, connection: BaseDatabaseWrapper, row: Sequence[Any]) -> Run:
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
