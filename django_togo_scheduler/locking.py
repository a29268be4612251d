"""Short write transactions that two schedulers can never interleave.

PostgreSQL (and any database with ``SKIP LOCKED``) locks the selected rows so a
second scheduler skips them. SQLite has no row locks and silently drops
``FOR UPDATE``: there the transaction takes the database's write lock before it
reads, so a second scheduler waits (busy timeout) and then sees the committed
result instead of the same stale rows.

And when a query is interrupted (Ctrl-C), :func:`fresh_connection` lets go of
the connection and of the lock its query held.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, connections, models, router, transaction

M = TypeVar("M", bound=models.Model)


@contextmanager
def write_transaction(model: type[models.Model]) -> Iterator[str]:
    """An atomic block on ``model``'s database, holding SQLite's write lock from the start."""
    alias = router.db_for_write(model)
    with transaction.atomic(using=alias):
        connection = connections[alias]
        if connection.vendor == "sqlite":
            # A write statement takes SQLite's RESERVED lock even when it matches
            # no row; every read after it sees the latest committed state.
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"UPDATE {table} SET id = id WHERE 0 = 1")
        yield alias


def lock_rows(queryset: models.QuerySet[M], alias: str) -> models.QuerySet[M]:
    """``queryset`` locked for update, skipping rows another transaction holds."""
    features = connections[alias].features
    if features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    if features.has_select_for_update:
        return queryset.select_for_update()
    return queryset


def fresh_connection(alias: str) -> None:
    """Drop this thread's connection unless a transaction holds it.

    A Ctrl-C that interrupts :meth:`Handover.wait` in the middle of a query
    leaves the connection busy ("another command is already in progress" on
    PostgreSQL): the next query opens a new one. On SQLite the interrupted
    query holds its lock until its cursor is freed: collect it, once the
    caller has left the ``except`` block whose traceback held it.
    """
    conn = connections[alias]
    if conn.in_atomic_block:
        return
    with contextlib.suppress(DatabaseError):  # closed anyway: Django forgets it
        conn.close()
    gc.collect()  # a cursor caught in a reference cycle of the traceback's frames
