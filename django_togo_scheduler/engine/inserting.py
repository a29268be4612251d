"""Insert a claim's runs in one statement, with their primary keys.

Django's ``bulk_create`` prepares every value of every row through its field,
one by one: for a claim of 500 runs that is 7,000 conversions, most of the
insert's time, though a burst's runs differ in their job's name and little
else. On PostgreSQL the runs are therefore inserted column by column: a column
whose value is the same in every run is converted and sent once, the others go
as one array each, spread by ``UNNEST`` (the statement Django itself builds for
a bulk insert there, with fewer and shorter parameters). Other databases keep
``bulk_create``.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from django_togo_scheduler.models import Run


def insert_runs(alias: str, runs: list[Run]) -> list[Run]:
    """Insert ``runs`` on ``alias`` and return them with their primary keys set.

    Behaves as ``bulk_create``: one statement, no signal sent, ``created_at``
    stamped, the objects come back saved (``_state.adding`` false); a slot
    recorded already raises ``IntegrityError`` and inserts nothing.
    """
    if not runs:
        return []
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return Run.objects.using(alias).bulk_create(runs)
    fields = [field for field in Run._meta.concrete_fields if not field.primary_key]
    _stamp(runs, fields)
    sql, params = _unnest_insert(connection, fields, runs)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [row[0] for row in cursor.fetchall()]
    # PostgreSQL returns the rows of INSERT ... SELECT in the order of the
    # SELECT, which bulk_create relies on too.
    for run, pk in zip(runs, pks, strict=True):
        run.pk = pk
        run._state.adding = False
        run._state.db = alias
    return runs


def _stamp(runs: list[Run], fields: list[models.Field[Any, Any]]) -> None:
    """Set the ``auto_now``/``auto_now_add`` fields through their ``pre_save``, as
    ``bulk_create`` does: Django stamps them, this module reads no clock."""
    stamped = [
        field
        for field in fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]
    for run in runs:
        for field in stamped:
            field.pre_save(run, True)


def _unnest_insert(
    connection: BaseDatabaseWrapper,
    fields: list[models.Field[Any, Any]],
    runs: list[Run],
) -> tuple[str, list[Any]]:
    """``INSERT ... SELECT`` of the constant columns as scalars, the others from ``UNNEST``.

    The first column always goes as an array, so ``UNNEST`` has one row per run.
    Types lose their length (``varchar``, not ``varchar(200)``): a cast to the
    column's own type would cut a value too long instead of failing, as Django's
    ``UNNEST`` insert avoids too.
    """
    quote = connection.ops.quote_name
    select: list[str] = []  # one expression per column
    unnest: list[str] = []  # one array per varying column
    scalars: list[Any] = []
    arrays: list[list[Any]] = []
    for index, field in enumerate(fields):
        db_type = str(field.db_type(connection)).split("(")[0]
        values = [getattr(run, field.attname) for run in runs]
        if index > 0 and all(value == values[0] for value in values):
            select.append(f"%s::{db_type}")
            scalars.append(field.get_db_prep_save(values[0], connection))
        else:
            select.append(f"u.c{len(unnest)}")
            unnest.append(f"%s::{db_type}[]")
            arrays.append([field.get_db_prep_save(v, connection) for v in values])
    names = ", ".join(f"c{n}" for n in range(len(unnest)))
    # A concrete field always has its column (the stubs allow None).
    columns = ", ".join(quote(str(field.column)) for field in fields)
    sql = (
        f"INSERT INTO {quote(Run._meta.db_table)} ({columns}) "
        f"SELECT {', '.join(select)} FROM UNNEST({', '.join(unnest)}) AS u({names}) "
        f"RETURNING {quote(str(Run._meta.pk.column))}"
    )
    # The parameters in the order of their placeholders: select list, then UNNEST.
    return sql, [*scalars, *arrays]
