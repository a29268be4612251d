from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from django_togo_scheduler.models import Run, ScheduledJob

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
