"""A real scheduler process that stops ticking for a while (SIGSTOP) applies the
catch-up policy when it goes on (SIGCONT): downtime is time without a tick."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest

from django_togo_scheduler import clock
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import parse_spec
from tests.procs import django_command, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVERY = timedelta(seconds=2)
STOPPED = 8  # seconds without a tick: four slots
POLICIES = {"testapp.tick0": "latest", "testapp.tick1": "all"}


def slots_of(job):
    return list(
        Run.objects.filter(job=job)
        .order_by("scheduled_for")
        .values_list("scheduled_for", "status", "trigger", "created_at", "started_at")
    )


def test_stall__a_stopped_scheduler_applies_the_catchup_policy_when_it_goes_on(
    tmp_path,
):
    first = parse_spec("@every 2s").next_after(clock.now() + EVERY, None)
    for name, policy in POLICIES.items():
        ScheduledJob.objects.create(
            name=name, spec="@every 2s", next_run_at=first, catchup=policy
        )
    env = subprocess_env(tmp_path / "effects.log", TOGO_TEST_MISFIRE_GRACE="1s")
    proc = django_command("runscheduler", env=env)
    try:
        assert wait_until(
            lambda: all(
                Run.objects.filter(job=name, status="done").count() >= 2
                for name in POLICIES
            ),
            timeout=60,
        )
        os.kill(proc.pid, signal.SIGSTOP)
        stopped_at = clock.now()
        time.sleep(STOPPED)
        resumed_at = clock.now()
        os.kill(proc.pid, signal.SIGCONT)
        after = resumed_at + 2 * EVERY
        assert wait_until(
            lambda: all(
                Run.objects.filter(
                    job=name, scheduled_for__gt=after, status="done"
                ).exists()
                for name in POLICIES
            ),
            timeout=60,
        )
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    # The newest slot at or before the moment the process went on.
    newest = parse_spec("@every 2s").last_at_or_before(resumed_at, None)

    # catchup="latest": of the slots the stall covered only the newest is
    # recorded (on time, or the most recent missed one), and it is the one
    # that runs.
    latest = slots_of("testapp.tick0")
    before = max(row[0] for row in latest if row[3] < stopped_at)
    stall = [row for row in latest if row[0] > before]
    assert newest - before >= 3 * EVERY, (before, newest)  # several slots missed
    at, status, trigger, created, _ = stall[0]
    assert at >= newest, (before, newest, stall[:3])
    assert (status, trigger) == ("done", "schedule")
    assert created > resumed_at

    # catchup="all": every slot is recorded and runs, one after another, in order.
    replayed = slots_of("testapp.tick1")
    steps = [b[0] - a[0] for a, b in zip(replayed, replayed[1:], strict=False)]
    assert steps == [EVERY] * len(steps)
    before = max(row[0] for row in replayed if row[3] < stopped_at)
    missed = [row for row in replayed if before < row[0] < newest - EVERY / 2]
    assert len(missed) >= 3
    assert [row[1] for row in missed] == ["done"] * len(missed)
    assert {row[2] for row in missed} == {"catchup"}
    starts = [row[4] for row in missed]
    assert starts == sorted(starts)
