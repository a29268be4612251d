from __future__ import annotations

import logging
from datetime import UTC, timedelta

import pytest
from django.db import connection, transaction

from django_togo_scheduler import engine
from django_togo_scheduler import service as service_api
from django_togo_scheduler.engine import EngineState, advance, due, outbox, planning
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.signals import run_skipped
from django_togo_scheduler.specs import parse_spec
from tests.doubles import Recorder
from tests.ticks import tick

pytestmark = pytest.mark.django_db

MIN = timedelta(minutes=1)


def make_job(name, spec="* * * * *", next_run_at=None, **fields):
    return ScheduledJob.objects.create(
        name=name, spec=spec, next_run_at=next_run_at, **fields
    )


def test_tick__new_schedule_does_not_fire_at_creation(
    service, calls, now, sync_dispatcher
):
    service.schedule("test.record", "* * * * *")
    job = ScheduledJob.objects.get(name="test.record")
    assert job.next_run_at > job.created_at

    assert tick(job.created_at, dispatcher=sync_dispatcher) == []
    assert calls == []


def test_tick__fires_a_due_slot_once_and_advances(calls, now, sync_dispatcher):
    make_job("test.record", next_run_at=now)

    runs = tick(now + timedelta(seconds=0.3), dispatcher=sync_dispatcher)
    again = tick(now + timedelta(seconds=0.6), dispatcher=sync_dispatcher)

    assert [r.scheduled_for for r in runs] == [now]
    assert again == []
    run = Run.objects.get()
    assert (run.status, run.trigger, run.scheduled_for) == ("done", "schedule", now)
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert run.worker
    assert ScheduledJob.objects.get().next_run_at == now + MIN
    (ctx,) = calls
    assert (ctx.job, ctx.run_id, ctx.scheduled_for, ctx.trigger) == (
        "test.record",
        run.pk,
        now,
        "schedule",
    )
    assert ctx.logger.name.endswith("test.record")


def test_tick__records_runs_before_dispatching(calls, now):
    make_job("test.record", next_run_at=now)
    seen = []

    class Checking(Recorder):
        def dispatch(self, runs):
            # The rows the dispatcher is handed exist, committed, marked dispatched.
            seen.extend(
                Run.objects.filter(pk__in=[r.pk for r in runs]).values_list(
                    "status", "dispatched_at"
                )
            )
            super().dispatch(runs)

    tick(now, dispatcher=Checking())

    assert len(seen) == 1 and seen[0][0] == "queued" and seen[0][1] is not None


def test_tick__overlap_records_a_skipped_run(calls, now, sync_dispatcher):
    make_job("test.record", next_run_at=now)
    Run.objects.create(
        job="test.record", status="running", trigger="manual", dispatched_at=now
    )
    skipped = []
    run_skipped.connect(
        lambda sender, run, **kw: skipped.append(run), weak=False, dispatch_uid="t"
    )
    try:
        (run,) = tick(now, dispatcher=sync_dispatcher)
    finally:
        run_skipped.disconnect(dispatch_uid="t")

    assert run.status == "skipped"
    assert "still in flight" in run.error
    assert Run.objects.get(pk=run.pk).status == "skipped"
    assert [r.pk for r in skipped] == [run.pk]
    assert calls == []


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_tick__a_skipped_run_sends_run_skipped_whether_info_is_logged_or_not(
    calls, now, caplog, level
):
    make_job("test.record", next_run_at=now)
    Run.objects.create(job="test.record", status="running", trigger="manual")
    skipped = []
    run_skipped.connect(
        lambda sender, run, **kw: skipped.append(run), weak=False, dispatch_uid="t"
    )
    try:
        with caplog.at_level(level, logger="django_togo_scheduler"):
            (run,) = tick(now, dispatcher=Recorder())
    finally:
        run_skipped.disconnect(dispatch_uid="t")

    assert [r.pk for r in skipped] == [run.pk]
    logged = [r.getMessage() for r in caplog.records]
    expected = f"Run {run.pk} of 'test.record' skipped: previous run still in flight."
    assert (expected in logged) == (level == logging.INFO)


def test__advance_group__moves_only_the_schedules_given(registry, now):
    first, second, other = (make_job(f"test.j{i}", next_run_at=now) for i in range(3))
    later = now + MIN

    advance._advance_group("default", [first.pk, second.pk], later)

    stored = dict(ScheduledJob.objects.values_list("name", "next_run_at"))
    assert stored == {"test.j0": later, "test.j1": later, "test.j2": now}
    assert ScheduledJob.objects.get(pk=first.pk).updated_at > first.updated_at


def test_tick__paused_schedule_does_not_fire(calls, now, sync_dispatcher):
    make_job("test.record", next_run_at=now, paused=True)
    assert tick(now + MIN, dispatcher=sync_dispatcher) == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("none", []),
        ("latest", [("schedule", 10)]),
        ("all", [("catchup", 0), ("catchup", 5), ("schedule", 10)]),
    ],
)
def test_tick__catchup_policy_after_downtime(calls, now, policy, expected):
    # Down from before slot 0 until 2 minutes after slot 10 (5-minute schedule).
    make_job("test.record", spec="*/5 * * * *", next_run_at=now, catchup=policy)
    recorder = Recorder()

    runs = tick(now + 12 * MIN, dispatcher=recorder)

    assert [(r.trigger, int((r.scheduled_for - now) / MIN)) for r in runs] == expected
    assert ScheduledJob.objects.get().next_run_at == now + 15 * MIN
    # catch-up runs wait for each other: only the oldest is handed over.
    assert recorder.handed == [r.pk for r in runs[:1]]


def test_tick__catchup_all_runs_one_after_another(calls, now, sync_dispatcher):
    make_job("test.record", spec="*/5 * * * *", next_run_at=now, catchup="all")
    recorder = Recorder()
    runs = tick(now + 12 * MIN, dispatcher=recorder)
    assert Run.objects.filter(status="queued").count() == 3

    for expected_pk in [r.pk for r in runs]:
        # The held run finishes; the next sweep hands over the next one.
        (held,) = Run.objects.filter(status="queued", dispatched_at__isnull=False)
        assert held.pk == expected_pk
        Run.objects.filter(pk=held.pk).update(status="done")
        outbox.dispatch_pending(now + 12 * MIN, recorder)

    assert recorder.handed == [r.pk for r in runs]


def test_tick__catchup_window_bounds_all(calls, now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "CATCHUP_WINDOW": "1h"}
    make_job(
        "test.record",
        spec="0 * * * *",
        next_run_at=now - timedelta(days=2),
        catchup="all",
    )

    runs = tick(now + timedelta(minutes=1), dispatcher=Recorder())

    assert [r.scheduled_for for r in runs] == [now]


def test_tick__a_late_tick_records_the_slots_within_misfire_grace(calls, now):
    # The scheduler was alive (previous tick at now) but the next tick came 25 s
    # later: the slots older than MISFIRE_GRACE (10 s) then were missed.
    make_job("test.record", spec="@every 5s", next_run_at=now + timedelta(seconds=5))
    state = EngineState(last_tick=now)

    runs = tick(now + timedelta(seconds=25), dispatcher=Recorder(), state=state)

    assert [int((r.scheduled_for - now).total_seconds()) for r in runs] == [15, 20, 25]
    assert [r.status for r in runs] == ["queued", "skipped", "skipped"]
    assert [r.trigger for r in runs] == ["catchup", "catchup", "schedule"]


def test_tick__misfire_grace_is_the_setting(calls, now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "MISFIRE_GRACE": "30s"}
    make_job("test.record", spec="@every 5s", next_run_at=now + timedelta(seconds=5))

    runs = tick(now + timedelta(seconds=25), dispatcher=Recorder())

    assert [int((r.scheduled_for - now).total_seconds()) for r in runs] == [
        5, 10, 15, 20, 25,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest", [(14, "schedule", "queued")]),
        ("none", []),
        (
            "all",
            [(h, "catchup", "queued") for h in (10, 11, 12, 13)]
            + [(14, "schedule", "queued")],
        ),
    ],
)
def test_tick__a_stalled_scheduler_applies_the_catchup_policy(
    calls, now, policy, expected
):
    # One process ticks at 09:44, then cannot tick until 14:20 (the database
    # unreachable, the machine suspended): 10:00 ... 14:00 were missed.
    at = now.replace(hour=9, minute=44)
    make_job("test.record", spec="0 * * * *", next_run_at=at.replace(hour=10, minute=0),
             catchup=policy)  # fmt: skip
    state = EngineState()
    recorder = Recorder()
    assert tick(at, dispatcher=recorder, state=state) == []

    runs = tick(at.replace(hour=14, minute=20), dispatcher=recorder, state=state)

    assert [(r.scheduled_for.hour, r.trigger, r.status) for r in runs] == expected
    # The run that runs is the newest slot's, except under "all" (oldest first).
    assert recorder.handed == [r.pk for r in runs[:1]]
    assert ScheduledJob.objects.get().next_run_at == at.replace(hour=15, minute=0)


def test_tick__unknown_handler_is_left_due_and_logged_once(now, caplog):
    make_job("gone.job", next_run_at=now)
    state = EngineState()

    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        assert tick(now, dispatcher=Recorder(), state=state) == []
        assert tick(now + MIN, dispatcher=Recorder(), state=state) == []

    assert ScheduledJob.objects.get().next_run_at == now
    assert [r.getMessage() for r in caplog.records if "gone.job" in r.getMessage()] == [
        "Schedule 'gone.job' has no registered handler; it does not fire here."
    ]


def test_tick__an_already_recorded_slot_is_not_fired_again(calls, now, caplog):
    make_job("test.record", next_run_at=now)
    Run.objects.create(job="test.record", scheduled_for=now, status="done")

    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        runs = tick(now, dispatcher=Recorder())

    assert runs == []
    assert Run.objects.count() == 1
    assert "already recorded" in caplog.text
    assert ScheduledJob.objects.get().next_run_at == now + MIN


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "spec",
            "not a spec",
            "the spec cannot be evaluated: 'not a spec': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 3",
        ),
        (
            "timezone",
            "Mars/Olympus",
            "the time zone cannot be evaluated: unknown time zone 'Mars/Olympus'",
        ),
    ],
)
def test_tick__unusable_spec_or_zone_pauses_the_schedule_saying_which_and_why(
    calls, now, caplog, field, value, reason
):
    make_job("test.record", next_run_at=now)
    make_job("testapp.noop", next_run_at=now)
    ScheduledJob.objects.filter(name="testapp.noop").update(**{field: value})

    with caplog.at_level(logging.ERROR, logger="django_togo_scheduler"):
        runs = tick(now, dispatcher=Recorder())

    assert [r.job for r in runs] == ["test.record"]
    broken = ScheduledJob.objects.get(name="testapp.noop")
    assert (broken.paused, broken.paused_by, broken.paused_reason) == (
        True,
        "scheduler",
        reason,
    )
    assert f"Schedule 'testapp.noop': {reason}; pausing it." in caplog.text


def test_tick__sweeps_queued_runs_nobody_dispatched(calls, now, sync_dispatcher):
    run = Run.objects.create(job="test.record", trigger="manual")

    assert tick(now, dispatcher=sync_dispatcher) == []

    assert Run.objects.get(pk=run.pk).status == "done"
    assert [c.trigger for c in calls] == ["manual"]


def test_tick__claims_more_than_one_batch(calls, now, monkeypatch, registry):
    monkeypatch.setattr(due, "CLAIM_BATCH", 3)
    monkeypatch.setattr(due, "_CLAIMS", {})  # compiled with the batch's LIMIT
    for i in range(7):
        registry.register(f"test.many{i}", lambda ctx: None)
        make_job(f"test.many{i}", next_run_at=now)

    runs = tick(now, dispatcher=Recorder())

    assert sorted(r.job for r in runs) == [f"test.many{i}" for i in range(7)]
    assert set(ScheduledJob.objects.values_list("next_run_at", flat=True)) == {
        now + MIN
    }


def test_dispatch_pending__more_than_one_batch(calls, now, monkeypatch, registry):
    monkeypatch.setattr(outbox, "DISPATCH_BATCH", 2)
    for i in range(5):
        registry.register(f"test.p{i}", lambda ctx: None)
        Run.objects.create(job=f"test.p{i}", trigger="manual")
    recorder = Recorder()

    outbox.dispatch_pending(now, recorder)

    assert len(recorder.handed) == 5


def test_prune__deletes_only_old_finished_runs(now):
    old = Run.objects.create(
        job="a", status="done", finished_at=now - timedelta(days=31)
    )
    Run.objects.create(job="a", status="failed", finished_at=now - timedelta(days=29))
    Run.objects.create(job="a", status="running")

    assert service_api.prune(now, timedelta(days=30)) == 1
    assert not Run.objects.filter(pk=old.pk).exists()
    assert Run.objects.count() == 2


def test_tick__a_long_catchup_continues_on_the_next_tick(calls, now, monkeypatch):
    monkeypatch.setattr(planning, "MAX_SLOTS_PER_TICK", 4)
    make_job("test.record", spec="* * * * *", next_run_at=now - 9 * MIN, catchup="all")

    first = tick(now, dispatcher=Recorder())
    second = tick(now, dispatcher=Recorder())
    third = tick(now, dispatcher=Recorder())

    assert [len(first), len(second), len(third)] == [4, 4, 2]
    slots = sorted(Run.objects.values_list("scheduled_for", flat=True))
    assert slots == [now - i * MIN for i in range(9, -1, -1)]


def test_tick__catchup_all_on_time_slot_still_skips_on_overlap(calls, now):
    make_job("test.record", next_run_at=now, catchup="all")
    Run.objects.create(
        job="test.record", status="running", trigger="manual", dispatched_at=now
    )

    (run,) = tick(now, dispatcher=Recorder())

    assert run.status == "skipped"


def test_dispatch_pending__runs_waiting_behind_busy_jobs_do_not_starve_others(
    calls, now, monkeypatch, registry
):
    monkeypatch.setattr(outbox, "DISPATCH_BATCH", 2)
    registry.register("test.busy", lambda: None)
    Run.objects.create(
        job="test.busy", status="running", trigger="manual", dispatched_at=now
    )
    for _ in range(5):
        Run.objects.create(job="test.busy", trigger="catchup")
    other = Run.objects.create(job="test.record", trigger="manual")
    recorder = Recorder()

    outbox.dispatch_pending(now, recorder)

    assert recorder.handed == [other.pk]


def test_tick__an_idle_tick_is_one_query(
    calls, now, django_assert_num_queries, registry
):
    for i in range(50):
        registry.register(f"test.idle{i}", lambda: None)
        make_job(f"test.idle{i}", next_run_at=now + (i + 1) * MIN)
    state = EngineState()
    tick(now, dispatcher=Recorder(), state=state)  # reconciles (every 5 s)

    with django_assert_num_queries(1):
        assert (
            tick(now + timedelta(seconds=1), dispatcher=Recorder(), state=state) == []
        )

    assert state.next_due == now + MIN


def test_tick__the_reconciler_runs_every_few_seconds(now):
    stale = Run.objects.create(
        job="test.record",
        status="running",
        dispatched_at=now,
        heartbeat_at=now - 10 * MIN,
    )
    state = EngineState(reconciled_at=now)
    tick(now + timedelta(seconds=1), dispatcher=Recorder(), state=state)
    assert Run.objects.get(pk=stale.pk).status == "running"
    tick(now + engine.RECONCILE_EVERY, dispatcher=Recorder(), state=state)
    assert Run.objects.get(pk=stale.pk).status == "failed"


def test_reconcile_ahead__the_loop_repairs_between_slots_so_the_tick_need_not(
    now, calls
):
    stale = Run.objects.create(
        job="test.record",
        status="running",
        dispatched_at=now,
        heartbeat_at=now - 10 * MIN,
    )
    make_job("test.record", next_run_at=now + engine.RECONCILE_EVERY)
    state = EngineState(reconciled_at=now)
    second = timedelta(seconds=1)

    # The next tick (1 s on) would not have to reconcile yet: nothing now.
    assert not engine.reconcile_ahead(now + second / 2, Recorder(), state, now + second)
    assert Run.objects.get(pk=stale.pk).status == "running"
    # The one after would: the pass happens now, between the two ticks.
    ahead = now + second
    assert engine.reconcile_ahead(ahead, Recorder(), state, ahead + second)
    assert Run.objects.get(pk=stale.pk).status == "failed"
    assert state.reconciled_at == ahead

    recorder = Recorder()
    # The tick at the next slot claims at once: no repair pass before it.
    runs = tick(now + engine.RECONCILE_EVERY, dispatcher=recorder, state=state)
    assert [run.job for run in runs] == ["test.record"]
    assert state.reconciled_at == ahead


def test_tick__logs_each_decision_with_structured_fields(
    calls, now, caplog, sync_dispatcher
):
    make_job("test.record", next_run_at=now)
    with caplog.at_level(logging.INFO, logger="django_togo_scheduler"):
        (run,) = tick(now, dispatcher=sync_dispatcher)
    records = {r.getMessage(): r for r in caplog.records}
    recorded = records[
        f"Slot {now.isoformat()} of 'test.record' recorded as run {run.pk} (schedule)."
    ]
    assert (recorded.job, recorded.run_id, recorded.slot) == (
        "test.record",
        run.pk,
        now,
    )
    assert any(
        m.startswith(f"Run {run.pk} of 'test.record' started on ") for m in records
    )
    assert any(m.startswith(f"Run {run.pk} of 'test.record' done in ") for m in records)


def test_tick__a_slot_recorded_already_does_not_cost_the_other_slots(
    calls, registry, now, caplog
):
    registry.register("test.other", lambda: None)
    make_job("test.record", next_run_at=now)
    make_job("test.other", next_run_at=now)
    Run.objects.create(job="test.record", scheduled_for=now, status="done")

    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        runs = tick(now, dispatcher=Recorder())

    assert [(r.job, r.scheduled_for) for r in runs] == [("test.other", now)]
    assert Run.objects.filter(job="test.other", scheduled_for=now).count() == 1
    assert set(ScheduledJob.objects.values_list("next_run_at", flat=True)) == {
        now + MIN
    }
    assert caplog.text.count("already recorded") == 1


@pytest.mark.parametrize("one_statement", [True, False])
def test_tick__schedules_with_slots_of_their_own_advance_each_to_its_own(
    registry, now, monkeypatch, one_statement
):
    monkeypatch.setattr(advance, "_updates_from_values", lambda _conn: one_statement)
    specs = {f"test.own{i}": f"@every {i}s" for i in (2, 3, 5, 7)}
    for name, spec in specs.items():
        registry.register(name, lambda: None)
        make_job(name, spec=spec, next_run_at=now)
    make_job("test.later", next_run_at=now + MIN)
    later_before = ScheduledJob.objects.get(name="test.later").next_run_at
    at = now + timedelta(seconds=1)

    runs = tick(at, dispatcher=Recorder())

    assert sorted(run.job for run in runs) == sorted(specs)
    stored = dict(ScheduledJob.objects.values_list("name", "next_run_at"))
    for name, spec in specs.items():
        assert stored[name] == parse_spec(spec).next_after(at, UTC), name
        assert stored[name].utcoffset() is not None
    assert stored["test.later"] == later_before  # not due: untouched


def test_tick__a_slot_read_by_the_previous_tick_is_claimed_first_then_the_next_read(
    calls, now
):
    make_job("test.record", next_run_at=now + MIN)
    state = EngineState(reconciled_at=now)
    recorder = Recorder()
    assert tick(now, dispatcher=recorder, state=state) == []  # idle: reads the slot
    assert state.next_due == now + MIN

    runs = tick(now + MIN, dispatcher=recorder, state=state)

    assert [(run.job, run.scheduled_for) for run in runs] == [
        ("test.record", now + MIN)
    ]
    assert recorder.handed == [runs[0].pk]
    # The read after the claim already knows the slot after: no extra query.
    assert state.next_due == now + 2 * MIN


def test_claim__compiled_once_and_each_tick_claims_only_what_is_due_by_its_now(
    calls, registry, now
):
    registry.register("test.later", lambda: None)
    make_job("test.record", next_run_at=now)
    make_job("test.later", next_run_at=now + MIN)
    due._CLAIMS.clear()

    first = tick(now, dispatcher=Recorder(), state=EngineState())
    assert list(due._CLAIMS) == ["default"]  # the compiled statement is kept
    second = tick(now + MIN, dispatcher=Recorder(), state=EngineState())

    assert [run.job for run in first] == ["test.record"]
    assert sorted(run.job for run in second) == ["test.later", "test.record"]


def due_schedules(registry, now):
    """Due schedules differing in each column the claim reads; one with a run in flight."""
    make_job("test.plain", next_run_at=now)
    make_job(
        "test.odd",
        spec="*/5 * * * *",
        timezone="Europe/Paris",
        next_run_at=now - MIN,
        catchup="all",
        queue="other",
        timeout=30,
    )
    make_job("test.busy", next_run_at=now - 2 * MIN)
    make_job("test.paused", next_run_at=now, paused=True)
    make_job("test.later", next_run_at=now + MIN)
    make_job("test.waits", next_run_at=now - 3 * MIN)
    make_job("test.mixed", next_run_at=now - 4 * MIN)
    Run.objects.create(job="test.busy", status="running", trigger="manual")
    # RQ runs that never left the outbox; one with a run handed out beside them;
    # an inline run waiting in the outbox.
    Run.objects.create(job="test.waits", trigger="manual", queue="togo")
    Run.objects.create(job="test.waits", trigger="manual", queue="togo")
    Run.objects.create(job="test.mixed", trigger="manual", queue="togo")
    Run.objects.create(job="test.mixed", trigger="manual", dispatched_at=now)
    make_job("test.inline", next_run_at=now - 5 * MIN)
    Run.objects.create(job="test.inline", trigger="manual")


def test_lock_due__the_cursor_reads_what_the_orm_reads(registry, now):
    due_schedules(registry, now)
    due._CLAIMS.clear()

    with transaction.atomic():
        read = due.lock_due("default", now, set())
        through_orm = due.read_due("default", now, set())

    assert list(due._CLAIMS) == ["default"]
    assert read == through_orm
    assert [(job.name, job.busy, job.undelivered) for job in read] == [
        ("test.inline", True, False),
        ("test.mixed", True, False),
        ("test.waits", True, True),
        ("test.busy", True, False),
        ("test.odd", False, False),
        ("test.plain", False, False),
    ]
    odd = read[4]
    assert (odd.spec, odd.timezone, odd.catchup, odd.queue, odd.timeout) == (
        "*/5 * * * *",
        "Europe/Paris",
        "all",
        "other",
        30,
    )
    assert odd.next_run_at == now - MIN and odd.next_run_at.utcoffset() is not None
    assert all(type(job.busy) is type(job.undelivered) is bool for job in read)


def test_lock_due__another_database_reads_through_the_orm(registry, now, monkeypatch):
    due_schedules(registry, now)
    due._CLAIMS.clear()
    monkeypatch.setattr(connection, "vendor", "other")

    with transaction.atomic():
        read = due.lock_due("default", now, set())
        excluding = due.lock_due("default", now, {"test.odd"})

    assert due._CLAIMS == {}
    assert [job.name for job in read] == [
        "test.inline", "test.mixed", "test.waits", "test.busy", "test.odd",
        "test.plain",
    ]  # fmt: skip
    assert [job.undelivered for job in read] == [False, False, True] + [False] * 3
    assert [job.name for job in excluding] == [
        "test.inline", "test.mixed", "test.waits", "test.busy", "test.plain",
    ]  # fmt: skip
