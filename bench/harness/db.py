"""Throwaway databases: created, dropped and migrated; statistics; statements counted.

PostgreSQL is on ``PGHOST:PGPORT`` as ``PGUSER`` (127.0.0.1:5432, postgres).
Only databases whose name starts with ``togo_`` are ever dropped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Not counted as statements: PostgreSQL's BEGIN/COMMIT never pass through execute().
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
SQLITE_FILES = ("", "-journal", "-wal", "-shm")  # a database and its side files


def pg_params(
    host: str | None = None, port: str | None = None, user: str | None = None
) -> dict[str, str]:
    """Where PostgreSQL is: the arguments, else ``PGHOST``, ``PGPORT``, ``PGUSER``."""
    return {
        "host": host or os.environ.get("PGHOST", "127.0.0.1"),
        "port": port or os.environ.get("PGPORT", "5432"),
        "user": user or os.environ.get("PGUSER", "postgres"),
    }


def _admin(**params: Any) -> Any:
    """An autocommit connection to the ``postgres`` database."""
    import psycopg

    return psycopg.connect(dbname="postgres", autocommit=True, **params)


def recreate_postgres(
    name: str, host: str | None = None, port: str | None = None, user: str | None = None
) -> None:
    """Drop the PostgreSQL database ``name`` (ending its connections), create it."""
    assert name.startswith("togo_"), name
    with _admin(**pg_params(host, port, user)) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(name: str) -> None:
    """Drop the PostgreSQL database ``name``, ending its connections."""
    assert name.startswith("togo_"), name
    with _admin(**pg_params()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_unreachable(timeout: int = 5) -> str | None:
    """Why PostgreSQL cannot be reached (None when it answers)."""
    try:
        with _admin(**pg_params(), connect_timeout=timeout):
            pass
    except Exception as exc:  # ImportError, OperationalError
        return f"PostgreSQL is unreachable: {exc}".strip()
    return None


def postgres_listening(timeout: float = 1.0) -> bool:
    """Whether something listens on PostgreSQL's port (no connection made)."""
    params = pg_params()
    try:
        with socket.create_connection(
            (params["host"], int(params["port"])), timeout=timeout
        ):
            return True
    except OSError:
        return False


def remove_sqlite(path: str | Path) -> None:
    """Delete the SQLite file ``path`` and its journal, WAL and shared memory."""
    for suffix in SQLITE_FILES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def recreate_database() -> None:
    """Django's default database made anew, migrated and empty.

    A SQLite file is deleted; a PostgreSQL database dropped and created again.
    """
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    params = connections["default"].settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        remove_sqlite(params["NAME"])
    else:
        recreate_postgres(
            params["NAME"],
            params.get("HOST") or None,
            str(params.get("PORT") or "") or None,
            params.get("USER") or None,
        )
    call_command("migrate", verbosity=0)


def analyze() -> None:
    """Refresh PostgreSQL's statistics, as autovacuum soon would in production.

    Right after a bulk insert the planner has none and scans the whole table for
    the due query instead of using its partial index on next_run_at.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def server_version() -> str:
    """The database server's version (SQLite's library version)."""
    from django.db import connection

    if connection.vendor == "sqlite":
        query = "select sqlite_version()"
    else:
        query = "show server_version"
    with connection.cursor() as cursor:
        cursor.execute(query)
        return str(cursor.fetchone()[0])


def raw_delete(model: Any) -> None:
    """Delete every row of ``model`` in one statement (no signals, no cascade)."""
    model.objects.all()._raw_delete(model.objects.db)


@contextmanager
def count_queries() -> Iterator[list[int]]:
    """Count the SQL statements run on the default connection (cheaply, no DEBUG).

    ``counter[0]`` is the count; transaction control is not counted.
    """
    from django.db import connection

    counter = [0]

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            counter[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter
