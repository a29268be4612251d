"""The run log's admin: columns, filters, search, the run page, read-only and delete rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_togo_scheduler.models import Run
from tests.admin import test_jobs as shared
from tests.admin.test_jobs import RUNS, make_job, run_url, staff

pytestmark = pytest.mark.django_db

# The fixtures of test_jobs, shared.
fast_passwords = shared.fast_passwords
staff_client = shared.staff_client

SLOT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_run(job="testapp.noop", status="done", **fields):
    return Run.objects.create(job=job, status=status, **fields)


def ids(response):
    return [run.pk for run in response.context["cl"].result_list]


def cell(response, run, column):
    cl = response.context["cl"]
    row = next(obj for obj in cl.result_list if obj.pk == run.pk)
    return str(getattr(cl.model_admin, column)(row))


def test_run_changelist__columns(admin_client):
    run = make_run(
        status="failed",
        trigger="schedule",
        scheduled_for=SLOT,
        started_at=SLOT + timedelta(seconds=2, milliseconds=500),
        finished_at=SLOT + timedelta(minutes=1, seconds=17),
        error="Traceback (most recent call last):\n  File x\nRuntimeError: boom\n",
    )

    response = admin_client.get(RUNS)

    assert response.status_code == 200
    headers = [str(h["text"]) for h in response.context["result_headers"]][1:]
    assert headers == ["ID", "job, error", "status", "scheduled for, ran"]
    # The job links to its runs; a traceback's headline is the exception it
    # ends with, the whole line in the tooltip.
    assert cell(response, run, "job_and_error") == (
        f'<a href="{RUNS}?job=testapp.noop" title="Runs of this job">testapp.<wbr>noop</a>'
        '<span class="togo-error-line togo-error" title="RuntimeError: boom">'
        "RuntimeError: boom</span>"
    )
    assert cell(response, run, "state") == (
        '<span class="togo-badge togo-status-failed">failed</span>'
        '<span class="togo-quiet togo-trigger">schedule</span>'
    )
    assert cell(response, run, "when") == (
        '<span class="togo-slot">2026-11-27 12:00 UTC</span>'
        '<span class="togo-ran">12:00:02 → 12:01:17</span>'
        '<span class="togo-quiet">2.50 s late · took 1 min 14 s</span>'
    )


def test_run_changelist__times_in_the_admins_zone_dated_when_another_day(
    admin_client, settings
):
    settings.TIME_ZONE = "Asia/Tokyo"
    late = make_run(
        scheduled_for=SLOT + timedelta(hours=2, minutes=59),  # 23:59 JST
        started_at=SLOT + timedelta(hours=3, seconds=1),
        finished_at=SLOT + timedelta(hours=3, seconds=3),
    )

    assert cell(admin_client.get(RUNS), late, "when") == (
        '<span class="togo-slot">2026-11-27 23:59 JST</span>'
        '<span class="togo-ran">2026-11-28 00:00:01 → 2026-11-28 00:00:03</span>'
        '<span class="togo-quiet">1 min 1 s late · took 2.00 s</span>'
    )


def test_run_changelist__a_run_not_started_shows_its_slot_only(admin_client):
    queued = make_run(status="queued", scheduled_for=SLOT)
    manual = make_run(status="queued", trigger="manual")
    running = make_run(
        "testapp.slow",
        status="running",
        scheduled_for=SLOT,
        started_at=SLOT - timedelta(seconds=1),
    )

    response = admin_client.get(RUNS)

    assert cell(response, queued, "when") == (
        '<span class="togo-slot">2026-11-27 12:00 UTC</span>'
    )
    # A manual run has no slot: when it was recorded, greyed.
    recorded = manual.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert cell(response, manual, "when") == (
        '<span class="togo-slot togo-quiet" title="No slot: recorded at this time">'
        f"{recorded}</span>"
    )
    assert cell(response, running, "when").endswith(
        '<span class="togo-ran">11:59:59 → …</span>'
        '<span class="togo-quiet">1.00 s early</span>'
    )
    assert cell(response, queued, "error_line") == ""


def test_run_changelist__a_manual_run_that_ran_has_no_lateness(admin_client):
    run = make_run(trigger="manual")
    Run.objects.filter(pk=run.pk).update(
        created_at=SLOT,
        started_at=SLOT + timedelta(seconds=1),
        finished_at=SLOT + timedelta(seconds=4),
    )

    assert cell(admin_client.get(RUNS), run, "when") == (
        '<span class="togo-slot togo-quiet" title="No slot: recorded at this time">'
        "2026-11-27 12:00:00 UTC</span>"
        '<span class="togo-ran">12:00:01 → 12:00:04</span>'
        '<span class="togo-quiet">took 3.00 s</span>'
    )


def test_run_changelist__escapes_job_names_and_errors(admin_client):
    make_run(job="<i>job</i>", status="failed", error="<script>alert(1)</script>")

    html = admin_client.get(RUNS).content.decode()

    assert "<script>alert(1)" not in html and "<i>job</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;job&lt;/i&gt;" in html


def test_run_changelist__filters_by_job_status_trigger_and_date(admin_client, now):
    a = make_run("testapp.noop", "done", trigger="schedule", scheduled_for=now)
    b = make_run("testapp.noop", "failed", trigger="manual")
    c = make_run("testapp.fails", "failed", trigger="catchup", scheduled_for=now)
    # The date filter's links are relative to the real clock.
    Run.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=9))

    def found(**query):
        response = admin_client.get(RUNS, query)
        assert response.status_code == 200
        return ids(response)

    filters = admin_client.get(RUNS).context["cl"].filter_specs
    assert [str(spec.title) for spec in filters] == ["job", "status", "trigger", "date"]
    assert found() == [c.pk, b.pk, a.pk]
    assert found(job="testapp.noop") == [b.pk, a.pk]
    assert found(job="testapp") == []  # exact, not contains
    assert found(status__exact="failed") == [c.pk, b.pk]
    assert found(trigger__exact="catchup") == [c.pk]
    assert found(job="testapp.noop", status__exact="failed") == [b.pk]
    cl = admin_client.get(RUNS).context["cl"]
    links = {str(c["display"]): c["query_string"] for c in filters[3].choices(cl)}
    assert list(links) == [
        "Any date",
        "Today",
        "Past 7 days",
        "This month",
        "This year",
    ]
    assert ids(admin_client.get(RUNS + links["Past 7 days"])) == [c.pk, b.pk]


def test_run_changelist__the_job_filter_is_a_box_not_a_list_of_names(admin_client):
    for index in range(30):
        make_run(f"job.{index}")

    response = admin_client.get(RUNS, {"job": "job.3", "status__exact": "done"})

    html = response.content.decode()
    assert html.count("job.2") == 0  # no name is listed unless asked for
    assert 'name="job" value="job.3"' in html
    # The box keeps the other filters.
    assert '<input type="hidden" name="status__exact" value="done">' in html


def test_run_changelist__search_by_job_name_and_error_text(admin_client):
    a = make_run("testapp.noop", error="")
    b = make_run("testapp.fails", "failed", error="ValueError: database gone")

    def found(q):
        return ids(admin_client.get(RUNS, {"q": q}))

    assert found("noop") == [a.pk]
    assert found("database gone") == [b.pk]
    assert found("testapp") == [b.pk, a.pk]


def test_run_changelist__only_the_id_sorts(admin_client):
    make_run()

    response = admin_client.get(RUNS, {"o": "6"})  # the "started" column

    assert response.status_code == 200
    assert response.context["cl"].queryset.query.order_by == ("-pk",)
    assert response.context["cl"].sortable_by == ("id",)


def test_run_page__traceback_whole_and_preformatted_escaped(admin_client):
    error = (
        "Traceback (most recent call last):\n"
        '  File "jobs.py", line 3, in fails\n'
        "    raise RuntimeError('<boom>')\n"
        "RuntimeError: <boom>\n"
    )
    run = make_run("testapp.fails", "failed", error=error, worker="host:1")

    response = admin_client.get(run_url(run))

    assert response.status_code == 200
    html = response.content.decode()
    expected = error.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#x27;")
    expected = expected.replace('"', "&quot;")
    assert f'<pre class="togo-traceback">{expected}</pre>' in html
    assert "host:1" in html


def test_run_admin__no_add(admin_client):
    assert (
        admin_client.get(reverse("admin:django_togo_scheduler_run_add")).status_code
        == 403
    )
    assert admin_client.get(RUNS).context["has_add_permission"] is False


def test_run_admin__change_view_is_read_only(admin_client):
    run = make_run("testapp.fails", "failed", trigger="manual", error="boom")
    url = run_url(run)

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["adminform"].form.fields == {}
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"job": "x", "status": "done"}).status_code == 403
    run.refresh_from_db()
    assert (run.job, run.status) == ("testapp.fails", "failed")


def test_run_admin__superuser_may_delete(admin_client):
    run = make_run()
    url = reverse("admin:django_togo_scheduler_run_delete", args=[run.pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Run.objects.exists()


def test_run_admin__staff_may_not_delete_even_with_the_permission(
    client, django_user_model
):
    staff(client, django_user_model, "view_run", "delete_run")
    run = make_run()
    url = reverse("admin:django_togo_scheduler_run_delete", args=[run.pk])

    assert client.post(url, {"post": "yes"}).status_code == 403
    assert client.get(RUNS).context["action_form"] is None
    assert Run.objects.exists()


def test_run_admin__staff_with_view_permission_sees_the_log(staff_client):
    run = make_run()

    assert ids(staff_client.get(RUNS)) == [run.pk]
    assert staff_client.get(run_url(run)).status_code == 200


def test_schedule_links_to_its_runs(admin_client):
    job = make_job("testapp.noop")
    make_run("testapp.noop")
    make_run("testapp.fails")

    change = reverse("admin:django_togo_scheduler_scheduledjob_change", args=[job.pk])
    html = admin_client.get(change).content.decode()
    link = f"{RUNS}?job=testapp.noop"
    assert f'href="{link}"' in html
    assert [r.job for r in admin_client.get(link).context["cl"].result_list] == [
        "testapp.noop"
    ]


def test_run_changelist__a_skip_reason_is_quiet_an_error_red(admin_client):
    skipped = make_run(status="skipped", error="skipped: the previous run is running")
    failed = make_run(status="failed", error="RuntimeError: boom")

    response = admin_client.get(RUNS)

    assert 'class="togo-error-line togo-quiet" title="skipped: the previous' in cell(
        response, skipped, "job_and_error"
    )
    assert 'class="togo-error-line togo-error" title="RuntimeError: boom"' in cell(
        response, failed, "job_and_error"
    )


def test_run_changelist__error_headline_first_line_or_exception_cut_long(admin_client):
    plain = make_run(status="failed", error="\n  timeout: the run exceeded 5 s\nmore")
    long = make_run(status="failed", error="E" * 300)

    response = admin_client.get(RUNS)

    assert ">timeout: the run exceeded 5 s<" in cell(response, plain, "error_line")
    assert ">" + "E" * 119 + "…<" in cell(response, long, "error_line")
