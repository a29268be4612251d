"""Where schedules are written: zones, pause and resume, the admin form's edit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from django_togo_scheduler import schedules
from django_togo_scheduler.exceptions import InvalidTimezone, UnknownJob
from django_togo_scheduler.models import ScheduledJob

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 29, 0, 30, 15, tzinfo=UTC)


def make(name="a", spec="0 * * * *", **fields):
    return ScheduledJob.objects.create(
        name=name, spec=spec, next_run_at=NOW - timedelta(hours=5), **fields
    )


def test_zone__the_schedules_own_or_the_setting(settings):
    settings.TOGO_SCHEDULER = {"TIMEZONE": "Asia/Tokyo"}
    assert schedules.zone_name("") == "Asia/Tokyo"
    assert schedules.zone_name("Europe/Paris") == "Europe/Paris"
    assert schedules.schedule_zone("") == ZoneInfo("Asia/Tokyo")
    with pytest.raises(InvalidTimezone):
        schedules.schedule_zone("Mars/Olympus")


def test_first_slot__in_the_schedules_zone():
    # 00:30 UTC is 06:00 in Kolkata (+05:30): the next hour there is 07:00,
    # 01:30 UTC; in UTC it is 01:00.
    assert schedules.first_slot("0 * * * *", "Asia/Kolkata", NOW) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert schedules.first_slot("0 * * * *", "UTC", NOW) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )


def test_pause__records_why_by_whom_and_when():
    make()
    schedules.pause_named("a", "deploy", "alice", NOW)
    job = ScheduledJob.objects.get()
    assert (job.paused, job.paused_reason, job.paused_by, job.paused_at) == (
        True,
        "deploy",
        "alice",
        NOW,
    )
    assert job.updated_at == NOW
    with pytest.raises(UnknownJob):
        schedules.pause_named("nope", "", "", NOW)


def test_resume__a_paused_schedule_restarts_from_its_next_slot_and_forgets_the_pause():
    make(paused=True, paused_reason="deploy", paused_by="alice", paused_at=NOW)
    job = schedules.resume("a", NOW)
    stored = ScheduledJob.objects.get()
    assert stored.next_run_at == job.next_run_at == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert (stored.paused, stored.paused_reason, stored.paused_by) == (False, "", "")
    assert stored.paused_at is None
    with pytest.raises(UnknownJob):
        schedules.resume("nope", NOW)


def test_resume__a_running_schedule_keeps_its_pending_slot():
    made = make()
    schedules.resume("a", NOW)
    assert ScheduledJob.objects.get().next_run_at == made.next_run_at


def test_lift_pause__keeps_the_next_slot_and_restart_moves_it():
    made = make(paused=True, paused_reason="left out", paused_by="simulation")
    schedules.lift_pause(ScheduledJob.objects.all())
    job = ScheduledJob.objects.get()
    assert (job.paused, job.next_run_at) == (False, made.next_run_at)

    schedules.restart(job, NOW)
    assert (
        ScheduledJob.objects.get().next_run_at
        == job.next_run_at
        == datetime(2026, 3, 29, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("changed", "created", "moves"),
    [
        ((), True, True),
        (("spec",), False, True),
        (("timezone",), False, True),
        (("queue",), False, False),
    ],
)
def test_edit__a_new_schedule_or_a_new_spec_or_zone_starts_from_its_first_slot(
    changed, created, moves
):
    job = ScheduledJob(name="a", spec="0 * * * *", next_run_at=NOW - timedelta(hours=5))
    schedules.edit(job, changed, created=created, by="alice", now=NOW)
    expected = (
        datetime(2026, 3, 29, 1, tzinfo=UTC) if moves else NOW - timedelta(hours=5)
    )
    assert job.next_run_at == expected


def test_edit__pausing_in_the_form_records_who_and_unpausing_is_a_resume():
    job = ScheduledJob(name="a", spec="0 * * * *", next_run_at=NOW, paused=True)
    schedules.edit(job, ["paused"], created=False, by="alice", now=NOW)
    assert (job.paused_by, job.paused_at, job.next_run_at) == ("alice", NOW, NOW)

    job.paused = False
    job.paused_reason = "deploy"
    schedules.edit(job, ["paused"], created=False, by="bob", now=NOW)
    assert (job.paused_reason, job.paused_by, job.paused_at) == ("", "", None)
    assert job.next_run_at == datetime(2026, 3, 29, 1, tzinfo=UTC)
