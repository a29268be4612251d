from __future__ import annotations

from datetime import timedelta

import pytest

from django_togo_scheduler.engine.reconcile import reconcile
from django_togo_scheduler.models import Run, ScheduledJob
from tests.ticks import tick

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self):
        self.handed = []
        self.checked = []

    def dispatch(self, runs):
        self.handed.extend(r.pk for r in runs)

    def check(self, now):
        self.checked.append(now)


def test_reconcile__a_dead_workers_run_is_failed_and_the_job_unblocked(
    calls, now, sync_dispatcher
):
    dead = Run.objects.create(
        job="test.record",
        status="running",
        trigger="schedule",
        scheduled_for=now - timedelta(minutes=1),
        dispatched_at=now - timedelta(minutes=2),
        started_at=now - timedelta(minutes=2),
        heartbeat_at=now - timedelta(seconds=26),
        worker="gone-host:123",
    )
    ScheduledJob.objects.create(name="test.record", spec="* * * * *", next_run_at=now)

    (run,) = tick(now, dispatcher=sync_dispatcher)

    dead.refresh_from_db()
    assert dead.status == "failed" and dead.finished_at == now
    assert "worker died" in dead.error and "gone-host:123" in dead.error
    # The next slot fired normally instead of being skipped.
    assert Run.objects.get(pk=run.pk).status == "done"


def test_reconcile__a_fresh_heartbeat_is_left_alone(now):
    alive = Run.objects.create(
        job="test.record",
        status="running",
        dispatched_at=now,
        heartbeat_at=now - timedelta(seconds=24),
    )
    recorder = Recorder()
    reconcile(now, recorder)
    assert Run.objects.get(pk=alive.pk).status == "running"
    assert recorder.checked == [now]


def test_reconcile__an_unstarted_run_of_a_dead_process_is_dispatched_again(calls, now):
    lost = Run.objects.create(
        job="test.record",
        status="queued",
        trigger="manual",
        dispatched_at=now - timedelta(minutes=1),
        heartbeat_at=now - timedelta(minutes=1),
    )
    recorder = Recorder()

    tick(now, dispatcher=recorder)

    assert recorder.handed == [lost.pk]
    assert Run.objects.get(pk=lost.pk).dispatched_at == now


def test_reconcile__stale_after_is_a_setting(now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "STALE_AFTER": 120}
    run = Run.objects.create(
        job="test.record",
        status="running",
        dispatched_at=now,
        heartbeat_at=now - timedelta(seconds=100),
    )
    reconcile(now, Recorder())
    assert Run.objects.get(pk=run.pk).status == "running"
