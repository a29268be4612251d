"""Both changelists in a bounded number of queries, with no COUNT and no list of every job.

The numbers at 100,000 schedules and 1,000,000 runs are measured by
``bench/admin_pages.py``; here the same properties on small data: the queries do
not grow with the rows shown, none counts the table, pages are found by fetching
one row more.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_togo_scheduler.admin.history import recent_runs
from django_togo_scheduler.admin.pagination import NoCountPaginator
from django_togo_scheduler.models import Run, ScheduledJob
from tests.admin import test_jobs as shared
from tests.admin.test_jobs import JOBS, RUNS

pytestmark = pytest.mark.django_db

# The fixtures of test_jobs, shared.
fast_passwords = shared.fast_passwords

# Session, user, the page's rows, the page's last runs and the live schedulers
# of the "no live scheduler" banner (schedules only).
JOB_PAGE_QUERIES = 5
RUN_PAGE_QUERIES = 3


@pytest.fixture
def many(registry):
    """60 schedules (half registered), each with 0-24 runs of every status."""
    statuses = ["done", "failed", "skipped", "running", "queued"]
    jobs, runs = [], []
    for index in range(60):
        name = f"bulk.{index:03}"
        if index % 2:
            registry.register(name, lambda: None)
        jobs.append(ScheduledJob(name=name, spec="*/5 * * * *", paused=index % 7 == 0))
        runs += [Run(job=name, status=statuses[n % 5]) for n in range(index % 25)]
    ScheduledJob.objects.bulk_create(jobs)
    Run.objects.bulk_create(runs)


def statements(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize(
    ("url", "most"), [(JOBS, JOB_PAGE_QUERIES), (RUNS, RUN_PAGE_QUERIES)]
)
def test_changelist__queries_do_not_grow_with_rows_per_page(
    admin_client, many, monkeypatch, url, most, django_assert_max_num_queries
):
    from django_togo_scheduler.admin import RunAdmin, ScheduledJobAdmin

    counts = []
    for per_page in (5, 50):
        monkeypatch.setattr(ScheduledJobAdmin, "list_per_page", per_page)
        monkeypatch.setattr(RunAdmin, "list_per_page", per_page)
        with django_assert_max_num_queries(most):
            response, sql = statements(admin_client, url)
        assert len(response.context["cl"].result_list) == per_page
        counts.append(len(sql))

    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=bulk.01",
        "?paused__exact=1",
        "?last_status=failed",
        "?last_status=never",
    ],
)
def test_job_changelist__no_count_and_one_query_for_the_last_runs(
    admin_client, many, query, django_assert_max_num_queries
):
    with django_assert_max_num_queries(JOB_PAGE_QUERIES):
        _response, sql = statements(admin_client, JOBS + query)

    assert not [s for s in sql if "COUNT(" in s.upper()]
    assert len([s for s in sql if "ROW_NUMBER()" in s.upper()]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?job=bulk.010",
        "?status__exact=failed",
        "?trigger__exact=schedule",
        "?q=bulk.01",
        "?p=2",
    ],
)
def test_run_changelist__no_count_no_distinct_job_names(
    admin_client, many, query, django_assert_max_num_queries
):
    with django_assert_max_num_queries(RUN_PAGE_QUERIES):
        response, sql = statements(admin_client, RUNS + query)

    assert not [s for s in sql if "COUNT(" in s.upper() or "DISTINCT" in s.upper()]
    assert response.context["cl"].result_list


def test_pages__next_and_previous_by_fetching_one_more_row(admin_client, many):
    first, sql = statements(admin_client, JOBS)
    page_query = next(
        s for s in sql if 'FROM "django_togo_scheduler_scheduledjob"' in s
    )
    assert "LIMIT 101" in page_query

    cl = first.context["cl"]
    assert (cl.previous_page_url, cl.next_page_url, cl.multi_page) == ("", "", False)

    from django_togo_scheduler.admin import ScheduledJobAdmin

    ScheduledJobAdmin.list_per_page, saved = 25, ScheduledJobAdmin.list_per_page
    try:
        pages = [admin_client.get(JOBS, {"p": n}).context["cl"] for n in (1, 2, 3)]
        html = admin_client.get(JOBS, {"p": 2}).content.decode()
    finally:
        ScheduledJobAdmin.list_per_page = saved

    assert [len(p.result_list) for p in pages] == [25, 25, 10]
    assert [(p.previous_page_url, p.next_page_url) for p in pages] == [
        ("", "?p=2"),
        ("?p=1", "?p=3"),
        ("?p=2", ""),
    ]
    assert pages[2].result_list[-1].name == "bulk.059"
    assert "page 2" in html and 'rel="next"' in html


def test_pages__past_the_end_or_not_a_number_is_the_admins_error_page(
    admin_client, many
):
    for page in ("9", "0"):
        response = admin_client.get(JOBS, {"p": page})
        assert response.status_code == 302, page
        assert response["Location"].endswith("?e=1")


def test_paginator__refuses_to_count():
    paginator = NoCountPaginator(list(range(10)), 3)

    page = paginator.page(4)
    assert (list(page), page.has_next(), page.has_previous()) == ([9], False, True)
    assert (page.start_index(), page.end_index(), repr(page)) == (10, 10, "<Page 4>")
    assert paginator.page(1).next_page_number() == 2
    assert paginator.page(2).previous_page_number() == 1
    assert NoCountPaginator([], 3).page(1).start_index() == 0
    with pytest.raises(TypeError, match="does not count"):
        _ = paginator.count


def test_recent_runs__last_n_of_each_job_newest_first(django_assert_num_queries):
    runs = Run.objects.bulk_create(
        [Run(job=name, status="done") for _ in range(5) for name in ("a", "b", "c")]
    )
    ids = {name: [r.pk for r in runs if r.job == name][::-1] for name in "abc"}

    with django_assert_num_queries(1):
        found = recent_runs(["a", "b", "missing"], limit=3)

    assert {name: [r.pk for r in rows] for name, rows in found.items()} == {
        "a": ids["a"][:3],
        "b": ids["b"][:3],
    }
    assert recent_runs([]) == {}
