"""The admin's health: the "no live scheduler" banner, overdue, explain, schedulers, queues."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils.html import escape

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from tests import test_admin as shared

pytestmark = pytest.mark.django_db

# The fixtures of test_admin, shared.
fast_passwords = shared.fast_passwords

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


JOBS = reverse("admin:django_togo_scheduler_scheduledjob_changelist")
PROCESSES = reverse("admin:django_togo_scheduler_schedulerprocess_changelist")


def change_url(job):
    return reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])


def process(host="web-1", ago=5, stopped=False, **fields):
    tick = NOW - timedelta(seconds=ago)
    return SchedulerProcess.objects.create(
        host=host,
        pid=1,
        started_at=tick - timedelta(hours=1),
        last_tick_at=tick,
        stopped_at=tick if stopped else None,
        **fields,
    )


def test_change_form__shows_overdue_since_in_the_admins_format(admin_client):
    job = ScheduledJob.objects.create(
        name="testapp.noop",
        spec="* * * * *",
        next_run_at=NOW,
        max_age="2h",
        overdue_since=NOW - timedelta(hours=1),
    )

    html = admin_client.get(change_url(job)).content.decode()

    assert '<div class="readonly">2026-11-27 11:00 UTC</div>' in html


def test_change_form__explains_the_last_slot_line_by_line(admin_client):
    job = ScheduledJob.objects.create(
        name="testapp.noop", spec="0 * * * *", next_run_at=NOW + timedelta(hours=1)
    )
    Run.objects.create(
        job="testapp.noop",
        scheduled_for=NOW,
        status="skipped",
        error="skipped: the previous run of this job is still in flight <b>",
    )
    from django_togo_scheduler.explain import explain

    html = admin_client.get(change_url(job)).content.decode()

    panel = html.split('<div class="togo-explain">')[1].split("</div></div>")[0]
    lines = re.findall(r'<div class="togo-explain-line">(.*?)</div>', panel + "</div>")
    expected = explain("testapp.noop", now=NOW).lines()
    assert lines == [escape(line) for line in expected]
    assert any("skipped" in line for line in lines)


# the scheduler processes


def test_processes__listed_read_only_with_their_state_and_a_count(admin_client):
    process("web-1", ago=5, abandoned_threads=2)
    process("web-2", ago=300)
    process("web-3", ago=0, stopped=True)

    response = admin_client.get(PROCESSES)

    html = response.content.decode()
    for host, css, state in (
        ("web-1:1", "togo-status-done", "live"),
        ("web-2:1", "togo-warning", "silent"),
        ("web-3:1", "togo-none", "stopped"),
    ):
        assert (
            f'{host}</a></th><td class="field-state">'
            f'<span class="togo-badge {css}">{state}</span></td>'
        ) in html
    assert '<td class="field-last_tick">2026-11-27 11:59:55 UTC <span' in html
    assert '<td class="field-abandoned_threads">2</td>' in html
    # Paged as Django pages, with the count: not "no scheduler processes".
    assert "3 scheduler processes" in html
    assert "no scheduler processes" not in html
    assert (
        admin_client.get(
            reverse("admin:django_togo_scheduler_schedulerprocess_add")
        ).status_code
        == 403
    )


def test_pagination__the_uncounted_pages_still_say_when_empty(admin_client):
    html = admin_client.get(JOBS).content.decode()

    assert "no scheduled jobs" in html
