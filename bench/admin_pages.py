"""Benchmark of the two admin changelists, run by hand (not part of the test suite).

    python bench/admin_pages.py                       # 100,000 schedules, 1,000,000 runs
    python bench/admin_pages.py --schedules 10000 --runs 100000 --repeat 3

It drops and creates the PostgreSQL database ``togo_admin_bench`` on
``PGHOST:PGPORT`` as ``PGUSER`` (127.0.0.1:5432, postgres), migrates it, and
bulk-loads it with ``INSERT ... SELECT FROM generate_series``:

schedules  ``--schedules`` rows: 1 % "hot" (``hot.0000`` ...: every minute), the
           rest ``job.000000`` ...; 1 % paused, 1 % without a registered handler,
           mixed specs and zones;
runs       ``--runs`` rows, newest last: half of them belong to the hot schedules
           (an equal share each, one a minute), the other half spread over the
           rest (one an hour); 93 % done, 3 % failed with a traceback, 2 %
           skipped, 1 % manual triggers; the newest few running or queued.

then ``ANALYZE`` and times each changelist URL with Django's test client, logged
in as a superuser: one warm-up request, then ``--repeat`` requests; it prints the
median and slowest time in ms, the number of SQL queries, the slowest query's
time, and whether any query counted rows. The default schedule page (ordered by
name) starts with the hot schedules, so its window query reads the most runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.db import pg_params, recreate_database  # noqa: E402
from bench.harness.timing import Stopwatch, time_calls  # noqa: E402

DB_NAME = "togo_admin_bench"

JOB_URLS = [
    ("schedules, page 1 (hot jobs: most runs)", ""),
    ("schedules, the middle page", "?p={middle}"),
    ("schedules, search a name", "?q=job.0042"),
    ("schedules, paused", "?paused__exact=1"),
    ("schedules, last status failed", "?last_status=failed"),
    ("schedules, never run", "?last_status=never"),
]
RUN_URLS = [
    ("runs, page 1", ""),
    ("runs, page 100", "?p=100"),
    ("runs of one hot job", "?job=hot.0007"),
    ("runs of one job, page 2", "?job=hot.0007&p=2"),
    ("runs, failed", "?status__exact=failed"),
    ("runs, manual", "?trigger__exact=manual"),
    ("runs, today", "?{today}"),
    ("runs, search the error text", "?q=bench+failure+4211"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per URL")
    parser.add_argument("--keep", action="store_true", help="reuse a loaded database")
    return parser.parse_args(argv)


def setup_django() -> None:
    """Settings for an admin site on the bench database (no settings module needed)."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_togo_scheduler",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": DB_NAME,
                **{key.upper(): value for key, value in pg_params().items()},
                "CONN_MAX_AGE": 60,
            }
        },
        TOGO_SCHEDULER={"QUEUE": None, "AUTODISCOVER": None},
    )
    django.setup()
    from django.contrib import admin
    from django.urls import path

    globals()["urlpatterns"] = [path("admin/", admin.site.urls)]


SCHEDULES_SQL = """
INSERT INTO django_togo_scheduler_scheduledjob
    (name, spec, timezone, paused, paused_reason, paused_by, paused_at, queue,
     timeout, catchup, max_age, declared, source, overdue_since, next_run_at,
     created_at, updated_at)
SELECT
    CASE WHEN i < %(hot)s THEN 'hot.' || lpad(i::text, 4, '0')
         ELSE 'job.' || lpad((i - %(hot)s)::text, 6, '0') END,
    CASE WHEN i < %(hot)s THEN '* * * * *'
         ELSE (ARRAY['0 * * * *', '*/5 * * * *', '30 2 * * *', '0 9 * * 1-5',
                     '@daily', '@every 1h30m', '15 */2 * * *'])[1 + i %% 7] END,
    (ARRAY['', 'UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'])[1 + i %% 5],
    i %% 100 = 3, '', CASE WHEN i %% 100 = 3 THEN 'bench' ELSE '' END,
    CASE WHEN i %% 100 = 3 THEN %(now)s ELSE NULL END,
    '', NULL, 'latest', '', i %% 50 = 0,
    CASE WHEN i %% 50 = 0 THEN 'SCHEDULE setting' ELSE '' END, NULL,
    %(now)s + interval '1 second' * (i %% 3600), %(now)s, %(now)s
FROM generate_series(0, %(count)s - 1) AS i
"""

# Half the runs go to the hot schedules (one a minute), half to the others (one
# an hour); in time order, so the newest run of a job has its highest id.
RUNS_SQL = """
INSERT INTO django_togo_scheduler_run
    (job, status, trigger, scheduled_for, created_at, dispatched_at, dispatch_count,
     started_at, finished_at, heartbeat_at, timeout, queue, error, worker)
SELECT job, status,
       CASE WHEN n %% 100 = 7 THEN 'manual' ELSE 'schedule' END,
       CASE WHEN n %% 100 = 7 THEN NULL ELSE slot END,
       slot, slot, 1,
       CASE WHEN status IN ('done', 'failed', 'running') THEN slot + interval '1 ms' * (n %% 3000) END,
       CASE WHEN status IN ('done', 'failed') THEN slot + interval '1 ms' * (n %% 3000 + 200 + n %% 90000) END,
       NULL, NULL, '',
       CASE WHEN status = 'failed' THEN
           E'Traceback (most recent call last):\\n  File "jobs.py", line 12, in handler\\n'
           || E'    raise ValueError(n)\\nValueError: bench failure ' || n ELSE '' END,
       'bench:1'
FROM (
    SELECT n, job, slot,
           CASE WHEN n > %(total)s - 20 THEN (ARRAY['running', 'queued'])[1 + n %% 2]
                WHEN n %% 100 IN (11, 41, 71) THEN 'failed'
                WHEN n %% 100 IN (23, 57) THEN 'skipped'
                ELSE 'done' END AS status
    FROM (
        SELECT n,
               CASE WHEN n %% 2 = 0
                    THEN 'hot.' || lpad((n / 2 %% %(hot)s)::text, 4, '0')
                    ELSE 'job.' || lpad((n / 2 %% %(cold)s)::text, 6, '0') END AS job,
               CASE WHEN n %% 2 = 0
                    THEN %(now)s - interval '1 minute' * ((%(total)s - n) / 2 / %(hot)s + 1)
                    ELSE %(now)s - interval '1 hour' * ((%(total)s - n) / 2 / %(cold)s + 1) END AS slot
        FROM generate_series(0, %(total)s - 1) AS n
    ) AS numbered
) AS runs
ORDER BY n
"""


def load(schedules: int, runs: int) -> float:
    """Fill the database; return the seconds it took."""
    from django.db import connection
    from django.utils import timezone

    hot = max(1, schedules // 100)
    now = timezone.now().replace(microsecond=0)
    params = {"hot": hot, "cold": schedules - hot, "now": now}
    with Stopwatch() as watch, connection.cursor() as cursor:
        cursor.execute(SCHEDULES_SQL, {**params, "count": schedules})
        cursor.execute(RUNS_SQL, {**params, "total": runs})
        cursor.execute("VACUUM ANALYZE django_togo_scheduler_scheduledjob")
        cursor.execute("VACUUM ANALYZE django_togo_scheduler_run")
    return watch.seconds


def register_handlers(schedules: int) -> None:
    """Every schedule's name registered but 1 %, which the page flags."""
    from django_togo_scheduler.models import ScheduledJob
    from django_togo_scheduler.registry import registry

    def handler() -> None:
        pass

    names = ScheduledJob.objects.values_list("name", flat=True)
    for index, name in enumerate(names.iterator()):
        if index % 100 != 5:
            registry.register(name, handler)


def measure(client: Any, url: str, repeat: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200, url  # warm-up
    times, counts, slowest, counting = [], set(), 0.0, False
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries, Stopwatch() as watch:
            response = client.get(url)
        times.append(watch.ms)
        assert response.status_code == 200, url
        counts.add(len(queries))
        slowest = max([slowest, *(float(q["time"]) * 1000 for q in queries)])
        counting |= any("COUNT(" in q["sql"].upper() for q in queries)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "queries": sorted(counts),
        "slowest_query_ms": slowest,
        "rows": len(response.context["cl"].result_list),
        "count": counting,
    }


LATERAL_SQL = """
SELECT r.id, r.job, r.status, r.trigger, r.scheduled_for, r.created_at
FROM unnest(%s::varchar[]) AS j(name)
CROSS JOIN LATERAL (
    SELECT * FROM django_togo_scheduler_run WHERE job = j.name ORDER BY id DESC LIMIT 20
) AS r
"""


def compare_strip_queries(repeat: int) -> None:
    """The page's last-runs query (window) against a LATERAL join, on the first page."""
    from django.db import connection

    from django_togo_scheduler.admin.history import recent_runs
    from django_togo_scheduler.models import ScheduledJob

    names = list(
        ScheduledJob.objects.order_by("name").values_list("name", flat=True)[:100]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM django_togo_scheduler_run WHERE job = ANY(%s)",
            [names],
        )
        runs = cursor.fetchone()[0]

    def window() -> None:
        recent_runs(names)

    def lateral() -> None:
        with connection.cursor() as cursor:
            cursor.execute(LATERAL_SQL, [names])
            cursor.fetchall()

    for label, func in (
        ("ROW_NUMBER window", window),
        ("LATERAL ... LIMIT 20", lateral),
    ):
        times = time_calls(func, samples=repeat, warmup=1)
        print(f"last 20 runs of page 1 ({runs:,} runs): {label:22} "
              f"median {statistics.median(times):.1f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_django()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    setup_test_environment()  # the test client's response.context
    if not args.keep:
        recreate_database()
        print(f"loaded {args.schedules:,} schedules, {args.runs:,} runs in "
              f"{load(args.schedules, args.runs):.1f} s", flush=True)  # fmt: skip
    register_handlers(args.schedules)
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first()
    if user is None:
        user = user_model.objects.create_superuser("bench", "", "bench")
    client = Client()
    client.force_login(user)
    today = timezone.now().date()  # the date filter's links: UTC midnights
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"PostgreSQL {version}, Python {sys.version.split()[0]}, "
        f"Django {__import__('django').get_version()}; median of {args.repeat}"
    )
    print(f"{'page':44} {'median ms':>10} {'min ms':>8} {'queries':>8} "
          f"{'slowest q ms':>13} {'rows':>5} COUNT")  # fmt: skip
    compare_strip_queries(args.repeat)
    urls = [("/admin/django_togo_scheduler/scheduledjob/", JOB_URLS),
            ("/admin/django_togo_scheduler/run/", RUN_URLS)]  # fmt: skip
    for base, pages in urls:
        for label, query in pages:
            query = query.format(
                today=urlencode(
                    {
                        "created_at__gte": f"{today} 00:00:00+00:00",
                        "created_at__lt": f"{today + timedelta(days=1)} 00:00:00+00:00",
                    }
                ),
                middle=args.schedules // 200,
            )
            result = measure(client, base + query, args.repeat)
            queries = "/".join(map(str, result["queries"]))
            print(
                f"{label:44} {result['median_ms']:10.1f} {result['min_ms']:8.1f} "
                f"{queries:>8} {result['slowest_query_ms']:13.1f} {result['rows']:5} "
                f"{'yes' if result['count'] else 'no'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
