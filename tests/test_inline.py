from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from django_togo_scheduler import clock
from django_togo_scheduler.dispatch import get_dispatcher, resolve_queue
from django_togo_scheduler.dispatch.base import Dispatcher
from django_togo_scheduler.dispatch.inline import InlineDispatcher
from django_togo_scheduler.engine import tick
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.outbox import dispatch_pending

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
    Dispatcher().shutdown()


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
    assert entered.wait(WAIT)

    opened.set()
    single.shutdown(wait=True)

    assert Run.objects.get(pk=blocking.pk).status == "done"
    back = Run.objects.get(pk=waiting.pk)
    # Either it ran before the shutdown got to it, or it is back in the outbox.
    assert (back.status, back.dispatched_at is None) in {
        ("queued", True),
        ("done", False),
    }
