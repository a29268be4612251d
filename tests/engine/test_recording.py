"""A run that never left the outbox does not block its job's later slots (issue 12, item 4)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_togo_scheduler import transitions
from django_togo_scheduler.engine import EngineState
from django_togo_scheduler.engine.recording import SKIP_REASON
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.signals import run_skipped
from django_togo_scheduler.transitions import SUPERSEDED
from tests.doubles import Recorder
from tests.procs import wait_until
from tests.ticks import tick

pytestmark = pytest.mark.django_db

MIN = timedelta(minutes=1)


def schedule(now, catchup="latest"):
    return ScheduledJob.objects.create(
        name="test.record", spec="* * * * *", next_run_at=now, catchup=catchup
    )


def undelivered(now, minutes_ago, **fields):
    """A run of test.record still in the outbox (its enqueue failed)."""
    fields.setdefault("trigger", "schedule")
    fields.setdefault("queue", "togo")
    return Run.objects.create(
        job="test.record", scheduled_for=now - minutes_ago * MIN, **fields
    )


@pytest.fixture
def skipped_signals():
    sent = []
    run_skipped.connect(
        lambda sender, run, **kw: sent.append((run.pk, run.status, run.error)),
        weak=False,
        dispatch_uid="test_supersede",
    )
    yield sent
    run_skipped.disconnect(dispatch_uid="test_supersede")


def test_tick__a_new_slot_supersedes_runs_that_never_left_the_outbox(
    calls, now, skipped_signals, django_capture_on_commit_callbacks
):
    schedule(now)
    older = [undelivered(now, 2), undelivered(now, 1, trigger="manual")]
    recorder = Recorder()

    (run,) = tick(now, dispatcher=recorder)

    assert (run.status, run.trigger, run.dispatched_at) == ("queued", "schedule", now)
    assert recorder.handed == [run.pk]
    assert [
        (r.status, r.error, r.finished_at)
        for r in Run.objects.filter(pk__in=[o.pk for o in older]).order_by("pk")
    ] == [("skipped", SUPERSEDED, now)] * 2
    assert skipped_signals == [(o.pk, "skipped", SUPERSEDED) for o in older]
    assert SUPERSEDED == "superseded while the queue was unreachable"


def test_tick__a_run_handed_out_keeps_its_job_busy(calls, now):
    schedule(now)
    handed = undelivered(now, 1, dispatched_at=now - MIN, dispatch_count=1)
    waiting = undelivered(now, 2)

    (run,) = tick(now, dispatcher=Recorder())

    assert (run.status, run.error) == ("skipped", SKIP_REASON)
    assert list(
        Run.objects.filter(pk__in=[handed.pk, waiting.pk])
        .order_by("pk")
        .values_list("status", flat=True)
    ) == ["queued", "queued"]


def test_tick__an_inline_run_waiting_for_the_sweep_keeps_its_job_busy(calls, now):
    # Inline runs wait in the outbox a second at most (a manual trigger, runs a
    # stopping scheduler gave back): no queue was unreachable.
    schedule(now)
    waiting = undelivered(now, 1, trigger="manual", queue="")

    (run,) = tick(now, dispatcher=Recorder())

    assert (run.status, run.error) == ("skipped", SKIP_REASON)
    assert Run.objects.get(pk=waiting.pk).status == "queued"


def test_tick__under_catchup_all_a_new_slot_joins_the_runs_that_wait(calls, now):
    schedule(now, catchup="all")
    chain = [undelivered(now, 2, trigger="catchup"), undelivered(now, 1)]
    recorder = Recorder()

    (run,) = tick(now, dispatcher=recorder, state=EngineState())

    assert (run.status, run.error) == ("queued", "")
    assert set(
        Run.objects.filter(pk__in=[r.pk for r in chain]).values_list("status", "error")
    ) == {("queued", "")}
    # Nothing jumped the queue: the sweep hands out the oldest of the chain.
    assert recorder.handed == [chain[0].pk]
    assert Run.objects.get(pk=run.pk).dispatched_at is None


def test_supersede__only_runs_never_handed_out(now):
    waiting = undelivered(now, 4)
    inline = undelivered(now, 3, queue="")
    handed = undelivered(now, 2, dispatched_at=now)
    running = undelivered(now, 1, status="running", dispatched_at=now)
    other = Run.objects.create(job="test.other", trigger="manual", queue="togo")

    with transaction.atomic():
        superseded = transitions.supersede(["test.record"], now)

    assert [run.pk for run in superseded] == [waiting.pk]
    assert (superseded[0].status, superseded[0].error) == ("skipped", SUPERSEDED)
    stored = dict(Run.objects.values_list("pk", "status"))
    assert stored == {
        waiting.pk: "skipped",
        inline.pk: "queued",
        handed.pk: "queued",
        running.pk: "running",
        other.pk: "queued",
    }


def test_tick__the_claim_costs_statements_only_for_jobs_with_undelivered_runs(
    calls, now, registry
):
    registry.register("test.free", lambda: None)

    def statements(at, **run_fields):
        Run.objects.all().delete()
        ScheduledJob.objects.all().delete()
        ScheduledJob.objects.create(name="test.free", spec="* * * * *", next_run_at=at)
        schedule(at)
        undelivered(at, 1, **run_fields)
        with CaptureQueriesContext(connection) as queries:
            tick(at, dispatcher=Recorder(), state=EngineState(reconciled_at=at))
        sql = [query["sql"] for query in queries]
        # The claim's transaction: from its write lock (SQLite) or locked read
        # of the due schedules to the insert of the runs.
        first = next(i for i, text in enumerate(sql) if "scheduledjob" in text and (
            "FOR UPDATE" in text or "WHERE 0 = 1" in text))  # fmt: skip
        last = next(i for i, text in enumerate(sql) if text.startswith("INSERT"))
        return sql[first : last + 1]

    busy = statements(now, dispatched_at=now - MIN)  # handed out: busy, as ever
    superseding = statements(now + MIN)  # never handed out

    assert Run.objects.get(scheduled_for=now).error == SUPERSEDED
    # The supersede's locked read, its update and the look at what is left.
    assert len(superseding) == len(busy) + 3
    assert not any(
        sql.startswith('SELECT "django_togo_scheduler_run"') and "FOR UPDATE" in sql
        for sql in busy
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_tick__a_run_another_scheduler_hands_out_meanwhile_keeps_its_job_busy(
    calls, now
):
    schedule(now)
    old = undelivered(now, 1)
    outcome = {}

    def claim():
        try:
            outcome["runs"] = tick(now, dispatcher=Recorder(), state=EngineState())
        except Exception as exc:
            outcome["error"] = exc
            raise
        finally:
            connection.close()

    def claim_waits_on_a_lock():
        with connection.cursor() as cursor:
            # (Inside a transaction the activity view is a snapshot: refresh it.)
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] == 1

    # Another scheduler's outbox sweep: it locks the run (FOR UPDATE SKIP
    # LOCKED) and hands it out, and has not committed yet.
    with transaction.atomic():
        Run.objects.select_for_update(skip_locked=True).get(pk=old.pk)
        Run.objects.filter(pk=old.pk).update(
            dispatched_at=now, heartbeat_at=now, dispatch_count=1
        )
        thread = threading.Thread(target=claim)
        thread.start()
        # The claim read the run as undelivered and now waits for its row.
        assert wait_until(claim_waits_on_a_lock, timeout=30)
    thread.join(timeout=30)

    (run,) = outcome["runs"]
    assert (run.status, run.error) == ("skipped", SKIP_REASON)
    assert Run.objects.get(pk=old.pk).dispatched_at == now  # handed out, kept
    assert Run.objects.in_flight().filter(job="test.record").count() == 1
