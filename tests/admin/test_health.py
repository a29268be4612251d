"""The admin's health: the "no live scheduler" banner, overdue, explain, schedulers, queues."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from django_togo_scheduler import clock
from django_togo_scheduler.admin.health import configured_queues, queue_warning
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from tests.admin import test_jobs as shared
from tests.admin.test_jobs import staff

pytestmark = pytest.mark.django_db

# The fixtures of test_jobs, shared.
fast_passwords = shared.fast_passwords

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


JOBS = reverse("admin:django_togo_scheduler_scheduledjob_changelist")
ADD_JOB = reverse("admin:django_togo_scheduler_scheduledjob_add")
PROCESSES = reverse("admin:django_togo_scheduler_schedulerprocess_changelist")
BANNER = '<div class="togo-banner" role="alert">'


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


def test_change_form__an_explanation_that_fails_shows_its_error(
    admin_client, monkeypatch
):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly")

    def broken(name, now):
        raise LookupError(f"no schedule named {name!r} <now>")

    monkeypatch.setattr("django_togo_scheduler.explain.explain", broken)
    html = admin_client.get(change_url(job)).content.decode()

    assert (
        '<div class="togo-explain"><div class="togo-explain-line">'
        "no schedule named &#x27;testapp.noop&#x27; &lt;now&gt;</div></div>"
    ) in html


# the "no live scheduler" banner


@pytest.mark.parametrize("url", ["list", "change", "add"])
def test_schedule_pages__say_when_no_scheduler_is_live(admin_client, url):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly")
    process("web-2", ago=31)  # silent just past the 30 s of scheduler status
    process("web-3", ago=1, stopped=True)
    page = {"list": JOBS, "change": change_url(job), "add": ADD_JOB}[url]

    html = admin_client.get(page).content.decode()

    banner = html.split(BANNER)[1].split("</div>")[0]
    assert "No scheduler is running: schedules are not firing." in banner
    assert "ticked in the last 30 seconds" in banner
    assert "<code>python manage.py runscheduler</code>" in banner
    assert f'<a href="{PROCESSES}">Scheduler processes</a>' in banner


@pytest.mark.parametrize("url", ["list", "change"])
def test_schedule_pages__no_banner_with_a_live_scheduler(admin_client, url):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly")
    process("web-1", ago=30)  # the boundary still counts as live
    page = {"list": JOBS, "change": change_url(job)}[url]

    response = admin_client.get(page)

    assert response.status_code == 200
    assert "togo-banner" not in response.content.decode()


def test_schedule_list__the_banner_is_one_query_whatever_the_rows(admin_client):
    for index in range(30):
        ScheduledJob.objects.create(name=f"job.{index}", spec="@hourly")

    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(JOBS).content.decode()

    table = SchedulerProcess._meta.db_table
    assert BANNER in html
    assert len([q for q in queries.captured_queries if table in q["sql"]]) == 1


def test_schedule_list__no_link_to_the_processes_without_permission_to_see_them(
    client, django_user_model
):
    staff(client, django_user_model, "view_scheduledjob")

    html = client.get(JOBS).content.decode()

    assert BANNER in html
    assert PROCESSES not in html


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


# the queue of a schedule that RQ_QUEUES lacks


@pytest.fixture
def two_queues(settings):
    settings.RQ_QUEUES = {
        "default": {"URL": "redis://127.0.0.1:6379/0"},
        "low": {"URL": "redis://127.0.0.1:6379/0"},
    }


def form_data(**fields):
    data = {
        "name": "testapp.noop", "spec": "@hourly", "timezone": "", "paused_reason": "",
        "queue": "", "timeout": "", "catchup": "latest", "max_age": "",
    }  # fmt: skip
    data.update(fields)
    return data


def test_queue_warning__names_the_configured_queues_or_says_there_are_none(settings):
    settings.RQ_QUEUES = {"low": {}, "default": {}}
    assert queue_warning("default") == ""
    assert queue_warning("") == ""
    assert queue_warning("reports") == (
        "No RQ_QUEUES entry is named 'reports', so this schedule's runs run inline "
        "in the scheduler process, not on RQ. Configured queues: default, low."
    )
    settings.RQ_QUEUES = {}
    assert queue_warning("reports").startswith(
        "No RQ_QUEUES entry is named 'reports' (there is none, or django-rq is not "
        "installed)"
    )


def test_queue_warning__without_django_rq_no_queue_is_configured(settings, monkeypatch):
    from django.apps import apps

    settings.RQ_QUEUES = {"default": {}}
    installed = apps.is_installed
    monkeypatch.setattr(
        apps, "is_installed", lambda name: name != "django_rq" and installed(name)
    )

    assert configured_queues() == []
    assert "django-rq is not installed" in queue_warning("default")


def test_change_form__warns_next_to_a_queue_rq_lacks_and_suggests_the_others(
    admin_client, two_queues
):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly", queue="rep")
    good = ScheduledJob.objects.create(
        name="testapp.fails", spec="@hourly", queue="low"
    )

    html = admin_client.get(change_url(job)).content.decode()

    row = html.split('class="form-row field-queue"')[1].split('class="form-row')[0]
    assert '<span class="togo-field-warning">No RQ_QUEUES entry is named' in row
    assert "Configured queues: default, low." in row
    assert 'list="togo-queues"' in row
    assert re.findall(r'<option value="([^"]+)">', row) == ["default", "low"]
    assert (
        "togo-field-warning" not in admin_client.get(change_url(good)).content.decode()
    )


def test_change_form__a_queue_rq_lacks_saves_with_a_warning(admin_client, two_queues):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly")

    def saved(queue):
        response = admin_client.post(
            change_url(job), form_data(queue=queue), follow=True
        )
        assert response.redirect_chain[0][1] == 302
        return [(m.level_tag, str(m)) for m in response.context["messages"]]

    reports = saved("reports")
    assert ScheduledJob.objects.get().queue == "reports"
    assert reports[0] == ("warning", queue_warning("reports"))
    assert [level for level, _text in reports] == ["warning", "success"]

    assert [level for level, _text in saved("low")] == ["success"]


def test_change_form__the_warning_follows_the_queue_typed(admin_client, two_queues):
    job = ScheduledJob.objects.create(name="testapp.noop", spec="@hourly", queue="low")

    # Shown again with another field's error: the queue typed is warned about.
    response = admin_client.post(
        change_url(job), form_data(queue="reprots", spec="61 * * * *")
    )

    assert response.status_code == 200
    assert (
        "No RQ_QUEUES entry is named &#x27;reprots&#x27;" in response.content.decode()
    )
