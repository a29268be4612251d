from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from django_togo_scheduler.declared import sync_declared
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.overdue import check_overdue

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_scheduled_job__str_and_queryset_filters():
    due = ScheduledJob.objects.create(name="a", spec="* * * * *", next_run_at=T0)
    ScheduledJob.objects.create(
        name="b", spec="* * * * *", next_run_at=T0 + timedelta(minutes=1)
    )
    ScheduledJob.objects.create(name="c", spec="* * * * *", next_run_at=T0, paused=True)
    assert str(due) == "a (* * * * *)"
    assert list(ScheduledJob.objects.due(T0)) == [due]
    assert sorted(ScheduledJob.objects.enabled().values_list("name", flat=True)) == [
        "a",
        "b",
    ]


def test_scheduled_job__clean_reports_every_bad_field():
    job = ScheduledJob(
        name="a", spec="61 * * * *", timezone="Nowhere/City", max_age="soon"
    )
    with pytest.raises(ValidationError) as info:
        job.clean()
    errors = info.value.message_dict
    assert set(errors) == {"spec", "timezone", "max_age"}
    assert "61 * * * *" in errors["spec"][0]


def test_scheduled_job__clean_normalises_the_spec():
    job = ScheduledJob(name="a", spec="  */5   *  * * * ")
    job.clean()
    assert job.spec == "*/5 * * * *"


def test_run__one_run_per_slot_but_many_manual_runs():
    Run.objects.create(job="a", scheduled_for=T0)
    Run.objects.create(job="a", scheduled_for=None, trigger="manual")
    Run.objects.create(job="a", scheduled_for=None, trigger="manual")
    Run.objects.create(job="b", scheduled_for=T0)
    with pytest.raises(IntegrityError):
        Run.objects.create(job="a", scheduled_for=T0)


def test_run__duration_str_and_querysets():
    run = Run(
        job="a",
        scheduled_for=T0,
        status="done",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
    )
    assert run.duration == timedelta(seconds=3)
    assert str(run) == "a @ 2026-11-27T12:00:00+00:00: done"
    assert Run(job="a", started_at=T0).duration is None
    assert Run(job="a").duration is None
    assert str(Run(job="a", trigger="manual", status="queued")) == "a @ manual: queued"
    assert Run(job="a", status="running").is_in_flight
    assert not run.is_in_flight
    run.save()
    queued = Run.objects.create(job="b")
    assert list(Run.objects.in_flight()) == [queued]
    assert list(Run.objects.finished()) == [run]


def test_run__newest_first_by_default():
    a = Run.objects.create(job="a")
    b = Run.objects.create(job="a", trigger="manual")
    assert list(Run.objects.all()) == [b, a]


# The start's two reads of the schedules table go through partial indexes: with
# 100,000 schedules a scan of the table costs 10-15 ms each.


def plan(sql):
    """The query plan of a captured statement, as one string."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables are cheaper to scan: ask whether the index can
            # serve the query at all (its condition is implied by the WHERE),
            # with statistics as a deployment has them.
            cursor.execute(f"ANALYZE {ScheduledJob._meta.db_table}")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def statements(func, marker):
    """The statements ``func()`` ran on the schedules table whose WHERE has ``marker``."""
    table = ScheduledJob._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        func()
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and table in q["sql"]
        and marker in q["sql"].rpartition(" WHERE ")[2]
    ]  # fmt: skip


def some_schedules(**fields):
    ScheduledJob.objects.bulk_create(
        ScheduledJob(name=f"perf.job{i:03d}", spec="@hourly", next_run_at=T0, **fields)
        for i in range(300)
    )


def test_indexes__the_sync_reads_the_declared_names_from_their_index(
    registry, settings
):
    registry.register("test.kept", lambda: None)
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"test.kept": "@hourly"}}
    some_schedules()

    (sql,) = statements(lambda: sync_declared(T0), '."declared"')

    assert "togo_job_declared_name" in plan(sql)


def test_indexes__the_overdue_check_reads_its_candidates_from_their_index_in_order():
    some_schedules()
    ScheduledJob.objects.bulk_create(
        [
            ScheduledJob(name="b.max_age", spec="@hourly", max_age="1h"),
            ScheduledJob(
                name="a.paused", spec="@hourly", paused=True, overdue_since=T0
            ),
            ScheduledJob(name="c.paused", spec="@hourly", paused=True, max_age="1h"),
        ]
    )
    candidates = ScheduledJob.objects.overdue_candidates()
    assert list(candidates.values_list("name", flat=True)) == ["a.paused", "b.max_age"]

    (sql,) = statements(lambda: check_overdue(T0), '."overdue_since"')
    # The candidates' own query, not the subquery on the runs.
    outer = plan(sql).split("SubPlan")[0].split("CORRELATED")[0]

    assert "togo_job_overdue_candidates" in outer
    assert "Sort" not in outer and "TEMP B-TREE" not in outer  # the index's order
