"""API.md's dead-worker bound, with the settings the library ships.

"A run whose worker died is marked failed within 30 seconds (counted while a
scheduler runs)." The bound comes from three defaults: ``STALE_AFTER`` (a
heartbeat older than that is a dead worker), the heartbeat interval
(``STALE_AFTER / 3``, up to 0.5 s late: the heartbeat thread wakes every 0.5 s)
and ``RECONCILE_EVERY`` (how often a scheduler looks), with ticks at most
``MAX_SLEEP`` apart. These tests keep every key of ``TOGO_SCHEDULER`` but the
queue at its default (``tests/settings.py`` may set ``STALE_AFTER`` from the
environment for subprocesses: it is removed here) and drive the engine the way
``runscheduler`` does, with explicit instants: a tick, then the loop's
``reconcile_ahead``, every ``MAX_SLEEP``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from django_togo_scheduler import engine
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.engine import RECONCILE_EVERY, EngineState
from django_togo_scheduler.models import Run

pytestmark = pytest.mark.django_db

PROMISE = timedelta(seconds=30)  # API.md: failed within 30 s of the death
HEARTBEAT_LATE = timedelta(seconds=0.5)  # the heartbeat thread wakes every 0.5 s


@pytest.fixture
def shipped(settings):
    """Every scheduler setting at the library's default (inline, no queue)."""
    settings.TOGO_SCHEDULER = {"QUEUE": None}
    return app_settings


def beat_interval(settings) -> timedelta:
    """The longest gap between two heartbeats of a live worker."""
    return timedelta(seconds=settings.STALE_AFTER / 3) + HEARTBEAT_LATE


def running(now: datetime, worker: str) -> Run:
    return Run.objects.create(
        job="test.record",
        status="running",
        trigger="manual",
        dispatched_at=now,
        started_at=now,
        heartbeat_at=now,
        worker=worker,
    )


def drive(start, end, beats, dispatcher):
    """Tick from ``start`` to ``end`` as ``runscheduler`` does; apply the beats.

    ``beats`` maps a run's pk to the instants its worker beats at. Before each
    tick, the beats due by then are written, as the worker's heartbeat thread
    would have written them.
    """
    state = EngineState()
    step = timedelta(seconds=app_settings.MAX_SLEEP)
    now = start
    while now <= end:
        for pk, instants in beats.items():
            due = [at for at in instants if at <= now]
            if due:
                Run.objects.filter(pk=pk, status="running").update(
                    heartbeat_at=max(due)
                )
        engine.tick(now, dispatcher=dispatcher, state=state)
        engine.reconcile_ahead(now, dispatcher, state, now + step)
        now += step


# Where the loop's ticks (MAX_SLEEP apart) fall against the beats and the death,
# as a fraction of MAX_SLEEP.
PHASES = [0.0, 0.25, 0.5, 0.75, 0.999]


def loop_start(start: datetime, phase: float) -> datetime:
    return start - timedelta(seconds=phase * app_settings.MAX_SLEEP)


@pytest.mark.parametrize("phase", PHASES)
def test_dead_worker__failed_within_30_s_of_its_death_with_the_defaults(
    shipped, calls, now, sync_dispatcher, phase
):
    # The worst case: the worker dies right after a heartbeat, so its run's
    # heartbeat is as fresh as can be when the beats stop.
    interval = beat_interval(shipped)
    dead = running(now, "gone-host:1")
    beats = {dead.pk: [now + k * interval for k in range(1, 5)]}
    death = beats[dead.pk][-1] + timedelta(microseconds=1)

    drive(loop_start(now, phase), death + 2 * PROMISE, beats, sync_dispatcher)

    dead.refresh_from_db()
    assert dead.status == "failed" and "worker died" in dead.error
    assert death < dead.finished_at <= death + PROMISE, (
        f"failed {(dead.finished_at - death).total_seconds()} s after the death"
    )


@pytest.mark.parametrize("phase", PHASES)
def test_dead_worker__the_bound_holds_wherever_between_two_beats_it_dies(
    shipped, calls, now, sync_dispatcher, phase
):
    # Dying later in the interval, up to just before the next beat was due:
    # the run is failed no later for it (nor before the death).
    interval = beat_interval(shipped)
    dead = running(now, "gone-host:2")
    beats = {dead.pk: [now + k * interval for k in range(1, 5)]}
    death = beats[dead.pk][-1] + interval * phase

    drive(loop_start(now, 0.5), death + 2 * PROMISE, beats, sync_dispatcher)

    dead.refresh_from_db()
    assert dead.status == "failed"
    assert death < dead.finished_at <= death + PROMISE


@pytest.mark.parametrize("phase", PHASES)
def test_live_worker__beating_on_schedule_is_never_failed(
    shipped, calls, now, sync_dispatcher, phase
):
    # Beats as late as the heartbeat thread makes them, over five minutes, with
    # a dead worker's run beside it to show that the reconciler did run.
    interval = beat_interval(shipped)
    end = now + timedelta(minutes=5)
    live = running(now, "live-host:1")
    dead = running(now, "gone-host:3")
    count = int((end - now) / interval)
    beats = {live.pk: [now + k * interval for k in range(1, count + 1)]}

    drive(loop_start(now, phase), end, beats, sync_dispatcher)

    live.refresh_from_db()
    assert live.status == "running" and live.finished_at is None
    assert Run.objects.get(pk=dead.pk).status == "failed"


def test_dead_worker__the_defaults_leave_room_for_the_worst_case(shipped):
    # The derivation of docs/reliability.md with the shipped numbers: a
    # heartbeat counts as stale once older than STALE_AFTER, and a scheduler
    # looks at least every RECONCILE_EVERY, in ticks at most MAX_SLEEP apart.
    worst = (
        timedelta(seconds=shipped.STALE_AFTER)
        + RECONCILE_EVERY
        + timedelta(seconds=shipped.MAX_SLEEP)
    )
    assert worst <= PROMISE
