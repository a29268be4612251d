"""The admin shows overdue schedules, the explanation of the last slot, and the schedulers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def test_changelist__flags_an_overdue_schedule(admin_client):
    ScheduledJob.objects.create(
        name="testapp.noop",
        spec="* * * * *",
        next_run_at=NOW,
        max_age="2h",
        overdue_since=NOW - timedelta(hours=1),
    )
    html = admin_client.get(
        reverse("admin:django_togo_scheduler_scheduledjob_changelist")
    ).content.decode()
    assert ">overdue</span>" in html
    assert (
        "No successful run within max_age (2h) since 2026-11-27T11:00:00+00:00." in html
    )


def test_change_form__explains_the_last_slot(admin_client):
    job = ScheduledJob.objects.create(
        name="testapp.noop", spec="0 * * * *", next_run_at=NOW + timedelta(hours=1)
    )
    Run.objects.create(
        job="testapp.noop",
        scheduled_for=NOW,
        status="skipped",
        error="skipped: the previous run of this job is still in flight",
    )
    html = admin_client.get(
        reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])
    ).content.decode()
    assert '<pre class="togo-explain">' in html
    assert "skipped" in html.split('<pre class="togo-explain">')[1].split("</pre>")[0]


def test_processes__listed_read_only_with_their_state(admin_client):
    SchedulerProcess.objects.create(
        host="web-1", pid=1, started_at=NOW, last_tick_at=NOW - timedelta(seconds=5)
    )
    SchedulerProcess.objects.create(
        host="web-2", pid=2, started_at=NOW, last_tick_at=NOW - timedelta(minutes=5)
    )
    SchedulerProcess.objects.create(
        host="web-3", pid=3, started_at=NOW, last_tick_at=NOW, stopped_at=NOW
    )
    url = reverse("admin:django_togo_scheduler_schedulerprocess_changelist")
    html = admin_client.get(url).content.decode()
    for host, state in (
        ("web-1:1", "live"),
        ("web-2:2", "silent"),
        ("web-3:3", "stopped"),
    ):
        assert f'{host}</a></th><td class="field-state">{state}</td>' in html
    assert (
        admin_client.get(
            reverse("admin:django_togo_scheduler_schedulerprocess_add")
        ).status_code
        == 403
    )
