from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from django_togo_scheduler import clock
from django_togo_scheduler.dispatch import get_dispatcher, resolve_queue
from django_togo_scheduler.dispatch.base import Dispatcher
from django_togo_scheduler.dispatch.inline import InlineDispatcher
from django_togo_scheduler.engine.outbox import dispatch_pending
from django_togo_scheduler.models import Run, ScheduledJob
from tests.procs import wait_until
from tests.ticks import tick

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds a test waits for a thread at most


@pytest.fixture
def gate(registry):
    """Registers ``test.gated``: its runs block until the test opens the gate."""
    opened = threading.Event()
    entered = threading.Event()
    threads = []

    def gated(ctx):
        threads.append(threading.current_thread().name)
        entered.set()
        assert opened.wait(WAIT)

    registry.register("test.gated", gated)
    yield opened, entered, threads
    opened.set()


@pytest.fixture
def pool():
    dispatcher = InlineDispatcher(workers=2, monitor=False)
    yield dispatcher
    dispatcher.shutdown(wait=True)


def wait_for_status(pk, status):
    deadline = clock.now() + timedelta(seconds=WAIT)
    while clock.now() < deadline:
        if Run.objects.get(pk=pk).status == status:
            return True
        threading.Event().wait(0.02)
    return False


def test_get_dispatcher__inline_pool_sized_by_setting(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "INLINE_WORKERS": 3}
    dispatcher = get_dispatcher()
    try:
        assert isinstance(dispatcher.inline, InlineDispatcher)
        assert dispatcher.inline.workers == 3
    finally:
        dispatcher.shutdown()


def test_resolve_queue__inline_unless_a_django_rq_queue_is_configured(settings):
    settings.TOGO_SCHEDULER = {"QUEUE": "default"}
    settings.RQ_QUEUES = {}
    assert resolve_queue() == ""
    assert resolve_queue("low") == ""


def test_dispatcher_base__dispatch_is_abstract():
    with pytest.raises(NotImplementedError):
        Dispatcher().dispatch([])
    Dispatcher().check(clock.now())
    Dispatcher().shutdown(grace=1)
    assert Dispatcher().abandoned_threads() == 0


def test_inline__runs_in_a_pool_thread_and_a_long_job_does_not_block_the_tick(
    gate, calls, pool
):
    opened, entered, threads = gate
    now = clock.now()
    ScheduledJob.objects.create(name="test.gated", spec="* * * * *", next_run_at=now)
    ScheduledJob.objects.create(
        name="test.record", spec="* * * * *", next_run_at=now + timedelta(minutes=1)
    )

    (gated,) = tick(now, dispatcher=pool)
    assert entered.wait(WAIT)
    # The gated run holds a thread; the next tick still fires the other job.
    runs = {r.job: r for r in tick(now + timedelta(minutes=1), dispatcher=pool)}
    assert wait_for_status(runs["test.record"].pk, "done")
    assert runs["test.gated"].status == "skipped"
    assert Run.objects.get(pk=gated.pk).status == "running"

    opened.set()
    assert wait_for_status(gated.pk, "done")
    assert (
        threads[0].startswith("togo-run")
        and threads[0] != threading.current_thread().name
    )


def test_inline__timeout_fails_the_run_and_discards_the_late_result(gate, pool):
    opened, entered, _ = gate
    run = Run.objects.create(job="test.gated", trigger="manual", timeout=1)
    dispatch_pending(clock.now(), pool)
    assert entered.wait(WAIT)
    started_at = Run.objects.get(pk=run.pk).started_at

    pool.check(started_at + timedelta(seconds=0.5))
    assert Run.objects.get(pk=run.pk).status == "running"
    pool.check(started_at + timedelta(seconds=2))

    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed" and "timeout" in failed.error
    opened.set()
    pool.shutdown(wait=True)
    late = Run.objects.get(pk=run.pk)
    assert (late.status, late.error) == ("failed", failed.error)


def test_inline__check_refreshes_heartbeats_of_held_runs(gate, pool):
    opened, entered, _ = gate
    run = Run.objects.create(job="test.gated", trigger="manual")
    dispatch_pending(clock.now(), pool)
    assert entered.wait(WAIT)
    later = clock.now() + timedelta(seconds=20)

    pool.check(later)

    assert Run.objects.get(pk=run.pk).heartbeat_at == later
    assert pool.held() == [run.pk]
    opened.set()
    assert wait_for_status(run.pk, "done")


def test_inline__shutdown_puts_unstarted_runs_back_in_the_outbox(gate, registry):
    opened, entered, _ = gate
    single = InlineDispatcher(workers=1)
    blocking = Run.objects.create(job="test.gated", trigger="manual")
    waiting = Run.objects.create(job="testapp.noop", trigger="manual")
    dispatch_pending(clock.now(), single)
    assert entered.wait(WAIT)  # the one thread is busy: the other run waits in the pool

    single.shutdown(wait=False)

    back = Run.objects.get(pk=waiting.pk)
    assert (back.status, back.dispatched_at) == ("queued", None)
    assert single.held() == [blocking.pk]
    opened.set()
    assert single.wait_held(WAIT)
    assert Run.objects.get(pk=blocking.pk).status == "done"
    assert Run.objects.get(pk=waiting.pk).status == "queued"  # for another scheduler


def test_inline__shutdown_fails_runs_still_running_after_the_grace(gate):
    opened, entered, _ = gate
    single = InlineDispatcher(workers=1)
    run = Run.objects.create(job="test.gated", trigger="manual")
    dispatch_pending(clock.now(), single)
    assert entered.wait(WAIT)

    single.shutdown(wait=True, grace=0.2)

    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error == (
        f"scheduler exited: {clock.worker_name()} stopped before the run ended "
        "(still running 0.2 s after the scheduler was asked to stop)"
    )
    assert single.held() == []
    opened.set()  # the thread returns; its late result is discarded
    assert wait_for_status(run.pk, "failed")


def test_inline__fail_held_fails_running_runs_and_puts_waiting_ones_back(gate, calls):
    opened, entered, _ = gate
    single = InlineDispatcher(workers=1)
    running = Run.objects.create(job="test.gated", trigger="manual")
    waiting = Run.objects.create(job="testapp.noop", trigger="manual")
    dispatch_pending(clock.now(), single)
    assert entered.wait(WAIT)

    assert single.fail_held("process exited: test") == [running.pk]

    assert Run.objects.get(pk=running.pk).error == "process exited: test"
    assert single.held() == []
    opened.set()  # the thread is free: the waiting run is not ours any more
    done = Run.objects.create(job="test.record", trigger="manual")
    single.dispatch([done])  # after the waiting run's task, in the one thread
    assert wait_for_status(done.pk, "done")
    back = Run.objects.get(pk=waiting.pk)
    assert (back.status, back.dispatched_at, back.started_at) == ("queued", None, None)
    single.shutdown()


def test_inline__the_monitor_fails_a_run_past_its_timeout_and_replaces_its_thread(
    gate, calls, caplog
):
    opened, entered, threads = gate
    single = InlineDispatcher(workers=1)  # with its monitor, as in any process
    hung = Run.objects.create(job="test.gated", trigger="manual", timeout=1)
    dispatch_pending(clock.now(), single)
    assert entered.wait(WAIT)

    assert wait_for_status(hung.pk, "failed")  # no tick, no check() call

    assert "timeout" in Run.objects.get(pk=hung.pk).error
    # The monitor abandons the thread right after it failed the run.
    assert wait_until(lambda: single.abandoned_threads() == 1)
    assert wait_until(
        lambda: any("abandoned" in r.getMessage() for r in caplog.records)
    )
    (line,) = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert line.levelname == "WARNING"
    assert line.getMessage() == (
        f"Run {hung.pk} of 'test.gated' is past its timeout: its thread cannot be "
        "stopped and is abandoned (1 abandoned thread(s) in this process; the pool "
        "still runs 1 at once)."
    )
    other = Run.objects.create(job="test.record", trigger="manual")
    dispatch_pending(clock.now(), single)
    assert wait_for_status(other.pk, "done")  # the one thread was replaced
    opened.set()
    assert wait_until(lambda: single.abandoned_threads() == 0)
    single.shutdown()


def test_inline__the_monitor_beats_for_runs_waiting_in_the_pool(gate, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "STALE_AFTER": 1.5}  # beats every 0.5 s
    opened, entered, _ = gate
    single = InlineDispatcher(workers=1)
    Run.objects.create(job="test.gated", trigger="manual")
    waiting = Run.objects.create(job="testapp.noop", trigger="manual")
    dispatch_pending(clock.now(), single)
    assert entered.wait(WAIT)
    first = Run.objects.get(pk=waiting.pk).heartbeat_at

    assert wait_until(lambda: Run.objects.get(pk=waiting.pk).heartbeat_at > first)

    assert Run.objects.get(pk=waiting.pk).status == "queued"
    opened.set()
    assert wait_for_status(waiting.pk, "done")
    single.shutdown()
