"""The schedule actions (pause with a reason, resume, trigger now) and their permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from django_togo_scheduler.models import Run, ScheduledJob
from tests.admin import test_jobs as shared
from tests.admin.test_jobs import JOBS, make_job, make_runs, messages_of, run_url, staff

pytestmark = pytest.mark.django_db

# The fixtures of test_jobs, shared.
clock_at = shared.clock_at
fast_passwords = shared.fast_passwords
staff_client = shared.staff_client


def run_action(client, action, *jobs, follow=True, **extra):
    data = {"action": action, "index": "0", "_selected_action": [j.pk for j in jobs]}
    data.update(extra)
    return client.post(JOBS, data, follow=follow)


def action_names(response):
    form = response.context["action_form"]  # None when no action is allowed
    return (
        [name for name, _label in form.fields["action"].choices if name] if form else []
    )


def paused_state(name):
    job = ScheduledJob.objects.get(name=name)
    return job.paused, job.paused_reason, job.paused_by


# pause


def test_pause_jobs__asks_for_a_reason_first_and_pauses_nothing_yet(admin_client):
    one, two = make_job("testapp.noop"), make_job("testapp.fails")

    response = run_action(admin_client, "pause_jobs", one, two, follow=False)

    assert response.status_code == 200
    assert response.template_name == (
        "admin/django_togo_scheduler/scheduledjob/pause_confirmation.html"
    )
    html = response.content.decode()
    assert '<textarea name="reason"' in html
    assert "<li>testapp.fails</li>" in html and "<li>testapp.noop</li>" in html
    for job in (one, two):
        assert f'name="_selected_action" value="{job.pk}"' in html
    assert not ScheduledJob.objects.filter(paused=True).exists()


def test_pause_jobs__confirmed_pauses_with_reason_who_and_when(admin_client, clock_at):
    one, two = make_job("testapp.noop"), make_job("testapp.fails")
    make_job("testapp.slow")

    response = run_action(
        admin_client, "pause_jobs", one, two, confirm="yes", reason="deploy window"
    )

    assert response.status_code == 200
    assert messages_of(response) == [
        ("success", "Paused 2 schedules: testapp.fails, testapp.noop.")
    ]
    assert paused_state("testapp.noop") == (True, "deploy window", "admin")
    assert paused_state("testapp.fails") == (True, "deploy window", "admin")
    assert paused_state("testapp.slow") == (False, "", "")
    assert ScheduledJob.objects.get(name="testapp.noop").paused_at == clock_at


def test_pause_jobs__the_reason_is_optional(admin_client):
    job = make_job("testapp.noop")

    response = run_action(admin_client, "pause_jobs", job, confirm="yes", reason="")

    assert messages_of(response) == [("success", "Paused 1 schedule: testapp.noop.")]
    assert paused_state("testapp.noop") == (True, "", "admin")


def test_pause_jobs__a_too_long_reason_shows_the_page_again(admin_client):
    job = make_job("testapp.noop")

    response = run_action(
        admin_client, "pause_jobs", job, confirm="yes", reason="x" * 1001, follow=False
    )

    assert response.status_code == 200
    assert "at most 1000 characters" in response.content.decode()
    assert paused_state("testapp.noop") == (False, "", "")


def test_pause_jobs__select_across_pauses_every_match(admin_client):
    shown = make_job("testapp.noop")  # the row checked on the page
    make_job("testapp.fails")
    make_job("other.job")
    data = {
        "action": "pause_jobs", "index": "0", "select_across": "1",
        "_selected_action": [shown.pk],
    }  # fmt: skip

    page = admin_client.post(f"{JOBS}?q=testapp", data)
    assert 'name="select_across" value="1"' in page.content.decode()

    admin_client.post(f"{JOBS}?q=testapp", {**data, "confirm": "yes"})

    paused = dict(ScheduledJob.objects.values_list("name", "paused"))
    assert paused == {"testapp.noop": True, "testapp.fails": True, "other.job": False}


def test_pause_jobs__confirmation_escapes_names(admin_client):
    job = make_job("<script>alert(1)</script>")

    html = run_action(admin_client, "pause_jobs", job, follow=False).content.decode()

    assert "<script>alert(1)" not in html
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>" in html


def test_pause_jobs__a_schedule_deleted_meanwhile_is_left_out(
    admin_client, monkeypatch
):
    one, two = make_job("testapp.noop"), make_job("testapp.fails")
    from django_togo_scheduler.service import Service

    real_pause = Service.pause

    def pause(self, name, reason=None, *, by=""):
        if name == "testapp.fails":
            ScheduledJob.objects.filter(name=name).delete()
        return real_pause(self, name, reason, by=by)

    monkeypatch.setattr(Service, "pause", pause)

    response = run_action(admin_client, "pause_jobs", one, two, confirm="yes")

    assert messages_of(response) == [("success", "Paused 1 schedule: testapp.noop.")]


# resume


def test_resume_jobs__resumes_from_the_next_slot_and_says_which_were_not_paused(
    admin_client, clock_at
):
    job = make_job(
        "testapp.noop",
        "*/5 * * * *",
        paused=True,
        paused_reason="x",
        paused_by="alice",
        next_run_at=clock_at - timedelta(days=1),
    )
    running = make_job("testapp.slow")
    make_job("testapp.fails", paused=True)

    response = run_action(admin_client, "resume_jobs", job, running)

    assert messages_of(response) == [
        ("success", "Resumed 1 schedule: testapp.noop; 1 was not paused.")
    ]
    job.refresh_from_db()
    assert (job.paused, job.paused_reason, job.paused_by) == (False, "", "")
    assert job.next_run_at == clock_at + timedelta(minutes=5)
    assert ScheduledJob.objects.get(name="testapp.fails").paused is True


def test_resume_jobs__none_paused(admin_client):
    one, two = make_job("testapp.noop"), make_job("testapp.fails")

    response = run_action(admin_client, "resume_jobs", one, two)

    assert messages_of(response) == [
        ("success", "Resumed 0 schedules; 2 were not paused.")
    ]


# trigger


def test_trigger_jobs__records_manual_runs_with_a_message_linking_each(admin_client):
    noop, fails = make_job("testapp.noop"), make_job("testapp.fails")

    response = run_action(admin_client, "trigger_jobs", noop, fails)

    runs = {run.job: run for run in Run.objects.all()}
    assert {name: (run.status, run.trigger) for name, run in runs.items()} == {
        "testapp.noop": ("queued", "manual"),
        "testapp.fails": ("queued", "manual"),
    }
    first, second = runs["testapp.fails"], runs["testapp.noop"]
    # No scheduler runs: this (web) process runs them, once the request commits.
    assert messages_of(response) == [
        (
            "success",
            "Running in this process (no scheduler is running): "
            f'testapp.fails (<a href="{run_url(first)}">run #{first.pk}</a>), '
            f'testapp.noop (<a href="{run_url(second)}">run #{second.pk}</a>).',
        )
    ]


def test_trigger_jobs__the_message_says_where_the_runs_went(admin_client, settings):
    from django_togo_scheduler import clock
    from django_togo_scheduler.models import SchedulerProcess

    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": None}
    now = clock.now()
    SchedulerProcess.objects.create(
        host="sched-1", pid=7, started_at=now, last_tick_at=now
    )
    noop = make_job("testapp.noop")
    fails = make_job("testapp.fails")
    ScheduledJob.objects.filter(pk=fails.pk).update(queue="togo")

    response = run_action(admin_client, "trigger_jobs", noop, fails)

    rq, inline = (
        Run.objects.get(job="testapp.fails"),
        Run.objects.get(job="testapp.noop"),
    )
    assert messages_of(response) == [
        (
            "success",
            "Queued on RQ queue &#x27;togo&#x27;: "  # 'togo', escaped
            f'testapp.fails (<a href="{run_url(rq)}">run #{rq.pk}</a>).',
        ),
        (
            "success",
            "Handed to the running scheduler sched-1:7: "
            f'testapp.noop (<a href="{run_url(inline)}">run #{inline.pk}</a>).',
        ),
    ]


def test_trigger_jobs__skipped_still_running(admin_client):
    slow, noop = make_job("testapp.slow"), make_job("testapp.noop")
    (busy,) = make_runs("testapp.slow", "running")

    response = run_action(admin_client, "trigger_jobs", slow, noop)

    skipped = Run.objects.exclude(pk=busy.pk).get(job="testapp.slow")
    queued = Run.objects.get(job="testapp.noop")
    assert skipped.status == "skipped"
    assert messages_of(response) == [
        (
            "success",
            "Running in this process (no scheduler is running): "
            f'testapp.noop (<a href="{run_url(queued)}">run #{queued.pk}</a>).',
        ),
        (
            "warning",
            f'Skipped: still running: testapp.slow (<a href="{run_url(skipped)}">'
            f"run #{skipped.pk}</a>).",
        ),
    ]


def test_trigger_jobs__a_schedule_without_handler_is_an_error_message(admin_client):
    ghost, noop = make_job("ghost.job"), make_job("testapp.noop")

    response = run_action(admin_client, "trigger_jobs", ghost, noop)

    run = Run.objects.get()
    assert run.job == "testapp.noop"
    assert messages_of(response)[1] == (
        "error",
        "Not triggered, no job handler is registered: ghost.job.",
    )


def test_trigger_jobs__many_are_summed_up(admin_client, registry):
    jobs = []
    for index in range(12):
        name = f"many.{index:02}"
        registry.register(name, lambda: None)
        jobs.append(make_job(name))

    response = run_action(admin_client, "trigger_jobs", *jobs)

    ((level, text),) = messages_of(response)
    assert level == "success"
    assert text.count("run #") == 10
    assert text.endswith(" and 2 more.")


def test_trigger_jobs__message_escapes_the_name(admin_client, registry):
    name = "<b>bold</b>"
    registry.register(name, lambda: None)
    job = make_job(name)

    response = run_action(admin_client, "trigger_jobs", job)

    html = response.content.decode()
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; (<a href=" in html


# permissions


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


def test_trigger_permission_alone_with_view_gives_only_trigger(
    client, django_user_model
):
    staff(
        client,
        django_user_model,
        "view_scheduledjob",
        "trigger_scheduledjob",
        username="trigger",
    )
    make_job()

    assert action_names(client.get(JOBS)) == ["trigger_jobs"]


@pytest.mark.parametrize("action", ["pause_jobs", "resume_jobs"])
def test_pause_and_resume__need_change_permission(client, django_user_model, action):
    staff(client, django_user_model, "view_scheduledjob", username="viewer")
    job = make_job(paused=action == "resume_jobs")

    assert action_names(client.get(JOBS)) == []
    run_action(client, action, job, confirm="yes")

    assert ScheduledJob.objects.get().paused is (action == "resume_jobs")


def test_pause_jobs__with_change_permission_records_the_user(staff_client):
    job = make_job()

    response = run_action(staff_client, "pause_jobs", job, confirm="yes", reason="r")

    assert messages_of(response) == [("success", "Paused 1 schedule: testapp.noop.")]
    assert paused_state("testapp.noop") == (True, "r", "operator")
