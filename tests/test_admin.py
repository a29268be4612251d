"""The admin: schedule changelist, form and actions with their permissions; the read-only run log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import get_timezone, validate_spec

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:django_togo_scheduler_scheduledjob_changelist")
ADD_JOB = reverse("admin:django_togo_scheduler_scheduledjob_add")
RUNS = reverse("admin:django_togo_scheduler_run_changelist")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """admin_client's superuser has a password; hashing it properly costs 0.3 s a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock_at(monkeypatch, now):
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: now)
    return now


@pytest.fixture
def staff_client(client, django_user_model):
    """A staff user who may view and change schedules and view runs, but not trigger."""
    user = django_user_model.objects.create_user("operator", is_staff=True)
    codenames = ["view_scheduledjob", "change_scheduledjob", "view_run"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def error_of(func, value):
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


def make_job(name="testapp.noop", spec="@hourly", **fields):
    fields.setdefault("next_run_at", datetime(2026, 11, 27, 13, tzinfo=UTC))
    return ScheduledJob.objects.create(name=name, spec=spec, **fields)


def form_data(**fields):
    data = {
        "name": "testapp.noop", "spec": "*/5 * * * *", "timezone": "", "paused_reason": "",
        "queue": "", "timeout": "", "catchup": "latest", "max_age": "",
    }  # fmt: skip
    data.update(fields)
    return data


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def run_action(client, action, *jobs):
    return client.post(
        JOBS,
        {"action": action, "_selected_action": [job.pk for job in jobs]},
        follow=True,
    )


# changelists


def test_job_changelist__lists_schedules_with_last_status(admin_client):
    make_job("testapp.noop", "*/5 * * * *")
    make_job("testapp.fails", "@daily", paused=True)
    Run.objects.create(job="testapp.noop", status="failed")
    Run.objects.create(job="testapp.noop", status="done")

    response = admin_client.get(JOBS)

    assert response.status_code == 200
    rows = {
        job.name: response.context["cl"].model_admin.last_status(job)
        for job in response.context["cl"].result_list
    }
    assert rows == {"testapp.fails": "-", "testapp.noop": "done"}
    assert "*/5 * * * *" in response.content.decode()


def test_job_changelist__queries_do_not_grow_with_the_rows(admin_client):
    make_job("testapp.noop")
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get(JOBS).status_code == 200
    for name in ("testapp.fails", "testapp.slow", "testapp.no_args"):
        make_job(name)
        Run.objects.create(job=name, status="done")
    with CaptureQueriesContext(connection) as four:
        assert admin_client.get(JOBS).status_code == 200

    assert len(four) == len(one)


def test_run_changelist__loads_and_filters_by_job_status_and_trigger(admin_client, now):
    Run.objects.create(
        job="testapp.noop", status="done", trigger="schedule", scheduled_for=now
    )
    Run.objects.create(job="testapp.noop", status="failed", trigger="manual")
    Run.objects.create(
        job="testapp.fails", status="failed", trigger="catchup", scheduled_for=now
    )

    def count(query):
        response = admin_client.get(f"{RUNS}?{query}")
        assert response.status_code == 200
        return response.context["cl"].result_count

    filters = admin_client.get(RUNS).context["cl"].filter_specs
    assert [str(spec.title) for spec in filters] == ["job", "status", "trigger"]
    assert count("") == 3
    assert count("job=testapp.noop") == 2
    assert count("status__exact=failed") == 2
    assert count("trigger__exact=catchup") == 1
    assert count("job=testapp.noop&status__exact=failed") == 1


# the add and change forms


def test_add_form__rejects_an_invalid_spec_with_the_invalid_spec_message(admin_client):
    response = admin_client.post(ADD_JOB, form_data(spec="*/5 * * *"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["spec"] == [error_of(validate_spec, "*/5 * * *")]
    assert "'*/5 * * *'" in errors["spec"][0]
    assert not ScheduledJob.objects.exists()


def test_add_form__rejects_a_bad_time_zone(admin_client):
    response = admin_client.post(ADD_JOB, form_data(timezone="Europe/Atlantis"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["timezone"] == [
        error_of(get_timezone, "Europe/Atlantis")
    ]
    assert not ScheduledJob.objects.exists()


def test_add_form__rejects_a_name_with_no_handler(admin_client):
    response = admin_client.post(ADD_JOB, form_data(name="testapp.typo"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [
        "No job handler is registered under the name 'testapp.typo'."
    ]
    assert not ScheduledJob.objects.exists()


def test_add_form__valid_computes_next_run_at_and_normalises_the_spec(
    admin_client, clock_at
):
    response = admin_client.post(
        ADD_JOB,
        form_data(spec="  0 9  * * 1-5", timezone="Europe/Berlin", timeout="30"),
    )

    assert response.status_code == 302
    job = ScheduledJob.objects.get()
    assert (job.name, job.spec, job.timezone, job.timeout, job.paused) == (
        "testapp.noop", "0 9 * * 1-5", "Europe/Berlin", 30, False,
    )  # fmt: skip
    # Friday 12:00 UTC: the next weekday 09:00 in Berlin is Monday 08:00 UTC.
    assert job.next_run_at == datetime(2026, 11, 30, 8, tzinfo=UTC)


def test_change_form__previews_the_next_fire_times(admin_client, clock_at):
    job = make_job("testapp.noop", "30 8 * * *", timezone="Asia/Tokyo")

    response = admin_client.get(
        reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])
    )

    assert response.status_code == 200
    html = response.content.decode()
    for day in range(28, 33):
        moment = datetime(2026, 11, 27, 23, 30, tzinfo=UTC) + timedelta(days=day - 28)
        assert (
            f"<div>{moment.astimezone(get_timezone('Asia/Tokyo')).isoformat()}</div>"
            in html
        )
    assert "2026-11-28T08:30:00+09:00" in html


def test_change_form__spec_change_recomputes_next_run_at_other_changes_keep_it(
    admin_client, clock_at
):
    pending = clock_at - timedelta(minutes=10)
    job = make_job("testapp.noop", "*/5 * * * *", next_run_at=pending)
    url = reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])

    assert admin_client.post(url, form_data(queue="low")).status_code == 302
    job.refresh_from_db()
    assert (job.queue, job.next_run_at) == ("low", pending)

    assert (
        admin_client.post(url, form_data(spec="@daily", queue="low")).status_code == 302
    )
    job.refresh_from_db()
    assert (job.spec, job.next_run_at) == ("@daily", datetime(2026, 11, 28, tzinfo=UTC))


def test_change_form__keeps_a_schedule_whose_handler_is_gone(admin_client):
    job = make_job("gone.job", "@hourly")
    url = reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])

    response = admin_client.post(
        url, form_data(name="gone.job", spec="@hourly", paused="on")
    )

    assert response.status_code == 302
    assert ScheduledJob.objects.get().paused is True


# actions


def test_pause_jobs__pauses_with_a_message(admin_client):
    one, two = make_job("testapp.noop"), make_job("testapp.fails")

    response = run_action(admin_client, "pause_jobs", one, two)

    assert response.status_code == 200
    assert messages_of(response) == [("success", "Paused 2 schedules.")]
    paused = dict(ScheduledJob.objects.values_list("name", "paused"))
    assert paused == {"testapp.noop": True, "testapp.fails": True}
    noop = ScheduledJob.objects.get(name="testapp.noop")
    assert (noop.paused_reason, noop.paused_by) == ("paused in the admin", "admin")
    assert noop.paused_at is not None


def test_resume_jobs__resumes_from_the_next_slot(admin_client, clock_at):
    job = make_job(
        "testapp.noop",
        "*/5 * * * *",
        paused=True,
        next_run_at=clock_at - timedelta(days=1),
    )
    make_job("testapp.fails", paused=True)

    response = run_action(admin_client, "resume_jobs", job)

    assert messages_of(response) == [("success", "Resumed 1 schedule.")]
    job.refresh_from_db()
    assert (job.paused, job.next_run_at) == (False, clock_at + timedelta(minutes=5))
    assert ScheduledJob.objects.get(name="testapp.fails").paused is True


def test_trigger_jobs__records_manual_runs_with_messages(admin_client):
    noop, fails = make_job("testapp.noop"), make_job("testapp.fails")

    response = run_action(admin_client, "trigger_jobs", noop, fails)

    runs = {run.job: run for run in Run.objects.all()}
    assert {name: (run.status, run.trigger) for name, run in runs.items()} == {
        "testapp.noop": ("queued", "manual"),
        "testapp.fails": ("queued", "manual"),
    }
    assert sorted(messages_of(response)) == [
        ("success", f"testapp.fails: run #{runs['testapp.fails'].pk} queued."),
        ("success", f"testapp.noop: run #{runs['testapp.noop'].pk} queued."),
    ]


def test_trigger_jobs__skipped_still_running(admin_client):
    job = make_job("testapp.slow")
    busy = Run.objects.create(job="testapp.slow", status="running")

    response = run_action(admin_client, "trigger_jobs", job)

    assert messages_of(response) == [
        ("warning", "testapp.slow: skipped, still running.")
    ]
    assert Run.objects.exclude(pk=busy.pk).get().status == "skipped"


def test_trigger_jobs__a_schedule_without_handler_is_an_error_message(admin_client):
    ghost, noop = make_job("ghost.job"), make_job("testapp.noop")

    response = run_action(admin_client, "trigger_jobs", ghost, noop)

    run = Run.objects.get()
    assert run.job == "testapp.noop"
    assert sorted(messages_of(response)) == [
        ("error", "No job handler is registered under the name 'ghost.job'."),
        ("success", f"testapp.noop: run #{run.pk} queued."),
    ]


# permissions


def action_names(response):
    form = response.context["action_form"]  # None when no action is allowed
    return (
        [name for name, _label in form.fields["action"].choices if name] if form else []
    )


def test_actions__superuser_sees_all_three(admin_client):
    make_job()

    assert action_names(admin_client.get(JOBS)) == [
        "delete_selected",
        "pause_jobs",
        "resume_jobs",
        "trigger_jobs",
    ]


def test_trigger_jobs__hidden_and_refused_without_the_trigger_permission(staff_client):
    job = make_job()

    response = staff_client.get(JOBS)
    assert response.status_code == 200
    assert action_names(response) == ["pause_jobs", "resume_jobs"]

    response = run_action(staff_client, "trigger_jobs", job)

    assert not Run.objects.exists()
    assert messages_of(response) == [("warning", "No action selected.")]


def test_trigger_jobs__allowed_with_the_trigger_permission(
    staff_client, django_user_model
):
    user = django_user_model.objects.get(username="operator")
    user.user_permissions.add(Permission.objects.get(codename="trigger_scheduledjob"))
    job = make_job()

    assert "trigger_jobs" in action_names(staff_client.get(JOBS))
    run_action(staff_client, "trigger_jobs", job)

    assert Run.objects.get().trigger == "manual"


def test_pause_jobs__needs_change_permission(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_scheduledjob"))
    client.force_login(user)
    job = make_job()

    assert action_names(client.get(JOBS)) == []
    run_action(client, "pause_jobs", job)

    assert ScheduledJob.objects.get().paused is False


def test_pause_jobs__with_change_permission(staff_client):
    job = make_job()

    response = run_action(staff_client, "pause_jobs", job)

    assert messages_of(response) == [("success", "Paused 1 schedule.")]
    assert ScheduledJob.objects.get().paused_by == "operator"


# the run log is read-only


def test_run_admin__no_add(admin_client):
    assert (
        admin_client.get(reverse("admin:django_togo_scheduler_run_add")).status_code
        == 403
    )
    assert admin_client.get(RUNS).context["has_add_permission"] is False


def test_run_admin__change_view_is_read_only(admin_client, now):
    run = Run.objects.create(
        job="testapp.fails",
        status="failed",
        trigger="manual",
        error="RuntimeError: boom",
        worker="host:1",
    )
    url = reverse("admin:django_togo_scheduler_run_change", args=[run.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["adminform"].form.fields == {}
    html = response.content.decode()
    assert 'name="_save"' not in html and "RuntimeError: boom" in html

    assert (
        admin_client.post(url, {"job": "changed", "status": "done"}).status_code == 403
    )
    run.refresh_from_db()
    assert (run.job, run.status) == ("testapp.fails", "failed")


def test_change_form__unpausing_restarts_from_the_next_slot(admin_client, clock_at):
    # Like the resume action: the slots missed while paused are not replayed.
    job = make_job(
        "testapp.noop",
        "*/5 * * * *",
        paused=True,
        paused_reason="on hold",
        next_run_at=clock_at - timedelta(days=1),
    )
    url = reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])

    response = admin_client.post(url, form_data(paused_reason="on hold"))

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.paused, job.paused_reason, job.next_run_at) == (
        False,
        "",
        clock_at + timedelta(minutes=5),
    )


def test_change_form__pausing_keeps_the_pending_slot(admin_client, clock_at):
    pending = clock_at - timedelta(minutes=10)
    job = make_job("testapp.noop", "*/5 * * * *", next_run_at=pending)
    url = reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])

    admin_client.post(url, form_data(paused="on", paused_reason="deploy"))

    job.refresh_from_db()
    assert (job.paused, job.paused_reason, job.next_run_at) == (True, "deploy", pending)
