"""The schedules' admin: changelist columns, filters, search, the form and its live preview.

Helpers and fixtures here are shared by the other modules of ``tests/admin/``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import get_timezone, validate_spec

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:django_togo_scheduler_scheduledjob_changelist")
ADD_JOB = reverse("admin:django_togo_scheduler_scheduledjob_add")
RUNS = reverse("admin:django_togo_scheduler_run_changelist")
PREVIEW = reverse("admin:django_togo_scheduler_scheduledjob_preview")


def change_url(job):
    return reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])


def run_url(run):
    return reverse("admin:django_togo_scheduler_run_change", args=[run.pk])


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """admin_client's superuser has a password; hashing it properly costs 0.3 s a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock_at(monkeypatch, now):
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: now)
    return now


def staff(client, django_user_model, *codenames, username="operator"):
    """Log ``client`` in as a staff user with exactly these permissions."""
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, django_user_model):
    """A staff user who may view and change schedules and view runs, but not trigger."""
    return staff(
        client,
        django_user_model,
        "view_scheduledjob",
        "change_scheduledjob",
        "view_run",
    )


def error_of(func, value):
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


def make_job(name="testapp.noop", spec="@hourly", **fields):
    fields.setdefault("next_run_at", datetime(2026, 11, 27, 13, tzinfo=UTC))
    return ScheduledJob.objects.create(name=name, spec=spec, **fields)


def make_runs(job, *statuses, **fields):
    """Runs of ``job`` oldest first, one per status."""
    return [Run.objects.create(job=job, status=s, **fields) for s in statuses]


def form_data(**fields):
    data = {
        "name": "testapp.noop", "spec": "*/5 * * * *", "timezone": "", "paused_reason": "",
        "queue": "", "timeout": "", "catchup": "latest", "max_age": "",
    }  # fmt: skip
    data.update(fields)
    return data


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def rows_of(response):
    return [obj.name for obj in response.context["cl"].result_list]


def cell(response, name, column):
    """The HTML of one column of the row of schedule ``name``."""
    cl = response.context["cl"]
    job = next(obj for obj in cl.result_list if obj.name == name)
    return str(getattr(cl.model_admin, column)(job))


# the changelist


def test_job_changelist__shows_spec_words_zone_next_run_and_last_status(
    admin_client, clock_at
):
    make_job("testapp.noop", "0 9 * * 1-5", timezone="Asia/Tokyo")
    make_job("testapp.fails", "@daily", paused=True, paused_by="alice")
    make_runs("testapp.noop", "failed", "done")

    response = admin_client.get(JOBS)

    assert response.status_code == 200
    assert rows_of(response) == ["testapp.fails", "testapp.noop"]
    headers = [str(h["text"]) for h in response.context["result_headers"]][1:]
    assert headers == ["name", "schedule", "next run", "last runs"]
    assert cell(response, "testapp.noop", "schedule") == (
        '<code class="togo-spec">0 9 * * 1-5</code>'
        '<span class="togo-words togo-quiet">At 09:00, Monday through Friday</span>'
    )
    # next_run_at 13:00 UTC is 22:00 in Tokyo, an hour after the clock.
    assert cell(response, "testapp.noop", "next_run") == (
        '<span class="togo-when">2026-11-27 22:00 JST</span><span class="togo-soon">'
        '<span class="togo-quiet">in 1\xa0hour</span> '
        '<span class="togo-zone">Asia/<wbr>Tokyo</span></span>'
    )
    last = cell(response, "testapp.noop", "last_runs")
    assert last.startswith(
        '<span class="togo-last" title="last status">'
        '<span class="togo-badge togo-status-done">done</span>'
        f'<a class="togo-runs-link" href="{RUNS}?job=testapp.noop">all runs</a></span>'
        '<span class="togo-strip">'
    )
    assert ">never</span>" in cell(response, "testapp.fails", "last_runs")
    # Paused: a badge by the name saying who paused it, the next run struck.
    assert (
        '<span class="togo-badge togo-paused" title="by alice at -">paused</span>'
        in (cell(response, "testapp.fails", "job_name"))
    )
    assert 'class="togo-when togo-struck"' in cell(
        response, "testapp.fails", "next_run"
    )


def test_job_changelist__no_next_run_is_a_dash(admin_client):
    make_job("testapp.noop", next_run_at=None)

    assert cell(admin_client.get(JOBS), "testapp.noop", "next_run").startswith(
        '<span class="togo-when">-</span><span class="togo-soon">'
        '<span class="togo-quiet"></span> '
    )


def test_job_changelist__a_zone_less_schedule_shows_the_default_zone(
    admin_client, settings
):
    settings.TOGO_SCHEDULER = {"TIMEZONE": "Europe/Berlin"}
    make_job("testapp.noop", "@daily", timezone="")

    next_run = cell(admin_client.get(JOBS), "testapp.noop", "next_run")

    assert (
        '<span class="togo-zone togo-default" title="The TIMEZONE setting">'
        "Europe/<wbr>Berlin</span>"
    ) in next_run
    assert "CET" in next_run


def test_job_changelist__strip_of_the_last_20_runs_oldest_first_each_a_link(
    admin_client,
):
    make_job("testapp.noop")
    make_job("testapp.fails")
    statuses = ["done", "failed", "skipped", "running", "queued"]
    runs = make_runs("testapp.noop", *(statuses * 5))  # 25 runs
    make_runs("testapp.fails", "failed")
    Run.objects.filter(pk=runs[-1].pk).update(
        scheduled_for=datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    )

    strip = cell(admin_client.get(JOBS), "testapp.noop", "last_runs")

    marks = re.findall(r'<a class="togo-mark togo-status-(\w+)" href="([^"]+)"', strip)
    assert marks == [(run.status, run_url(run)) for run in runs[-20:]]
    assert f'title="#{runs[-1].pk} queued 2026-11-27 12:30 UTC (schedule)"' in strip


def test_job_changelist__flags_are_badges_by_the_name(admin_client, clock_at):
    make_job("testapp.noop")
    make_job("gone.job")
    make_job(
        "testapp.fails",
        paused=True,
        max_age="2h",
        overdue_since=clock_at - timedelta(hours=1),
        declared=True,
        orphaned_at=clock_at - timedelta(minutes=5),
    )

    response = admin_client.get(JOBS)

    assert cell(response, "testapp.noop", "job_name") == "testapp.<wbr>noop"
    gone = cell(response, "gone.job", "job_name")
    assert gone == (
        'gone.<wbr>job<span class="togo-badges"><span class="togo-badge togo-warning" '
        'title="No job handler is registered under this name: it cannot run.">'
        "no handler</span></span>"
    )
    flags = re.findall(
        r'<span class="togo-badge ([\w-]+)" title="([^"]*)">([^<]+)</span>',
        cell(response, "testapp.fails", "job_name"),
    )
    assert [(css, label) for css, _title, label in flags] == [
        ("togo-paused", "paused"),
        ("togo-warning", "overdue"),
        ("togo-orphaned", "orphaned"),
    ]
    assert flags[1][1] == (
        "No successful run within max_age (2h) since 2026-11-27 11:00 UTC."
    )
    assert flags[2][1].startswith(
        "Orphaned since 2026-11-27 11:55 UTC: declared in code"
    )
    assert "scheduler prune --orphans" in flags[2][1]


def test_job_changelist__search_by_name(admin_client):
    make_job("testapp.noop")
    make_job("testapp.fails")

    assert rows_of(admin_client.get(JOBS, {"q": "fail"})) == ["testapp.fails"]


def test_job_changelist__filter_paused(admin_client):
    make_job("testapp.noop")
    make_job("testapp.fails", paused=True)

    assert rows_of(admin_client.get(JOBS, {"paused__exact": "1"})) == ["testapp.fails"]
    assert rows_of(admin_client.get(JOBS, {"paused__exact": "0"})) == ["testapp.noop"]


def test_job_changelist__filter_by_last_status(admin_client):
    for name in ("testapp.noop", "testapp.fails", "testapp.slow"):
        make_job(name)
    make_runs("testapp.noop", "failed", "done")
    make_runs("testapp.fails", "done", "failed")

    def names(value):
        return rows_of(admin_client.get(JOBS, {"last_status": value}))

    assert names("done") == ["testapp.noop"]
    assert names("failed") == ["testapp.fails"]
    assert names("never") == ["testapp.slow"]
    assert names("running") == []


def test_job_changelist__escapes_names_and_reasons(admin_client):
    name = '<img src=x onerror="alert(1)">'
    make_job(name, paused=True, paused_reason="<b>deploy</b>")
    make_runs(name, "done")

    html = admin_client.get(JOBS).content.decode()

    assert "<img src=x" not in html and "<b>deploy</b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;b&gt;deploy&lt;/b&gt;" in html


def test_job_changelist__an_invalid_stored_spec_reads_as_its_error(admin_client):
    make_job("testapp.noop", "not a spec", timezone="Nowhere/Else")

    response = admin_client.get(JOBS)

    assert response.status_code == 200
    schedule = cell(response, "testapp.noop", "schedule")
    assert '<span class="togo-words togo-error">' in schedule
    assert "expected 5 fields" in schedule


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


def test_add_form__suggests_job_names_and_zones(admin_client):
    html = admin_client.get(ADD_JOB).content.decode()

    assert '<datalist id="togo-job-names">' in html
    assert '<option value="testapp.noop">' in html
    assert '<option value="Europe/Berlin">' in html
    # No spec yet: a quiet hint, which preview.js shows again for an empty spec.
    assert (
        f'<div id="togo-preview" data-url="{PREVIEW}" '
        'data-hint="Type a spec to see its next fire times." aria-live="polite">'
        '<p class="togo-preview-hint">Type a spec to see its next fire times.</p></div>'
    ) in html
    assert "togo-preview-error" not in html


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


def test_change_form__previews_the_next_5_fire_times_in_the_schedules_zone(
    admin_client, clock_at
):
    job = make_job("testapp.noop", "30 8 * * *", timezone="Asia/Tokyo")

    response = admin_client.get(change_url(job))

    assert response.status_code == 200
    html = response.content.decode()
    box = html[html.index('<div id="togo-preview"') :]
    box = box[: box.index("</div>")]
    assert f'data-url="{PREVIEW}"' in box
    assert '<p class="togo-description">At 08:30</p>' in box
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', box)
    assert times == [
        (f"2026-11-{day - 1}T23:30:00+00:00", f"2026-11-{day} 08:30 JST")
        for day in range(28, 31)
    ] + [
        ("2026-11-30T23:30:00+00:00", "2026-12-01 08:30 JST"),
        ("2026-12-01T23:30:00+00:00", "2026-12-02 08:30 JST"),
    ]
    assert "in 11\xa0hours" in box
    assert "django_togo_scheduler/preview.js" in html


def test_change_form__declared_schedule_shows_its_source_and_that_code_wins(
    admin_client,
):
    declared = make_job(
        "testapp.noop", declared=True, source="@job in tests.testapp.jobs"
    )
    own = make_job("testapp.fails")

    html = admin_client.get(change_url(declared)).content.decode()
    assert "@job in tests.testapp.jobs" in html
    assert "code wins on the next deploy" in html

    assert "code wins" not in admin_client.get(change_url(own)).content.decode()


def test_change_form__an_orphaned_schedule_says_what_that_means_and_how_it_goes(
    admin_client,
):
    orphan = make_job(
        "testapp.noop",
        declared=True,
        source="@job in tests.testapp.jobs",
        orphaned_at=datetime(2026, 11, 27, 9, 15, tzinfo=UTC),
    )
    declared = make_job("testapp.fails", declared=True, source="SCHEDULE setting")

    html = admin_client.get(change_url(orphan)).content.decode()

    fieldset = html.split('<fieldset class="module aligned togo-orphaned-set"')[1]
    fieldset = fieldset.split("</fieldset>")[0]
    assert "Orphaned" in fieldset
    assert (
        "Orphaned since 2026-11-27 09:15 UTC: declared in code, but the code of the "
        "scheduler that synced last no longer declares it"
    ) in fieldset
    assert "&#x27;manage.py scheduler prune --orphans&#x27; removes it" in fieldset
    assert '<div class="readonly">2026-11-27 09:15 UTC</div>' in fieldset
    assert "@job in tests.testapp.jobs" in html  # still declared, as before

    assert (
        "togo-orphaned-set"
        not in admin_client.get(change_url(declared)).content.decode()
    )


def test_change_form__shows_who_paused_when_and_why(admin_client):
    job = make_job(
        "testapp.noop",
        paused=True,
        paused_by="alice",
        paused_at=datetime(2026, 11, 27, 9, 15, tzinfo=UTC),
        paused_reason="<i>holiday</i>",
    )

    html = admin_client.get(change_url(job)).content.decode()

    assert "by alice at 2026-11-27 09:15 UTC: &lt;i&gt;holiday&lt;/i&gt;" in html


def test_change_form__spec_change_recomputes_next_run_at_other_changes_keep_it(
    admin_client, clock_at
):
    pending = clock_at - timedelta(minutes=10)
    job = make_job("testapp.noop", "*/5 * * * *", next_run_at=pending)
    url = change_url(job)

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

    response = admin_client.post(
        change_url(job), form_data(name="gone.job", spec="@hourly", paused="on")
    )

    assert response.status_code == 302
    assert ScheduledJob.objects.get().paused is True


def test_change_form__unpausing_restarts_from_the_next_slot(admin_client, clock_at):
    # Like the resume action: the slots missed while paused are not replayed.
    job = make_job(
        "testapp.noop",
        "*/5 * * * *",
        paused=True,
        paused_reason="on hold",
        paused_by="alice",
        paused_at=clock_at,
        next_run_at=clock_at - timedelta(days=1),
    )

    response = admin_client.post(change_url(job), form_data(paused_reason="on hold"))

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.paused, job.paused_reason, job.paused_by, job.paused_at) == (
        False, "", "", None,
    )  # fmt: skip
    assert job.next_run_at == clock_at + timedelta(minutes=5)


def test_change_form__pausing_records_who_and_keeps_the_pending_slot(
    admin_client, clock_at
):
    pending = clock_at - timedelta(minutes=10)
    job = make_job("testapp.noop", "*/5 * * * *", next_run_at=pending)

    admin_client.post(change_url(job), form_data(paused="on", paused_reason="deploy"))

    job.refresh_from_db()
    assert (job.paused, job.paused_reason, job.paused_by, job.paused_at) == (
        True, "deploy", "admin", clock_at,
    )  # fmt: skip
    assert job.next_run_at == pending


# the preview's JSON view


def test_preview__fire_times_in_the_zone_with_words(admin_client, clock_at):
    response = admin_client.get(
        PREVIEW, {"spec": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
    )

    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["description"] == "At 09:00, Monday through Friday"
    assert data["timezone"] == "Europe/Berlin"
    assert [t["local"] for t in data["times"]] == [
        "2026-11-30 09:00 CET",
        "2026-12-01 09:00 CET",
        "2026-12-02 09:00 CET",
        "2026-12-03 09:00 CET",
        "2026-12-04 09:00 CET",
    ]
    assert data["times"][0]["at"] == "2026-11-30T08:00:00+00:00"
    assert data["times"][0]["relative"] == "in 2\xa0days"


def test_preview__every_interval_and_default_zone(admin_client, clock_at):
    data = admin_client.get(PREVIEW, {"spec": "@every 90s"}).json()

    assert data["description"] == "Every 1 minute and 30 seconds"
    assert data["timezone"] == "UTC"
    assert [t["local"] for t in data["times"]][:2] == [
        "2026-11-27 12:01:30 UTC",
        "2026-11-27 12:03:00 UTC",
    ]
    assert data["times"][0]["relative"] == "in 1\xa0minute"


@pytest.mark.parametrize(
    ("query", "field", "func", "value"),
    [
        ({"spec": "61 * * * *"}, "spec", validate_spec, "61 * * * *"),
        ({"spec": "@every"}, "spec", validate_spec, "@every"),
        ({"spec": ""}, "spec", validate_spec, ""),
        (
            {"spec": "@daily", "timezone": "Mars/Base"},
            "timezone",
            get_timezone,
            "Mars/Base",
        ),
    ],
)
def test_preview__an_invalid_spec_or_zone_is_the_invalid_spec_message(
    admin_client, query, field, func, value
):
    response = admin_client.get(PREVIEW, query)

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "field": field,
        "error": error_of(func, value),
    }


def test_preview__needs_change_or_add_permission(client, django_user_model):
    staff(client, django_user_model, "view_scheduledjob", username="viewer")
    assert client.get(PREVIEW, {"spec": "@daily"}).status_code == 403

    staff(client, django_user_model, "add_scheduledjob", username="adder")
    assert client.get(PREVIEW, {"spec": "@daily"}).status_code == 200


def test_preview__behind_the_admin_login(client):
    response = client.get(PREVIEW, {"spec": "@daily"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
