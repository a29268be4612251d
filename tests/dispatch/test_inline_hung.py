"""Hung inline jobs past their timeout do not stop the other jobs, and status says so.

Issue 12, item 8: six handlers that hang with ``timeout=1`` used to fill the four
threads of the pool for good, with no warning and ``scheduler status`` healthy.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_togo_scheduler import clock
from django_togo_scheduler import processes as processes_module
from django_togo_scheduler.dispatch import get_dispatcher
from django_togo_scheduler.loop import SchedulerLoop
from django_togo_scheduler.models import Run, SchedulerProcess
from django_togo_scheduler.service import Service
from tests.procs import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds: the handlers' longest block, and a test's longest wait


@pytest.fixture
def hanging(registry):
    """Registers ``test.hang0`` ... ``test.hang9``: each blocks until the test ends."""
    released = threading.Event()

    def hang():
        released.wait(WAIT)

    for index in range(10):
        registry.register(f"test.hang{index}", hang)
    yield released
    released.set()


def ticking(loop):
    """One iteration of the scheduler loop (what ``runscheduler`` does every second)."""
    loop.run_once()
    return True


def status(*args):
    out = StringIO()
    try:
        call_command("scheduler", "status", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_six_hung_jobs__the_others_still_run_and_status_shows_the_abandoned_threads(
    hanging, calls, settings, monkeypatch, caplog
):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "INLINE_WORKERS": 4}
    monkeypatch.setattr(processes_module, "HEARTBEAT_EVERY", timedelta(0))
    dispatcher = get_dispatcher()
    loop = SchedulerLoop(Service(), dispatcher)
    hung = [
        Run.objects.create(job=f"test.hang{i}", trigger="manual", timeout=1)
        for i in range(6)
    ]
    try:
        loop.run_once()  # the sweep hands all six to the pool's four threads

        assert wait_until(
            lambda: (
                Run.objects.filter(status="failed", error__contains="timeout").count()
                == 6
            ),
            timeout=WAIT,
        )
        # The monitor abandons each thread right after it failed the run.
        assert wait_until(lambda: dispatcher.abandoned_threads() == 6)
        assert wait_until(
            lambda: sum("is abandoned" in r.getMessage() for r in caplog.records) == 6
        )
        abandoned = [r for r in caplog.records if "is abandoned" in r.getMessage()]
        assert len(abandoned) == 6 and {r.levelname for r in abandoned} == {"WARNING"}
        assert {r.run_id for r in abandoned} == {run.pk for run in hung}

        other = Run.objects.create(job="test.record", trigger="manual")
        assert wait_until(
            lambda: ticking(loop) and Run.objects.get(pk=other.pk).status == "done"
        )
        assert SchedulerProcess.objects.get().abandoned_threads == 6
        out, failure = status()
        assert failure is None, out
        me = clock.worker_name()
        assert out.splitlines()[1].split()[0] == me
        assert out.splitlines()[1].split()[-1] == "6"
        assert f"Abandoned threads: {me} has 6 (" in out

        # Four more that hang without a timeout hold every thread: a run
        # handed out now does not start, and status fails naming it.
        for i in range(6, 10):
            Run.objects.create(job=f"test.hang{i}", trigger="manual")
        late = Run.objects.create(job="test.record", trigger="manual")
        loop.run_once()
        assert Run.objects.get(pk=late.pk).dispatched_at is not None
        assert wait_until(
            lambda: (
                clock.now() - Run.objects.get(pk=late.pk).dispatched_at
                > timedelta(seconds=1)
            )
        )
        out, failure = status("--unstarted-after", "1s")
        assert failure is not None and failure.returncode == 1
        assert str(failure) == "1 run(s) handed out more than 1s ago have not started"
        assert (
            f"Unstarted for more than 1s: inline: #{late.pk} test.record "
            "(the inline pool holding them is full or hung)"
        ) in out.splitlines()
        assert Run.objects.get(pk=late.pk).status == "queued"
        hanging.set()  # the handlers return: a thread is free again
        assert wait_until(lambda: Run.objects.get(pk=late.pk).status == "done")
    finally:
        hanging.set()
        dispatcher.shutdown(wait=True, grace=WAIT)
