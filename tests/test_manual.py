"""Manual runs in this process: where ``trigger()`` sends an inline run, and ``wait``.

The pool threads use their own database connections: the tests that let them
run use ``transactional_db``; those in an atomic block (``db``) show what a
Django TestCase or ``ATOMIC_REQUESTS`` sees.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from django_togo_scheduler import clock, get_scheduler
from django_togo_scheduler import manual as manual_module
from django_togo_scheduler.dispatch.inline import InlineDispatcher
from django_togo_scheduler.engine.outbox import dispatch_pending
from django_togo_scheduler.manual import HERE, RQ, SCHEDULER, SKIPPED, trigger
from django_togo_scheduler.models import Run, SchedulerProcess

from .procs import wait_until

WAIT = 10  # seconds a test waits for a run at most


@pytest.fixture
def threads(registry):
    """Registers ``test.where``: its runs record the thread that ran them."""
    seen = []
    registry.register("test.where", lambda: seen.append(threading.current_thread()))
    return seen


def live_scheduler_row():
    now = clock.now()
    return SchedulerProcess.objects.create(
        host="elsewhere", pid=4242, started_at=now, last_tick_at=now
    )


def status_of(run):
    return Run.objects.get(pk=run.pk).status


@pytest.mark.django_db(transaction=True)
def test_trigger__no_scheduler__handed_to_this_process_at_once(threads):
    handover = trigger(get_scheduler().dispatcher, "test.where")

    # Handed out by the call itself: no tick of any scheduler is needed.
    assert handover.where == HERE
    assert Run.objects.get(pk=handover.run.pk).dispatched_at is not None
    assert wait_until(lambda: status_of(handover.run) == "done", timeout=WAIT)
    run = Run.objects.get(pk=handover.run.pk)
    assert run.worker == clock.worker_name()
    (thread,) = threads
    assert (
        thread.name.startswith("togo-run") and thread is not threading.current_thread()
    )
    assert get_scheduler().dispatcher.held() == []


@pytest.mark.django_db(transaction=True)
def test_trigger__a_live_scheduler_takes_it_from_the_outbox(threads, caplog):
    live_scheduler_row()
    handover = trigger(get_scheduler().dispatcher, "test.where")
    assert handover.where == SCHEDULER
    assert handover.schedulers == ["elsewhere:4242"]
    assert Run.objects.get(pk=handover.run.pk).dispatched_at is None  # in the outbox

    their_pool = InlineDispatcher(workers=1)  # the scheduler's sweep, at its tick
    try:
        assert dispatch_pending(clock.now(), their_pool) == [handover.run]
        assert handover.settle() == SCHEDULER
        assert wait_until(lambda: status_of(handover.run) == "done", timeout=WAIT)
    finally:
        their_pool.shutdown()
    assert get_scheduler().dispatcher.held() == []
    assert "No scheduler handed out" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_trigger__a_scheduler_that_looks_live_but_takes_nothing__taken_here(
    threads, caplog, monkeypatch
):
    monkeypatch.setattr(manual_module, "FALLBACK_AFTER", 0.5)
    live_scheduler_row()
    handover = trigger(get_scheduler().dispatcher, "test.where")
    assert handover.where == SCHEDULER

    assert handover.settle() == HERE  # after FALLBACK_AFTER, nobody had it
    assert wait_until(lambda: status_of(handover.run) == "done", timeout=WAIT)
    run = Run.objects.get(pk=handover.run.pk)
    assert run.worker == clock.worker_name()
    assert run.dispatched_at - run.created_at >= timedelta(seconds=0.5)
    assert (
        f"No scheduler handed out manual run {run.pk} of 'test.where' within 0.5 s; "
        "running it in this process."
    ) in caplog.text


@pytest.mark.django_db(transaction=True)
def test_trigger__wait_returns_the_ended_run(threads, registry):
    registry.register("test.boom", lambda: 1 / 0)

    done = get_scheduler().trigger("test.where", wait=True)
    failed = get_scheduler().trigger("test.boom", wait=True)

    assert (done.status, done.finished_at is not None) == ("done", True)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert threads[0] is not threading.current_thread()


@pytest.mark.django_db(transaction=True)
def test_trigger__wait_for_a_run_a_scheduler_holds(threads, monkeypatch):
    monkeypatch.setattr(manual_module, "FALLBACK_AFTER", 60.0)
    live_scheduler_row()
    their_pool = InlineDispatcher(workers=1)

    def sweep():  # the scheduler's next tick, in a thread with its own connection
        try:
            dispatch_pending(clock.now(), their_pool)
        finally:
            connection.close()

    sweeper = threading.Timer(0.3, sweep)
    sweeper.start()
    try:
        run = get_scheduler().trigger("test.where", wait=True)
    finally:
        sweeper.join()
        their_pool.shutdown()
    assert run.status == "done"


@pytest.mark.django_db
def test_trigger__wait_in_an_atomic_block_runs_it_in_the_calling_thread(threads):
    run = get_scheduler().trigger("test.where", wait=True)

    assert run.status == "done" and run.trigger == "manual"
    assert threads == [threading.current_thread()]


@pytest.mark.django_db
def test_trigger__in_an_atomic_block_it_is_handed_over_on_commit(
    threads, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = get_scheduler().trigger("test.where")
        assert status_of(run) == "queued" and threads == []

    # The callbacks run inside the test's transaction: still invisible to any
    # other connection, so the run is executed in the calling thread.
    assert len(callbacks) == 1
    assert status_of(run) == "done" and threads == [threading.current_thread()]


@pytest.mark.django_db(transaction=True)
def test_trigger__in_a_transaction_it_starts_after_the_commit(threads):
    with transaction.atomic():
        run = get_scheduler().trigger("test.where")
        assert Run.objects.get(pk=run.pk).dispatched_at is None

    assert Run.objects.get(pk=run.pk).dispatched_at is not None
    assert wait_until(lambda: status_of(run) == "done", timeout=WAIT)


@pytest.mark.django_db
def test_trigger__skipped_while_in_flight_whatever_wait_says(threads):
    busy = Run.objects.create(job="test.where", status="running")

    run = get_scheduler().trigger("test.where", wait=True)

    assert run.pk != busy.pk
    assert (run.status, run.trigger) == ("skipped", "manual")
    assert "still in flight" in run.error and threads == []
    assert trigger(get_scheduler().dispatcher, "test.where").where == SKIPPED


@pytest.mark.django_db
def test_trigger__through_rq_when_its_queue_is_configured(threads, settings):
    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}

    handover = trigger(get_scheduler().dispatcher, "test.where")

    assert (handover.where, handover.run.queue) == (RQ, "togo")
    assert Run.objects.get(pk=handover.run.pk).dispatched_at is None  # at the commit


@pytest.mark.django_db(transaction=True)
def test_trigger__here_runs_inline_whatever_the_queue(threads, settings):
    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}
    live_scheduler_row()  # not asked: here means here

    handover = trigger(get_scheduler().dispatcher, "test.where", here=True)

    assert (handover.where, handover.run.queue) == (HERE, "")
    run = handover.wait()
    assert run.status == "done" and run.worker == clock.worker_name()


@pytest.fixture
def held_here(registry):
    """A manual run held by this process's pool, running until the test ends."""
    entered, opened = threading.Event(), threading.Event()

    def gated():
        entered.set()
        opened.wait(WAIT)

    registry.register("test.gated", gated)
    handover = trigger(get_scheduler().dispatcher, "test.gated")
    assert handover.where == HERE and entered.wait(WAIT)
    yield handover
    opened.set()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_abandon__after_a_ctrl_c_in_the_middle_of_a_query_fails_the_run(held_here):
    from django_togo_scheduler.dispatch.exits import PROCESS_EXITED

    handover = held_here
    # What a Ctrl-C inside wait()'s poll leaves: a query sent, its result unread.
    connection.ensure_connection()
    connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.2)")

    handover.abandon("interrupted with Ctrl-C")

    run = Run.objects.get(pk=handover.run.pk)
    assert run.status == "failed"
    assert run.error == PROCESS_EXITED.format(
        worker=clock.worker_name(), why="interrupted with Ctrl-C"
    )


@pytest.mark.django_db(transaction=True)
def test_wait_for__a_ctrl_c_as_a_poll_returns_fails_the_run_and_exits_130(
    held_here,
):
    from django.core.management.base import CommandError

    from django_togo_scheduler.cli.manual import INTERRUPTED, wait_for

    handover = held_here
    interrupted = []

    def interrupt(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not interrupted:  # the first query: its cursor is open, a row read
            interrupted.append(sql)
            raise KeyboardInterrupt
        return result

    with connection.execute_wrapper(interrupt), pytest.raises(CommandError) as raised:
        wait_for(handover)

    assert interrupted and raised.value.returncode == INTERRUPTED
    assert str(raised.value) == (
        f"interrupted: run #{handover.run.pk} of test.gated was marked failed"
    )
    assert Run.objects.get(pk=handover.run.pk).status == "failed"


# Runs that never left the outbox (issue 12, item 4, for manual runs)


@pytest.mark.django_db
def test_trigger__supersedes_a_run_its_unreachable_queue_never_took(threads, settings):
    from django_togo_scheduler.signals import run_skipped
    from django_togo_scheduler.transitions import SUPERSEDED

    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}
    old = Run.objects.create(job="test.where", trigger="manual", queue="togo")
    skipped = []

    def on_skipped(run, **kwargs):
        skipped.append(run.pk)

    run_skipped.connect(on_skipped)
    try:
        handover = trigger(get_scheduler().dispatcher, "test.where")
    finally:
        run_skipped.disconnect(on_skipped)

    assert (handover.where, status_of(handover.run)) == (RQ, "queued")
    old.refresh_from_db()
    assert (old.status, old.error) == ("skipped", SUPERSEDED)
    assert old.finished_at is not None
    assert skipped == [old.pk]


@pytest.mark.django_db
def test_trigger__with_no_scheduler_supersedes_an_inline_run_nobody_takes(threads):
    from django_togo_scheduler.transitions import SUPERSEDED_UNTAKEN

    # A manual run a process put back in the outbox when it exited: with no
    # scheduler running, nothing would ever hand it out.
    old = Run.objects.create(job="test.where", trigger="manual")
    Run.objects.filter(pk=old.pk).update(created_at=clock.now() - timedelta(seconds=3))

    run = get_scheduler().trigger("test.where", wait=True)

    assert run.status == "done" and len(threads) == 1
    old.refresh_from_db()
    assert (old.status, old.error) == ("skipped", SUPERSEDED_UNTAKEN)


@pytest.mark.django_db
def test_trigger__a_run_whose_hand_over_is_still_coming_keeps_its_job_busy(threads):
    # Recorded in this transaction: it is handed over at the commit.
    first = get_scheduler().trigger("test.where")
    second = get_scheduler().trigger("test.where")

    assert (status_of(first), second.status) == ("queued", "skipped")


@pytest.mark.django_db
def test_trigger__with_a_live_scheduler_an_inline_run_in_the_outbox_keeps_it_busy(
    threads,
):
    live_scheduler_row()  # its next sweep hands the waiting run out
    old = Run.objects.create(job="test.where", trigger="manual")

    handover = trigger(get_scheduler().dispatcher, "test.where")

    assert handover.where == SKIPPED
    assert status_of(old) == "queued" and threads == []


@pytest.mark.django_db
def test_trigger__runs_waiting_in_a_catchup_all_chain_are_not_superseded(
    threads, settings
):
    from django_togo_scheduler.models import ScheduledJob

    settings.RQ_QUEUES = {"togo": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TOGO_SCHEDULER = {"QUEUE": "togo"}
    ScheduledJob.objects.create(name="test.where", spec="@hourly", catchup="all")
    old = Run.objects.create(job="test.where", queue="togo")

    handover = trigger(get_scheduler().dispatcher, "test.where")

    assert handover.where == SKIPPED
    assert status_of(old) == "queued"
