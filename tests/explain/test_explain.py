"""explain(): the slot, the decision and its reason, the run, the next fire times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from django_togo_scheduler import UnknownJob
from django_togo_scheduler.engine.recording import SKIP_REASON
from django_togo_scheduler.explain import explain, parse_at
from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from django_togo_scheduler.testing import simulate

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "jobs.py", line 26, in fails\n'
    "RuntimeError: this job always fails\n"
)


def schedule(now, name="testapp.noop", spec="0 * * * *", next_run_at=None, **fields):
    """An hourly schedule created a day before ``now``, next due at 13:00."""
    job = ScheduledJob.objects.create(
        name=name, spec=spec, next_run_at=next_run_at or now + HOUR, **fields
    )
    ScheduledJob.objects.filter(pk=job.pk).update(created_at=now - timedelta(days=1))
    return ScheduledJob.objects.get(pk=job.pk)


def alive(now, start, last):
    return SchedulerProcess.objects.create(
        host="web-1", pid=42, started_at=start, last_tick_at=last
    )


# with a run


def test_explain__a_done_run_prints_every_line(now):
    schedule(now)
    run = Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now,
        started_at=now + timedelta(seconds=1), finished_at=now + timedelta(seconds=3),
    )  # fmt: skip

    result = explain("testapp.noop", now=now + 30 * MINUTE)

    assert (result.slot, result.decision, result.run) == (now, "ran", run)
    assert result.lines() == [
        "Schedule: testapp.noop  0 * * * *  (UTC, catchup=latest)",
        "At:       2026-11-27T12:30:00+00:00",
        "Slot:     2026-11-27T12:00:00+00:00",
        "Decision: ran",
        "Reason:   fired at its slot; the run succeeded",
        f"Run:      #{run.pk} done, trigger schedule, started 2026-11-27T12:00:01+00:00, "
        "finished 2026-11-27T12:00:03+00:00",
        "Next:     2026-11-27T13:00:00+00:00, 2026-11-27T14:00:00+00:00, "
        "2026-11-27T15:00:00+00:00",
    ]


def test_explain__a_failed_catchup_run_names_its_error(now):
    schedule(now)
    Run.objects.create(
        job="testapp.noop", status="failed", trigger="catchup", scheduled_for=now,
        started_at=now, finished_at=now, error=TRACEBACK,
    )  # fmt: skip

    result = explain("testapp.noop", now=now + MINUTE)

    assert result.decision == "ran, failed"
    assert result.reason == (
        "fired late, as a catch-up of a missed slot; "
        "the run failed: RuntimeError: this job always fails"
    )
    assert result.lines()[5].endswith(", error: RuntimeError: this job always fails")


def test_explain__a_skipped_slot_names_the_run_in_flight(now):
    schedule(now)
    blocker = Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now - HOUR,
        started_at=now - HOUR, finished_at=now + 5 * MINUTE,
    )  # fmt: skip
    Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now - 2 * HOUR,
        started_at=now - 2 * HOUR, finished_at=now - 2 * HOUR,
    )  # fmt: skip
    Run.objects.create(
        job="testapp.noop", status="skipped", scheduled_for=now, finished_at=now,
        error=SKIP_REASON,
    )  # fmt: skip

    result = explain("testapp.noop", now=now + 10 * MINUTE)

    assert result.decision == "skipped (overlap)"
    assert result.reason == f"{SKIP_REASON} (run #{blocker.pk} was in flight)"


@pytest.mark.parametrize(
    ("fields", "decision", "reason"),
    [
        (
            {"status": "queued"},
            "queued",
            "recorded, waiting for a scheduler to hand it to a worker",
        ),
        (
            {"status": "queued", "dispatched_at": "now", "queue": "low"},
            "queued",
            "handed to queue 'low'; not started yet",
        ),
        (
            {"status": "queued", "dispatched_at": "now"},
            "queued",
            "handed to the inline pool; not started yet",
        ),
        (
            {"status": "running", "started_at": "now", "worker": "box:7"},
            "running",
            "running on box:7",
        ),
    ],
)
def test_explain__runs_in_flight(now, fields, decision, reason):
    schedule(now)
    fields = {k: now if v == "now" else v for k, v in fields.items()}
    Run.objects.create(job="testapp.noop", scheduled_for=now, **fields)

    result = explain("testapp.noop", now=now + MINUTE)

    assert (result.decision, result.reason) == (decision, reason)


# without a run: the schedule has not moved past the slot


def test_explain__paused_before_the_slot(now):
    schedule(
        now, next_run_at=now - HOUR, paused=True, paused_at=now - 90 * MINUTE,
        paused_by="alice", paused_reason="db migration",
    )  # fmt: skip

    result = explain("testapp.noop", now=now + MINUTE)

    assert result.decision == "paused"
    assert result.reason == (
        "the schedule is paused at 2026-11-27T10:30:00+00:00 by alice: db migration"
    )
    assert result.next_times == []
    assert (
        result.lines()[0]
        == "Schedule: testapp.noop  0 * * * *  (UTC, catchup=latest, paused)"
    )
    assert result.lines()[-1] == "Next:     none while paused"


def test_explain__a_future_slot_is_not_yet_due(now):
    schedule(now)

    result = explain("testapp.noop", now + 3 * HOUR + MINUTE, now=now)

    assert result.slot == now + 3 * HOUR
    assert (result.decision, result.reason) == (
        "not yet due",
        "the slot is still in the future",
    )


def test_explain__a_paused_schedule_future_slot(now):
    schedule(now, paused=True)

    assert explain("testapp.noop", now + 3 * HOUR, now=now).decision == "paused"


def test_explain__handler_missing(now):
    schedule(now, name="ghost.job", next_run_at=now)

    result = explain("ghost.job", now=now + MINUTE)

    assert result.decision == "handler missing"
    assert result.reason.startswith("no handler is registered under this name")


def test_explain__scheduler_down(now):
    schedule(now, next_run_at=now - HOUR)

    result = explain("testapp.noop", now=now + MINUTE)
    assert result.decision == "scheduler down"
    assert result.reason == (
        "the slot is due but no scheduler has ticked ever; the first tick fires "
        "it: the most recent missed slot (catchup=latest)"
    )

    alive(now, now - 5 * HOUR, now - 2 * HOUR)
    assert "no scheduler has ticked since 2026-11-27T10:00:00+00:00" in (
        explain("testapp.noop", now=now + MINUTE).reason
    )


def test_explain__due_with_a_live_scheduler(now):
    schedule(now, next_run_at=now)
    alive(now, now - HOUR, now)

    result = explain("testapp.noop", now=now + timedelta(seconds=2))

    assert (result.decision, result.reason) == (
        "due",
        "a scheduler is running; its next tick fires it",
    )
    assert result.lines()[6:] == [
        "Due:      2026-11-27T12:00:00+00:00: the next tick records "
        "2026-11-27T12:00:00+00:00",
        "Next:     2026-11-27T13:00:00+00:00, 2026-11-27T14:00:00+00:00, "
        "2026-11-27T15:00:00+00:00",
    ]


# without a run: the schedule moved past the slot


def test_explain__missed_while_no_scheduler_ran_names_the_policy_and_the_next_run(now):
    schedule(now, catchup="latest")
    later = Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now, trigger="schedule"
    )
    # A scheduler ran until 09:00 and another from 11:30: none at 10:00.
    alive(now, now - 5 * HOUR, now - 3 * HOUR)
    SchedulerProcess.objects.create(
        host="web-2", pid=1, started_at=now - 30 * MINUTE, last_tick_at=now
    )

    result = explain("testapp.noop", now - 2 * HOUR, now=now + MINUTE)

    assert result.slot == now - 2 * HOUR
    assert result.decision == "missed"
    assert result.reason == (
        "no scheduler was running at the slot (no heartbeat covers it); catchup=latest "
        "fires only the most recent missed slot; the next slot "
        f"recorded is 2026-11-27T12:00:00+00:00 (run #{later.pk}, schedule, done)"
    )


@pytest.mark.parametrize(
    ("catchup", "words"),
    [
        ("none", "catchup=none drops the slots missed while no scheduler ticked"),
        ("all", "but none older than CATCHUP_WINDOW (7d)"),
    ],
)
def test_explain__missed_under_other_policies(now, catchup, words):
    schedule(now, catchup=catchup)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "missed"
    assert words in result.reason


def test_explain__missed_long_ago_says_heartbeats_are_forgotten(now):
    schedule(now)
    ScheduledJob.objects.update(created_at=now - timedelta(days=5))

    result = explain("testapp.noop", now - timedelta(days=2), now=now)

    assert "heartbeats of schedulers silent for a day are forgotten" in result.reason


def test_explain__a_scheduler_was_running_but_recorded_nothing(now):
    schedule(now)
    alive(now, now - 5 * HOUR, now)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "not fired"
    assert result.reason.startswith(
        "scheduler web-1:42 was running but recorded no run"
    )


def test_explain__slot_before_the_schedule_existed(now):
    schedule(now)

    result = explain("testapp.noop", now - timedelta(days=2), now=now)

    assert result.decision == "not scheduled yet"
    assert result.reason == (
        "the schedule was created at 2026-11-26T12:00:00+00:00, after this slot"
    )


def test_explain__paused_at_the_time_of_a_passed_slot(now):
    schedule(now, paused=True, paused_at=now - 3 * HOUR)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "paused"
    assert result.reason == "the schedule was paused at 2026-11-27T09:00:00+00:00"


def test_explain__older_than_retention_may_have_been_pruned(now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": "1h"}
    schedule(now)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "no run recorded"
    assert "older than RUN_RETENTION (1h)" in result.reason


# after downtime: what is due now, and what comes after now


@pytest.mark.parametrize(
    ("catchup", "due"),
    [
        (
            "latest",
            "5 slots, 2026-11-27T10:00:00+00:00 to 2026-11-27T14:00:00+00:00: the next "
            "tick records 2026-11-27T14:00:00+00:00 and drops 4 missed (older than "
            "MISFIRE_GRACE (10s); catchup=latest fires only the most recent missed slot)",
        ),
        (
            "none",
            "5 slots, 2026-11-27T10:00:00+00:00 to 2026-11-27T14:00:00+00:00: the next "
            "tick records none of them and drops 5 missed (older than MISFIRE_GRACE "
            "(10s); catchup=none drops the slots missed while no scheduler ticked)",
        ),
        (
            "all",
            "5 slots, 2026-11-27T10:00:00+00:00 to 2026-11-27T14:00:00+00:00: the next "
            "tick records 5, 2026-11-27T10:00:00+00:00 to 2026-11-27T14:00:00+00:00, "
            "run one after another",
        ),
    ],
)
def test_explain__after_downtime_next_times_come_after_now_and_due_says_the_plan(
    now, catchup, due
):
    # Last tick at 09:44; explained at 14:20 with no tick since: next_run_at is
    # still 10:00.
    schedule(now, next_run_at=now - 2 * HOUR, catchup=catchup)
    alive(now, now - 5 * HOUR, now - 2 * HOUR - 16 * MINUTE)
    later = now + 2 * HOUR + 20 * MINUTE

    lines = explain("testapp.noop", now=later).lines()

    assert lines[6] == f"Due:      {due}"
    assert lines[7] == (
        "Next:     2026-11-27T15:00:00+00:00, 2026-11-27T16:00:00+00:00, "
        "2026-11-27T17:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("catchup", "fate"),
    [
        ("latest", "drops it: it is older than MISFIRE_GRACE (10s), missed; "
                   "catchup=latest fires only the most recent missed slot"),
        ("none", "drops it: it is older than MISFIRE_GRACE (10s), missed; "
                 "catchup=none drops the slots missed while no scheduler ticked"),
        ("all", "fires it as a catch-up, after the older missed slots (catchup=all)"),
    ],
)  # fmt: skip
def test_explain__a_due_slot_says_what_the_first_tick_does_with_it(now, catchup, fate):
    schedule(now, next_run_at=now - 2 * HOUR, catchup=catchup)

    result = explain("testapp.noop", now - HOUR + MINUTE, now=now + 2 * HOUR)

    assert result.slot == now - HOUR
    assert result.reason == (
        f"the slot is due but no scheduler has ticked ever; the first tick {fate}"
    )


def test_explain__a_due_slot_older_than_the_catchup_window(now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "CATCHUP_WINDOW": "1h"}
    schedule(now, next_run_at=now - 3 * HOUR, catchup="all")

    result = explain("testapp.noop", now - 3 * HOUR, now=now + MINUTE)

    assert result.reason.endswith(
        "the first tick drops it: it is older than CATCHUP_WINDOW (1h)"
    )
    assert result.lines()[6] == (
        "Due:      4 slots, 2026-11-27T09:00:00+00:00 to 2026-11-27T12:00:00+00:00: "
        "the next tick records 2026-11-27T12:00:00+00:00 and drops 3 missed (older "
        "than MISFIRE_GRACE (10s); catchup=all replays missed slots, but none older "
        "than CATCHUP_WINDOW (1h))"
    )


def test_explain__a_stopped_scheduler_was_not_running_at_a_later_slot(now):
    schedule(now)
    slot = now - 2 * HOUR
    SchedulerProcess.objects.create(
        host="web-1", pid=42, started_at=now - 5 * HOUR,
        last_tick_at=slot - timedelta(seconds=5), stopped_at=slot - timedelta(seconds=5),
    )  # fmt: skip

    result = explain("testapp.noop", slot, now=now)

    assert result.decision == "missed"
    assert result.reason.startswith("no scheduler was running at the slot")


def test_explain__a_slot_missed_while_a_live_scheduler_could_not_tick(now):
    # One process, alive from 07:00 on, ticked at 09:44 and then not until
    # 11:20 (a suspended machine): 10:00 and 11:00 were missed; catchup=latest
    # recorded 11:00, late.
    schedule(now)
    alive(now, now - 5 * HOUR, now)
    newest = Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now - HOUR
    )
    Run.objects.filter(pk=newest.pk).update(created_at=now - 40 * MINUTE)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "missed"
    assert result.reason == (
        "scheduler web-1:42 was alive, but no tick saw the slot within MISFIRE_GRACE "
        "(10s): it could not tick (the database unreachable, the machine suspended, "
        f"the process stopped); the next run, #{newest.pk} for "
        "2026-11-27T11:00:00+00:00, was recorded late, at 2026-11-27T11:20:00+00:00; "
        "catchup=latest fires only the most recent missed slot"
    )


def test_explain__a_next_run_recorded_at_its_slot_says_nothing_of_a_stall(now):
    schedule(now)
    alive(now, now - 5 * HOUR, now)
    on_time = Run.objects.create(
        job="testapp.noop", status="done", scheduled_for=now - HOUR
    )
    Run.objects.filter(pk=on_time.pk).update(created_at=now - HOUR)

    result = explain("testapp.noop", now - 2 * HOUR, now=now)

    assert result.decision == "not fired"


@pytest.mark.parametrize(
    ("field", "value", "problem", "no_next"),
    [
        (
            "timezone",
            "Mars/Olympus",
            "the time zone cannot be evaluated: unknown time zone 'Mars/Olympus'",
            "none: the time zone cannot be evaluated",
        ),
        (
            "spec",
            "61 * * * *",
            "the spec cannot be evaluated: '61 * * * *': minute value 61 out of "
            "range 0-59",
            "none: the spec cannot be evaluated",
        ),
    ],
)
def test_explain__a_schedule_the_engine_paused_is_explained(
    now, calls, field, value, problem, no_next
):
    from tests.ticks import tick

    schedule(now, name="test.record", next_run_at=now)
    ScheduledJob.objects.filter(name="test.record").update(**{field: value})
    before = explain("test.record", now=now)
    assert (before.decision, before.reason) == (
        "cannot be evaluated",
        f"{problem}; no slot can fire, and the next tick of a scheduler pauses the "
        "schedule",
    )
    tick(now, dispatcher=None)  # the engine pauses it, saying why

    result = explain("test.record", now=now)

    assert (result.slot, result.decision, result.paused) == (
        None, "cannot be evaluated", True,
    )  # fmt: skip
    assert result.reason == (
        f"{problem}; the schedule was paused at {now.isoformat()} by scheduler: "
        "correct it, then resume the schedule"
    )
    assert result.lines()[2] == "Slot:     -"
    assert result.lines()[-1] == f"Next:     {no_next}"


def test_explain__the_command_explains_a_schedule_with_a_broken_zone(now):
    from io import StringIO

    from django.core.management import call_command

    schedule(now, paused=True, paused_by="scheduler")
    ScheduledJob.objects.update(timezone="Mars/Olympus")
    out = StringIO()

    call_command("scheduler", "explain", "testapp.noop", stdout=out)

    assert "Decision: cannot be evaluated" in out.getvalue()
    assert "unknown time zone 'Mars/Olympus'" in out.getvalue()


def test_explain__an_orphaned_schedule_says_so(now):
    schedule(now, declared=True, orphaned_at=now - HOUR)

    lines = explain("testapp.noop", now=now).lines()

    assert lines[0] == (
        "Schedule: testapp.noop  0 * * * *  (UTC, catchup=latest, "
        "orphaned since 2026-11-27T11:00:00+00:00)"
    )


def test_explain__a_run_superseded_while_the_queue_was_unreachable(now):
    from django_togo_scheduler.transitions import SUPERSEDED

    schedule(now)
    Run.objects.create(
        job="testapp.noop", status="skipped", scheduled_for=now, finished_at=now,
        error=SUPERSEDED, queue="togo",
    )  # fmt: skip

    result = explain("testapp.noop", now=now + MINUTE)

    assert (result.decision, result.reason) == ("skipped (superseded)", SUPERSEDED)


# time, zones, input


def test_explain__naive_time_is_read_in_the_schedules_zone_across_the_spring_gap(now):
    berlin = ZoneInfo("Europe/Berlin")
    schedule(now, spec="30 2 * * *", timezone="Europe/Berlin", next_run_at=now)

    result = explain("testapp.noop", "2026-03-29T12:00", now=now)

    assert result.at == datetime(2026, 3, 29, 12, tzinfo=berlin)
    # The 02:30 slot of the day the clocks jump fires at 03:00 CEST.
    assert result.lines()[2] == "Slot:     2026-03-29T03:00:00+02:00"
    assert result.lines()[0] == (
        "Schedule: testapp.noop  30 2 * * *  (Europe/Berlin, catchup=latest)"
    )
    # An aware time is taken as it is; the slot at it counts ("at or before").
    exact = explain("testapp.noop", "2026-03-29T01:00:00+00:00", now=now)
    assert exact.slot == datetime(2026, 3, 29, 1, tzinfo=UTC)
    before = explain("testapp.noop", "2026-03-29T00:59:59+00:00", now=now)
    assert before.slot == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)


def test_explain__the_default_time_zone_setting_and_overdue_flag(now, settings):
    settings.TOGO_SCHEDULER = {"QUEUE": None, "TIMEZONE": "Asia/Tokyo"}
    schedule(now, overdue_since=now - HOUR, max_age="2h")

    lines = explain("testapp.noop", now=now).lines()

    assert lines[0] == (
        "Schedule: testapp.noop  0 * * * *  (Asia/Tokyo, catchup=latest, "
        "overdue since 2026-11-27T20:00:00+09:00)"
    )
    assert lines[2] == "Slot:     2026-11-27T21:00:00+09:00"


def test_explain__unknown_schedule_and_bad_time(now):
    with pytest.raises(UnknownJob, match="There is no schedule named 'nope'."):
        explain("nope", now=now)
    assert issubclass(UnknownJob, LookupError)
    schedule(now)
    with pytest.raises(ValueError, match="invalid time 'yesterday': expected ISO 8601"):
        explain("testapp.noop", "yesterday", now=now)


def test_parse_at():
    utc = ZoneInfo("UTC")
    assert parse_at(" 2026-01-02 03:04 ", utc) == datetime(2026, 1, 2, 3, 4, tzinfo=utc)
    assert parse_at(
        "2026-01-02T03:04Z", ZoneInfo("Asia/Tokyo")
    ).utcoffset() == timedelta(0)


# with the testing helper


def test_explain__a_simulated_overlap(registry):
    registry.register("sim.slow", lambda: None)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    from django_togo_scheduler.service import get_scheduler

    get_scheduler().schedule("sim.slow", "*/10 * * * *")
    ScheduledJob.objects.update(created_at=start - HOUR)
    simulate(start, start + HOUR, durations={"sim.slow": 25 * MINUTE})
    first = Run.objects.get(scheduled_for=start + 10 * MINUTE)

    result = explain("sim.slow", start + 25 * MINUTE, now=start + HOUR)

    assert result.slot == start + 20 * MINUTE
    assert result.decision == "skipped (overlap)"
    assert result.reason == f"{SKIP_REASON} (run #{first.pk} was in flight)"
    assert explain("sim.slow", start + 10 * MINUTE, now=start + HOUR).decision == "ran"
