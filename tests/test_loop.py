from __future__ import annotations

import logging
from datetime import timedelta
from itertools import pairwise
from types import SimpleNamespace

import pytest
from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)

from django_togo_scheduler import loop as loop_module
from django_togo_scheduler.dispatch.base import Dispatcher
from django_togo_scheduler.loop import SchedulerLoop, next_slot, sleep_until
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.service import Service

pytestmark = pytest.mark.django_db


def test_next_slot__the_earliest_active_slot_and_the_sleep_until_it_capped(now):
    assert next_slot() is None and sleep_until(next_slot(), now, 1.0) == 1.0
    ScheduledJob.objects.create(
        name="a", spec="* * * * *", next_run_at=now + timedelta(seconds=0.25)
    )
    ScheduledJob.objects.create(
        name="b",
        spec="* * * * *",
        next_run_at=now + timedelta(seconds=0.1),
        paused=True,
    )
    assert next_slot() == now + timedelta(seconds=0.25)
    assert sleep_until(next_slot(), now, 1.0) == 0.25
    assert sleep_until(next_slot(), now, 0.2) == 0.2
    assert sleep_until(next_slot(), now + timedelta(seconds=5), 1.0) == 0.0


def test_run_once__ticks_and_prunes_old_runs_hourly(
    calls, now, monkeypatch, sync_dispatcher, settings
):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": "1d"}
    monkeypatch.setattr(loop_module.clock, "now", lambda: now)
    Run.objects.create(job="x", status="done", finished_at=now - timedelta(days=2))
    queued = Run.objects.create(job="test.record", trigger="manual")
    loop = SchedulerLoop(Service(), sync_dispatcher)

    sleep = loop.run_once()

    assert 0 <= sleep <= 1.0
    assert list(Run.objects.values_list("pk", "status")) == [(queued.pk, "done")]
    # within the hour, no second prune
    Run.objects.create(job="x", status="done", finished_at=now - timedelta(days=2))
    loop.run_once()
    assert Run.objects.filter(job="x").count() == 1


def run_forever_through(monkeypatch, sync_dispatcher, outcomes, clock_at=None):
    """Run the loop over ``outcomes`` (exceptions raised by a tick, or a sleep
    that ends it); return the waits between attempts."""
    service = Service()
    loop = SchedulerLoop(service, sync_dispatcher)
    waits = []
    attempts = iter(outcomes)

    def run_once():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        service.stop()
        return outcome

    monkeypatch.setattr(loop, "run_once", run_once)
    monkeypatch.setattr(loop, "_drop_connection", lambda: None)
    monkeypatch.setattr(service, "wait", waits.append)
    if clock_at is not None:
        monkeypatch.setattr(loop_module.clock, "now", clock_at)
    loop.run_forever()
    return waits


def test_run_forever__backs_off_while_the_database_is_unreachable_and_stops(
    monkeypatch, caplog, sync_dispatcher
):
    outcomes = [
        OperationalError("server closed the connection"),
        InterfaceError("again"),
        OperationalError("again"),
        0.5,
    ]
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        waits = run_forever_through(monkeypatch, sync_dispatcher, outcomes)

    assert waits == [1.0, 2.0, 4.0, 0.5]
    # One traceback for the outage, then one line per retry.
    assert [r.getMessage() for r in caplog.records] == [
        "Tick failed: the database is unreachable (server closed the connection); "
        "retrying in 1 s.",
        "Database still unreachable (again); retrying in 2 s.",
        "Database still unreachable (again); retrying in 4 s.",
        "Database reachable again after 0 s; ticking resumed.",
    ]
    assert caplog.text.count("Traceback") == 1
    assert caplog.records[0].exc_info[0] is OperationalError


def test_run_forever__other_database_errors_are_logged_as_what_they_are(
    monkeypatch, caplog, sync_dispatcher, now
):
    overflow = DataError("smallint out of range")
    outcomes = [
        overflow,
        DataError("smallint out of range"),
        DataError("smallint out of range"),
        IntegrityError("duplicate key"),
        OperationalError("connection refused"),
        DataError("smallint out of range"),
        0.5,
    ]
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        run_forever_through(monkeypatch, sync_dispatcher, outcomes, lambda: now)

    assert [r.getMessage() for r in caplog.records] == [
        "Tick failed on DataError (smallint out of range); retrying in 1 s.",
        "Tick failed again on DataError (smallint out of range), 1 time(s) since "
        "its traceback; retrying in 2 s.",
        "Tick failed again on DataError (smallint out of range), 2 time(s) since "
        "its traceback; retrying in 4 s.",
        "Tick failed on IntegrityError (duplicate key); retrying in 8 s.",
        "Tick failed: the database is unreachable (connection refused); "
        "retrying in 16 s.",
        "Tick failed on DataError (smallint out of range); retrying in 30 s.",
        "Database reachable again after 0 s; ticking resumed.",
    ]
    tracebacks = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert tracebacks[0] is overflow
    assert [type(e) for e in tracebacks] == [
        DataError,
        IntegrityError,
        OperationalError,
        DataError,
    ]
    assert "Database still unreachable" not in caplog.text


def test_run_forever__an_identical_error_gets_its_traceback_again_after_a_while(
    monkeypatch, caplog, sync_dispatcher, now
):
    from django_togo_scheduler import tickerrors

    times = iter(
        [now, now + tickerrors.TRACEBACK_EVERY / 2, now + tickerrors.TRACEBACK_EVERY]
        + [now + 2 * tickerrors.TRACEBACK_EVERY] * 2
    )
    outcomes = [ProgrammingError("no such column")] * 3 + [0.5]
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        run_forever_through(monkeypatch, sync_dispatcher, outcomes, lambda: next(times))

    assert [bool(r.exc_info) for r in caplog.records] == [True, False, True, False]
    assert caplog.records[-1].getMessage() == (
        "Ticking resumed after 600 s of database errors."
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)  # the loop drops its connection
def test_run_forever__a_real_data_error_is_not_an_outage(caplog, sync_dispatcher):
    # A counter at the end of its column's range (what issue 12's outage counter
    # reached after ~9 hours): the tick's UPDATE fails with DataError.
    Run.objects.create(job="test.record", trigger="manual", dispatch_count=32767)
    service = Service()
    loop = SchedulerLoop(service, sync_dispatcher)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 2:
            service.stop()

    service.wait = wait

    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        loop.run_forever()

    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("Tick failed on DataError (smallint out of range")
    assert caplog.records[0].exc_info[0] is DataError
    assert messages[1].startswith("Tick failed again on DataError")
    assert "unreachable" not in caplog.text


def test_start__retries_an_unreachable_database_until_stopped(
    monkeypatch, caplog, sync_dispatcher
):
    from django_togo_scheduler import loop as loop_mod

    service = Service()
    loop = SchedulerLoop(service, sync_dispatcher)
    calls = []

    def failing_sync(now):
        calls.append(now)
        raise OperationalError("connection refused")

    waits = []

    def wait(seconds):
        waits.append(seconds)
        return len(waits) >= 3  # stopped during the third wait

    monkeypatch.setattr(loop_mod, "sync_declared", failing_sync)
    monkeypatch.setattr(loop, "_drop_connection", lambda: None)
    monkeypatch.setattr(service, "wait", wait)

    with caplog.at_level(logging.ERROR, logger="django_togo_scheduler"):
        assert loop.start(retry=True) is False

    assert waits == [1.0, 2.0, 4.0] and len(calls) == 3
    assert caplog.text.count("Cannot reach the database to sync schedules") == 3
    with pytest.raises(OperationalError):
        loop.start()


def test_next_slot__ignores_schedules_without_a_handler_here(now):
    ScheduledJob.objects.create(
        name="gone.job", spec="* * * * *", next_run_at=now - timedelta(minutes=5)
    )
    assert next_slot() == now - timedelta(minutes=5)
    assert next_slot(exclude={"gone.job"}) is None


def test_run_once__a_schedule_without_handler_does_not_make_the_loop_spin(
    now, monkeypatch, sync_dispatcher
):
    monkeypatch.setattr(loop_module.clock, "now", lambda: now)
    ScheduledJob.objects.create(
        name="gone.job", spec="* * * * *", next_run_at=now - timedelta(minutes=5)
    )
    loop = SchedulerLoop(Service(), sync_dispatcher)
    loop.run_once()
    assert loop.run_once() == 1.0


def test_run_once__repairs_every_two_seconds_between_ticks_never_inside_one(
    calls, now, monkeypatch, sync_dispatcher
):
    from django_togo_scheduler import engine
    from django_togo_scheduler.engine import reconcile

    ScheduledJob.objects.create(
        name="test.record", spec="@every 1s", next_run_at=now + timedelta(seconds=1)
    )
    clock = {"now": now}

    def read():  # each reading takes a millisecond: work takes time
        clock["now"] += timedelta(milliseconds=1)
        return clock["now"]

    monkeypatch.setattr(loop_module.clock, "now", read)
    passes = []
    real = reconcile.reconcile

    def counted(at, dispatcher):
        passes.append((at, in_tick[0]))
        return real(at, dispatcher)

    in_tick = [False]
    real_tick = engine.tick

    def tick(*args, **kwargs):
        in_tick[0] = True
        try:
            return real_tick(*args, **kwargs)
        finally:
            in_tick[0] = False

    monkeypatch.setattr(reconcile, "reconcile", counted)
    monkeypatch.setattr(engine, "tick", tick)
    loop = SchedulerLoop(Service(), sync_dispatcher)

    for _ in range(10):  # the loop sleeps until each slot, a second apart
        sleep = loop.run_once()
        clock["now"] += timedelta(seconds=sleep)

    assert Run.objects.filter(job="test.record").count() == 9
    # The first tick repairs first (no pass yet); then about every 2 s, between
    # ticks, never inside one.
    assert passes[0][1] is True
    assert [in_tick for _, in_tick in passes[1:]] == [False] * (len(passes) - 1)
    gaps = [(b - a).total_seconds() for (a, _), (b, _) in pairwise(passes)]
    # (the first pass between ticks comes a tick early, before its deadline)
    assert gaps[0] <= 2.0 and len(gaps) >= 3, gaps
    assert all(1.9 < gap < 2.1 for gap in gaps[1:]), (gaps, passes)


def test_run_once__claims_a_slot_ahead_and_hands_its_runs_over_at_its_instant(
    calls, now, monkeypatch
):
    from django_togo_scheduler.engine import claim

    slot = now + timedelta(seconds=1)
    ScheduledJob.objects.create(name="test.record", spec="@every 1s", next_run_at=slot)
    clock = {"now": now}

    def read():  # each reading takes a millisecond: work takes time
        clock["now"] += timedelta(milliseconds=1)
        return clock["now"]

    def sleep(seconds):
        clock["now"] += timedelta(seconds=seconds)

    monkeypatch.setattr(loop_module.clock, "now", read)
    # claim's own name for the time module, not time.sleep itself: another
    # thread (the heartbeat's) sleeping on the fake clock would spin it forward.
    monkeypatch.setattr(claim, "time", SimpleNamespace(sleep=sleep))
    handed = []

    class Recorder(Dispatcher):
        def dispatch(self, runs):
            committed = Run.objects.filter(pk__in=[run.pk for run in runs]).count()
            handed.append(
                (clock["now"], [run.scheduled_for for run in runs], committed)
            )

        def check(self, now):
            pass

    claimed_at = []
    original = claim._claim_batch

    def timed_claim(*args):
        outcome = original(*args)
        claimed_at.append(clock["now"])
        return outcome

    monkeypatch.setattr(claim, "_claim_batch", timed_claim)
    loop = SchedulerLoop(Service(), Recorder())
    sleep(loop.run_once())  # reads the slot; sleeps until CLAIM_AHEAD before it
    woke = slot - loop_module.CLAIM_AHEAD
    assert woke <= clock["now"] <= woke + timedelta(milliseconds=2) and not handed
    loop.run_once()

    run = Run.objects.get(job="test.record")
    assert claimed_at and claimed_at[0] < slot  # claimed and committed ahead of it
    (at, slots, committed), *_ = handed
    assert slots == [slot] and committed == 1
    assert slot <= at <= slot + timedelta(milliseconds=3)  # handed over at the slot
    assert run.dispatched_at == slot
