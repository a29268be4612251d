"""The testing helper: schedules run over simulated time, synchronously, DST included."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from django_togo_scheduler import clock, run_finished
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.testing import SchedulerSimulation, simulate

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = timedelta(minutes=1)


@pytest.fixture
def jobs(registry):
    """Registers ``sim.ok`` (records its slot) and ``sim.fails``; returns the slots seen."""
    seen = []

    def ok(ctx):
        seen.append((ctx.job, ctx.scheduled_for, clock.now()))

    def fails(ctx):
        raise RuntimeError(f"broken at {ctx.scheduled_for:%H:%M}")

    registry.register("sim.ok", ok)
    registry.register("sim.other", ok)
    registry.register("sim.fails", fails)
    return seen


def test_simulate__daily_berlin_job_fires_once_a_day_through_the_spring_gap(
    service, jobs
):
    service.schedule("sim.ok", "30 2 * * *", timezone="Europe/Berlin")

    sim = simulate(
        datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 5, 1, tzinfo=BERLIN)
    )

    slots = sim.slots("sim.ok")
    assert len(slots) == 31 + 30
    assert len({slot.date() for slot in slots}) == 61
    assert slots[0].isoformat() == "2026-03-01T02:30:00+01:00"
    # Clocks jump 02:00 -> 03:00 on 2026-03-29: the 02:30 slot fires at 03:00.
    assert [s.isoformat() for s in slots[27:30]] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    assert slots[-1].isoformat() == "2026-04-30T02:30:00+02:00"
    assert sim.count("sim.ok", status="done") == 61
    assert sim.ticks == 61  # one tick per slot, no per-minute stepping
    # The handler ran synchronously, at the simulated time of its slot.
    assert [(job, slot) for job, slot, _ in jobs] == [
        ("sim.ok", slot) for slot in slots
    ]
    assert all(at == slot for _, slot, at in jobs)


def test_simulate__hourly_job_fires_25_times_on_the_fall_back_day(service, jobs):
    service.schedule("sim.ok", "0 * * * *", timezone="Europe/Berlin")

    sim = simulate(
        datetime(2026, 10, 24, 12, tzinfo=BERLIN),
        datetime(2026, 10, 26, 12, tzinfo=BERLIN),
    )

    on_the_day = [
        s for s in sim.slots("sim.ok") if s.date().isoformat() == "2026-10-25"
    ]
    assert len(on_the_day) == 25
    # 02:00 comes twice: in summer time, then in winter time.
    assert [s.isoformat() for s in on_the_day[2:4]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert sim.count("sim.ok") == 11 + 25 + 13


def test_simulate__runs_of_a_failing_job_are_failed_with_the_error(service, jobs):
    service.schedule("sim.fails", "15 */6 * * *")
    service.schedule("sim.ok", "@daily")

    sim = simulate(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))

    failed = sim.runs("sim.fails")
    assert [r.status for r in failed] == ["failed"] * 4
    assert failed[0].error.strip().endswith("RuntimeError: broken at 00:15")
    assert failed[0].started_at == failed[0].finished_at == failed[0].scheduled_for
    assert sim.count(status="failed") == 4
    assert sim.count("sim.ok", status="done") == 1
    assert sim.count() == 5


def test_simulate__a_slow_job_skips_the_slots_that_come_while_it_runs(service, jobs):
    service.schedule("sim.ok", "*/15 * * * *")
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)

    began = time.monotonic()
    sim = simulate(start, start + timedelta(hours=1), durations={"sim.ok": 40 * MINUTE})

    assert time.monotonic() - began < 5  # simulated, not slept
    runs = sim.runs("sim.ok")
    assert [(r.scheduled_for.strftime("%H:%M"), r.status) for r in runs] == [
        ("09:15", "done"),
        ("09:30", "skipped"),
        ("09:45", "skipped"),
        ("10:00", "running"),
    ]
    assert runs[0].finished_at == start + 55 * MINUTE
    assert "still in flight" in runs[1].error
    # The run that started at 10:00 ends at 10:40, after the end: still running.
    assert runs[3].started_at == start + timedelta(hours=1)


def test_simulate__a_run_longer_than_its_timeout_fails_with_timeout(service, jobs):
    service.schedule("sim.ok", "@hourly", timeout=600)
    start = datetime(2026, 6, 1, tzinfo=UTC)

    sim = simulate(
        start, start + 2 * timedelta(hours=1), durations={"sim.ok": 20 * MINUTE}
    )

    first = sim.runs("sim.ok")[0]
    assert first.status == "failed"
    assert "timeout" in first.error
    assert first.finished_at == start + timedelta(hours=1, minutes=10)


def test_simulate__step_ticks_on_a_grid_and_late_slots_still_fire_on_time(
    service, jobs
):
    service.schedule("sim.ok", "@every 90s")
    start = datetime(2026, 6, 1, tzinfo=UTC)

    sim = simulate(start, start + 6 * MINUTE, step=MINUTE)

    assert [s.strftime("%M:%S") for s in sim.slots("sim.ok")] == [
        "01:30", "03:00", "04:30", "06:00",
    ]  # fmt: skip
    assert {r.trigger for r in sim.runs("sim.ok")} == {"schedule"}
    # Each ran at the first tick of the minute grid at or after its slot.
    assert [at.strftime("%M:%S") for _, _, at in jobs] == [
        "02:00", "03:00", "05:00", "06:00",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("catchup", "grace", "fired"),
    [
        # A tick every minute sees 01:30 and 04:30 30 s late: missed.
        ("none", "10s", ["03:00", "06:00"]),
        ("latest", "10s", ["01:30", "03:00", "04:30", "06:00"]),  # the newest missed
        ("none", "30s", ["01:30", "03:00", "04:30", "06:00"]),  # within the grace
    ],
)
def test_simulate__a_step_coarser_than_misfire_grace_makes_slots_late(
    service, jobs, settings, catchup, grace, fired
):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "MISFIRE_GRACE": grace}
    service.schedule("sim.ok", "@every 90s", catchup=catchup)
    start = datetime(2026, 6, 1, tzinfo=UTC)

    sim = simulate(start, start + 6 * MINUTE, step=MINUTE)

    assert [s.strftime("%M:%S") for s in sim.slots("sim.ok")] == fired
    assert {r.trigger for r in sim.runs("sim.ok")} == {"schedule"}


def test_simulation__a_stall_of_a_running_scheduler_is_downtime_too(service, jobs):
    # A scheduler alive but unable to tick (database unreachable, machine
    # suspended) from 00:00:05 to 00:00:31: the same as no scheduler at all.
    start = datetime(2026, 6, 1, tzinfo=UTC)
    second = timedelta(seconds=1)
    with SchedulerSimulation(start) as sim:
        service.schedule("sim.ok", "@every 2s", catchup="latest")
        service.schedule("sim.other", "@every 2s", catchup="all")
        sim.advance(5 * second)
        sim.stall_until(start + 31 * second)

        ok = [r for r in sim.runs("sim.ok") if r.scheduled_for > start + 4 * second]
        # On time at 00:31: the slots of the last MISFIRE_GRACE (10 s), recorded
        # at once (the first runs, overlap skips the others); the older ones
        # were missed.
        assert [int((r.scheduled_for - start) / second) for r in ok] == [
            22, 24, 26, 28, 30,
        ]  # fmt: skip
        assert [r.status for r in ok] == ["done"] + ["skipped"] * 4
        replayed = [
            r for r in sim.runs("sim.other") if r.scheduled_for > start + 4 * second
        ]
        assert len(replayed) == 13  # every slot, 00:06 ... 00:30
        assert [r.trigger for r in replayed] == ["catchup"] * 12 + ["schedule"]


def test_simulate__jobs_limits_the_simulation_and_the_others_are_restored(
    service, jobs
):
    service.schedule("sim.ok", "@hourly")
    service.schedule("sim.other", "*/5 * * * *")
    service.schedule("sim.fails", "@hourly")
    service.pause("sim.fails", reason="known bug")
    start = datetime(2026, 6, 1, tzinfo=UTC)

    sim = simulate(start, start + timedelta(hours=3), jobs=["sim.ok"])

    assert sim.count() == sim.count("sim.ok") == 3
    other = ScheduledJob.objects.get(name="sim.other")
    assert (other.paused, other.paused_by, other.paused_reason) == (False, "", "")
    # A schedule that was paused before stays paused, with its reason.
    fails = ScheduledJob.objects.get(name="sim.fails")
    assert (fails.paused, fails.paused_reason) == (True, "known bug")


def test_simulate__unknown_job_in_jobs_is_a_lookup_error(service, jobs):
    service.schedule("sim.ok", "@hourly")
    real_now = clock.now
    with pytest.raises(LookupError, match="no active schedule named 'nope'"):
        simulate(
            datetime(2026, 6, 1, tzinfo=UTC),
            datetime(2026, 6, 2, tzinfo=UTC),
            jobs=["nope"],
        )
    assert clock.now is real_now  # given back, though __enter__ failed


def test_simulate__naive_times_are_refused():
    with pytest.raises(ValueError, match="start must be an aware datetime"):
        simulate(datetime(2026, 6, 1), datetime(2026, 6, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="end must be an aware datetime"):
        simulate(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2))


def test_simulate__syncs_declared_schedules_when_asked(settings, jobs):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"sim.ok": "0 12 * * *"}}
    start = datetime(2026, 6, 1, tzinfo=UTC)

    assert simulate(start, start + timedelta(days=2)).count() == 0
    sim = simulate(start, start + timedelta(days=2), sync_declared=True)

    assert [s.isoformat() for s in sim.slots("sim.ok", "UTC")] == [
        "2026-06-01T12:00:00+00:00",
        "2026-06-02T12:00:00+00:00",
    ]
    assert ScheduledJob.objects.get(name="sim.ok").declared


def test_simulate__a_schedule_without_handler_does_not_stall_it(service, jobs):
    service.schedule("sim.ok", "@hourly")
    ScheduledJob.objects.create(name="gone.job", spec="* * * * *")
    start = datetime(2026, 6, 1, tzinfo=UTC)

    sim = simulate(start, start + timedelta(hours=2))

    assert sim.count("sim.ok") == 2
    assert sim.count("gone.job") == 0


def test_simulation__context_manager_steps_catchup_and_manual_triggers(service, jobs):
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with SchedulerSimulation(start) as sim:
        assert clock.now() == start  # the clock reads simulated time in the block
        service.schedule("sim.ok", "*/10 * * * *", catchup="all")
        service.schedule("sim.other", "*/10 * * * *", catchup="latest")
        service.schedule("sim.fails", "*/10 * * * *", catchup="none")
        assert [r.scheduled_for for r in sim.advance(10 * MINUTE)] == [
            start + 10 * MINUTE
        ] * 3

        # No scheduler from 00:10 to 01:00: the catch-up policies decide.
        sim.scheduler_down_until(start + timedelta(minutes=65))
        assert len(sim.slots("sim.ok")) == 6  # every missed slot
        assert [r.trigger for r in sim.runs("sim.ok")][1:] == ["catchup"] * 4 + [
            "schedule"
        ]
        assert [s.strftime("%H:%M") for s in sim.slots("sim.other")] == [
            "00:10",
            "01:00",
        ]
        assert sim.count("sim.fails") == 1  # missed slots dropped

        service.trigger("sim.other")
        assert sim.tick() == []  # no slot due; the manual run is dispatched
        manual = sim.runs("sim.other")[-1]
        assert (manual.trigger, manual.status) == ("manual", "done")
        assert manual.started_at == start + timedelta(minutes=65)
    assert clock.now() != start  # the real clock is back


def test_simulation__signals_are_sent_in_the_test_thread(service, jobs):
    seen = []

    def receiver(sender, run, **kwargs):
        seen.append((run.job, run.status, run.finished_at))

    run_finished.connect(receiver, dispatch_uid="test_testing")
    service.schedule("sim.ok", "@hourly")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    try:
        simulate(start, start + timedelta(hours=2))
    finally:
        run_finished.disconnect(dispatch_uid="test_testing")

    assert seen == [
        ("sim.ok", "done", start + timedelta(hours=1)),
        ("sim.ok", "done", start + timedelta(hours=2)),
    ]
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_simulate__a_catchup_all_backlog_is_replayed_at_once(registry):
    registry.register("test.backlog", lambda: None)
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    ScheduledJob.objects.create(
        name="test.backlog", spec="*/10 * * * *", next_run_at=start, catchup="all"
    )
    with SchedulerSimulation(start) as sim:
        sim.scheduler_down_until(start + timedelta(minutes=45))
        sim.run_until(start + timedelta(minutes=55))
    statuses = list(
        Run.objects.order_by("scheduled_for").values_list("trigger", "status")
    )
    # slots 12:10, 12:20, 12:30 missed; 12:40 is the newest due at 12:45
    assert statuses[:4] == [("catchup", "done")] * 3 + [("schedule", "done")]
    assert ("schedule", "skipped") not in statuses


def test_simulate__schedules_a_handler_creates_or_moves_fire_at_their_slots(
    service, registry
):
    from django_togo_scheduler.service import Service

    fired = []

    def planner(ctx):
        fired.append(("planner", clock.now()))
        if len(fired) == 1:  # the first run plans a follow-up every 10 minutes
            Service().schedule("sim.follow", "*/10 * * * *")

    def follow(ctx):
        fired.append(("follow", clock.now()))

    registry.register("sim.planner", planner)
    registry.register("sim.follow", follow)
    service.schedule("sim.planner", "0 * * * *")
    start = datetime(2026, 6, 1, tzinfo=UTC)

    simulate(start, start + timedelta(minutes=90))

    # The follow-up, created by the 01:00 run, fires from its first slot on.
    assert [(name, at.strftime("%H:%M")) for name, at in fired] == [
        ("planner", "01:00"),
        ("follow", "01:10"),
        ("follow", "01:20"),
        ("follow", "01:30"),
    ]


def test_simulate__a_day_of_slots_costs_a_bounded_number_of_statements_each(
    service, jobs, django_assert_max_num_queries
):
    service.schedule("sim.ok", "*/5 * * * *")
    start = datetime(2026, 10, 25, tzinfo=BERLIN)  # the fall-back day: 25 hours

    with django_assert_max_num_queries(12 * 300 + 20):
        sim = simulate(start, start + timedelta(days=1))

    assert sim.count("sim.ok", status="done") == 300 == sim.ticks
