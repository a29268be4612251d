"""The idle tick's one query: the earliest slot to come, and whether the outbox holds a run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections, router

from django_togo_scheduler.models import Run, ScheduledJob

from .due import aware


def probe(exclude: set[str]) -> tuple[datetime | None, bool]:
    """The earliest active ``next_run_at`` and whether the outbox holds a run: one query.

    The statement is compiled once per database and process (the idle tick is
    then the statement alone); only a process that left schedules out (no
    handler here) compiles its own each time.
    """
    alias = router.db_for_read(ScheduledJob)
    connection = connections[alias]
    compiled = None if exclude else _PROBES.get(alias)
    if compiled is None:
        compiled = _compile_probe(alias, exclude)
        if not exclude:
            _PROBES[alias] = compiled
    sql, params = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        next_due, pending_pk = cursor.fetchone()
    return aware(next_due), pending_pk is not None


_PROBES: dict[str, tuple[str, tuple[Any, ...]]] = {}


def _compile_probe(alias: str, exclude: set[str]) -> tuple[str, tuple[Any, ...]]:
    jobs = ScheduledJob.objects.enabled().filter(next_run_at__isnull=False)
    if exclude:
        jobs = jobs.exclude(name__in=sorted(exclude))
    first = jobs.order_by("next_run_at").values("next_run_at")[:1]
    pending = Run.objects.in_outbox()
    first_sql, first_params = first.query.get_compiler(using=alias).as_sql()
    pending_sql, pending_params = (
        pending.order_by().values("pk")[:1].query.get_compiler(using=alias).as_sql()
    )
    return f"SELECT ({first_sql}), ({pending_sql})", (*first_params, *pending_params)
