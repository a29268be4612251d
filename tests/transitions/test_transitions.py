from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from django_togo_scheduler import clock, transitions
from django_togo_scheduler.execution import execute_run
from django_togo_scheduler.models import Run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_start__wins_a_queued_run_once():
    run = Run.objects.create(job="test.record", trigger="manual")

    started = transitions.start(run.pk, NOW, "host:1")

    assert started is not None
    assert (started.pk, started.status, started.worker) == (run.pk, "running", "host:1")
    assert started.started_at == started.heartbeat_at == NOW
    assert started._state.db == "default" and not started._state.adding
    assert transitions.start(run.pk, NOW, "host:2") is None
    assert Run.objects.get(pk=run.pk).worker == "host:1"


def test_end__only_a_running_run():
    run = Run.objects.create(job="test.record", trigger="manual")
    assert transitions.end(run.pk, "done", NOW, "") is False  # still queued

    transitions.start(run.pk, NOW, "host:1")
    assert transitions.end(run.pk, "failed", NOW, "boom") is True
    assert transitions.end(run.pk, "done", NOW, "") is False

    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.finished_at, stored.error) == ("failed", NOW, "boom")


@pytest.mark.parametrize("returning", [True, False])
def test_start__one_statement_where_update_returns_rows(monkeypatch, returning):
    monkeypatch.setattr(transitions.sql, "returns_from_update", lambda _conn: returning)
    run = Run.objects.create(job="test.record", trigger="manual")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        transitions.start(run.pk, NOW, "host:1")

    assert statements[0].startswith("UPDATE ")
    assert ("RETURNING" in statements[0]) is returning
    assert len(statements) == (1 if returning else 2)  # else the update and a read


def test_fail__noop_when_the_run_ended_meanwhile(calls):
    run = Run.objects.create(job="test.record", trigger="manual")
    stale_copy = Run.objects.get(pk=run.pk)
    execute_run(run.pk)
    assert transitions.fail(stale_copy, "worker died", clock.now()) is False
    assert Run.objects.get(pk=run.pk).status == "done"
