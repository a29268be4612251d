"""A scheduler process through database outages (PostgreSQL refusing connections)."""

from __future__ import annotations

import os
import select
import signal
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import parse_spec
from tests.procs import django_command, subprocess_env, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.postgres_only,
]

SECOND = timedelta(seconds=1)


def _admin(sql, params=()):
    # ALTER DATABASE cannot target the database it runs in: use "postgres".
    import psycopg

    info = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        user=info["USER"],
        host=info["HOST"],
        port=info["PORT"],
        autocommit=True,
    ) as admin:
        admin.execute(sql, params)


@contextmanager
def database_outage():
    """New connections refused and every connection but the test's cut, until the block ends."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own,) = cursor.fetchone()
    _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
        (name, own),
    )
    try:
        yield
    finally:
        _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def scheduler(tmp_path, **env):
    return django_command(
        "runscheduler", env=subprocess_env(tmp_path / "effects.log", **env)
    )


def test_database_outage__the_scheduler_backs_off_recovers_and_loses_no_slot(tmp_path):
    # An outage shorter than MISFIRE_GRACE (30 s here; its back-off of 1, 2 and
    # 4 s may take the first tick after it to ~8 s) loses nothing.
    first = parse_spec("@every 1s").next_after(clock.now() + SECOND, None)
    ScheduledJob.objects.create(
        name="testapp.tick0", spec="@every 1s", next_run_at=first
    )
    proc = scheduler(tmp_path, TOGO_TEST_MISFIRE_GRACE="30s")
    try:
        assert wait_until(lambda: Run.objects.filter(job="testapp.tick0").count() >= 2)
        with database_outage():
            outage_end = clock.now() + 6 * SECOND
            time.sleep(6)
        assert wait_until(
            lambda: Run.objects.filter(scheduled_for__gt=outage_end + SECOND).exists()
        )
        assert proc.poll() is None  # still running
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    slots = sorted(
        Run.objects.filter(job="testapp.tick0").values_list("scheduled_for", flat=True)
    )
    assert slots[0] == first
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [SECOND] * (
        len(slots) - 1
    )
    assert err.count("Tick failed: the database is unreachable") == 1
    assert err.count("Database still unreachable") <= 4  # backing off: 1, 2, 4 s
    assert "Database reachable again after" in err


def stderr_until(proc, text: str, timeout: float = 60.0) -> str:
    """What the child wrote to stderr until ``text`` came (or ``timeout`` passed).

    Read from the pipe itself, not through the text wrapper, so that a
    ``communicate()`` afterwards gets the rest.
    """
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")


def test_database_outage__start_waits_for_the_database_and_sigterm_exits_promptly(
    tmp_path,
):
    with database_outage():
        proc = scheduler(tmp_path)
        # Up (its SIGTERM handler installed) and waiting for the database: a
        # fixed sleep was too short for a loaded machine to start it.
        early = stderr_until(proc, "Cannot reach the database to sync schedules")
        assert proc.poll() is None, early  # not crashed: waiting for the database
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        err = early + err
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5
    assert "Cannot reach the database to sync schedules" in err
    assert "Traceback" not in err


def test_database_outage__once_fails_with_one_line(tmp_path):
    with database_outage():
        proc = django_command(
            "runscheduler", "--once", env=subprocess_env(tmp_path / "effects.log")
        )
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert err.strip().startswith("CommandError: Cannot sync the declared schedules:")
