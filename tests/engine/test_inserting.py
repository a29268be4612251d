from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from django_togo_scheduler.engine.inserting import insert_runs
from django_togo_scheduler.models import Run, RunQuerySet

pytestmark = pytest.mark.django_db


def burst(now, count=5):
    """Runs alike but for their job's name, as a burst of "* * * * *" records."""
    return [
        Run(
            job=f"job{i}",
            scheduled_for=now,
            queue="default",
            dispatched_at=now,
            heartbeat_at=now,
            dispatch_count=1,
        )
        for i in range(count)
    ]


def mixed(now):
    """Runs differing in every column the claim sets, nulls among the values."""
    return [
        Run(job="a", scheduled_for=now, timeout=30, queue="q1", dispatch_count=1),
        Run(
            job="a",
            scheduled_for=now + timedelta(minutes=1),
            trigger=Run.Trigger.CATCHUP,
            status=Run.Status.SKIPPED,
            error="skipped: busy",
            finished_at=now,
            queue="q2",
            dispatched_at=now,
        ),
        Run(job="b", scheduled_for=None, heartbeat_at=now, worker="w"),
    ]


def stored():
    """Every column of every run, the primary key and creation stamp left out."""
    rows = Run.objects.order_by("id").values()
    return [
        {k: v for k, v in row.items() if k not in ("id", "created_at")} for row in rows
    ]


@pytest.mark.parametrize("make", [burst, mixed])
def test_insert_runs__stores_what_bulk_create_stores(now, make):
    Run.objects.bulk_create(make(now))
    expected = stored()
    Run.objects.all().delete()

    insert_runs("default", make(now))

    assert stored() == expected


@pytest.mark.parametrize("make", [burst, mixed])
def test_insert_runs__returns_the_runs_saved_with_their_keys(now, make):
    runs = make(now)

    created = insert_runs("default", runs)

    assert created == runs
    assert all(run._state.adding is False for run in created)
    assert all(run._state.db == "default" for run in created)
    for run in created:
        row = Run.objects.get(pk=run.pk)
        assert (row.job, row.scheduled_for, row.status) == (
            run.job,
            run.scheduled_for,
            run.status,
        )
        assert row.created_at == run.created_at is not None


def test_insert_runs__nothing_to_insert_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_runs("default", []) == []


def test_insert_runs__a_slot_recorded_already_inserts_nothing(now):
    Run.objects.create(job="job3", scheduled_for=now, status=Run.Status.DONE)

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_runs("default", burst(now))

    assert Run.objects.count() == 1


@pytest.mark.postgres_only  # SQLite does not enforce a varchar's length
def test_insert_runs__a_value_too_long_fails_instead_of_being_cut(now):
    runs = burst(now, count=2)
    runs[1].job = "x" * 201

    with pytest.raises(DataError), transaction.atomic():
        insert_runs("default", runs)


@pytest.mark.postgres_only  # the one-statement insert is PostgreSQL's
def test_insert_runs__one_statement_on_postgresql(now, django_assert_num_queries):
    with django_assert_num_queries(1):
        insert_runs("default", burst(now, count=300))

    assert Run.objects.count() == 300


def test_insert_runs__other_databases_use_bulk_create(now, monkeypatch):
    calls = []
    original = RunQuerySet.bulk_create

    def spy(self, objs, *args, **kwargs):
        calls.append(len(objs))
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(RunQuerySet, "bulk_create", spy)
    monkeypatch.setattr(connection, "vendor", "other")

    created = insert_runs("default", burst(now))

    assert calls == [5]
    assert [run.pk for run in created] == list(
        Run.objects.order_by("id").values_list("id", flat=True)
    )
