from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_togo_scheduler.engine import planning
from django_togo_scheduler.engine.planning import plan_due
from django_togo_scheduler.specs import get_timezone, parse_spec

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
UTC_ZONE = get_timezone("UTC")


GRACE = timedelta(seconds=10)


def plan(spec, *, due_at, now, policy="latest", grace=GRACE, window=None):
    return plan_due(
        parse_spec(spec),
        UTC_ZONE,
        due_at=due_at,
        now=now,
        policy=policy,
        grace=grace,
        window=window,
    )


def offsets(p):
    return [(int((s.at - T0) / MIN), s.catchup) for s in p.slots]


def test_plan_due__on_time_slot():
    p = plan("* * * * *", due_at=T0, now=T0 + timedelta(seconds=1))
    assert offsets(p) == [(0, False)]
    assert p.next_run_at == T0 + MIN and p.missed == 0


def test_plan_due__latest_after_downtime_fires_only_the_newest():
    p = plan("* * * * *", due_at=T0, now=T0 + 30 * MIN + timedelta(seconds=30))
    assert offsets(p) == [(30, False)]
    assert p.missed == 30
    assert p.next_run_at == T0 + 31 * MIN


def test_plan_due__none_after_downtime_fires_nothing():
    p = plan(
        "* * * * *", due_at=T0, now=T0 + 30 * MIN + timedelta(seconds=30), policy="none"
    )
    assert p.slots == [] and p.missed == 31
    assert p.next_run_at == T0 + 31 * MIN


def test_plan_due__none_still_fires_a_slot_within_the_grace():
    p = plan("* * * * *", due_at=T0, now=T0 + timedelta(seconds=5), policy="none")
    assert offsets(p) == [(0, False)]


def test_plan_due__all_fires_every_missed_slot_oldest_first():
    p = plan("*/10 * * * *", due_at=T0, now=T0 + 35 * MIN, policy="all")
    assert offsets(p) == [(0, True), (10, True), (20, True), (30, False)]
    assert p.next_run_at == T0 + 40 * MIN


def test_plan_due__all_is_bounded_by_the_window():
    p = plan(
        "*/10 * * * *",
        due_at=T0,
        now=T0 + 35 * MIN,
        policy="all",
        window=timedelta(minutes=15),
    )
    assert offsets(p) == [(20, True), (30, False)]
    assert p.missed == 2


def test_plan_due__all_caps_a_tick_and_continues_next_time(monkeypatch):
    monkeypatch.setattr(planning, "MAX_SLOTS_PER_TICK", 3)
    p = plan("* * * * *", due_at=T0, now=T0 + 10 * MIN, policy="all")
    assert offsets(p) == [(0, True), (1, True), (2, True)]
    assert p.next_run_at == T0 + 3 * MIN


def test_plan_due__slots_within_the_grace_are_on_time_whatever_the_policy():
    for policy in ("latest", "none", "all"):
        p = plan("* * * * *", due_at=T0, now=T0 + 3 * MIN, policy=policy, grace=3 * MIN)
        assert offsets(p) == [(0, True), (1, True), (2, True), (3, False)], policy
        assert p.missed == 0


@pytest.mark.parametrize(
    ("policy", "expected", "missed"),
    [
        # Ticked at 09:44, next at 14:20 (a stall): 10:00 ... 14:00 were missed.
        ("latest", [(14, False)], 4),
        ("none", [], 5),
        ("all", [(10, True), (11, True), (12, True), (13, True), (14, False)], 0),
    ],
)
def test_plan_due__a_stalled_scheduler_applies_the_policy(policy, expected, missed):
    ten = T0 - timedelta(hours=2)  # 10:00
    p = plan("0 * * * *", due_at=ten, now=ten + timedelta(hours=4, minutes=20),
             policy=policy)  # fmt: skip
    assert [(s.at.hour, s.catchup) for s in p.slots] == expected
    assert p.missed == missed
    assert p.next_run_at == ten + 5 * timedelta(hours=1)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest", [20, 25, 30]),
        ("none", [20, 25, 30]),
        ("all", [0, 5, 10, 15, 20, 25, 30]),
    ],
)
def test_plan_due__slots_older_than_the_grace_were_missed(policy, expected):
    second = timedelta(seconds=1)
    p = plan("@every 5s", due_at=T0, now=T0 + 30 * second, policy=policy)
    assert [int((s.at - T0) / second) for s in p.slots] == expected
    assert [s.catchup for s in p.slots] == [True] * (len(expected) - 1) + [False]
    assert p.missed == 7 - len(expected)


def test_plan_due__a_single_slot_a_little_late_is_on_time_only_within_the_grace():
    late = T0 + timedelta(seconds=11)
    assert plan("* * * * *", due_at=T0, now=late, policy="none").slots == []
    within = plan("* * * * *", due_at=T0, now=late, policy="none", grace=MIN)
    assert offsets(within) == [(0, False)]


def test_plan_due__none_skips_a_single_missed_slot():
    # A daily job missed one slot while no scheduler ran: "none" fires nothing.
    p = plan(
        "30 7 * * *",
        due_at=T0 - timedelta(hours=4, minutes=30),
        now=T0 - timedelta(hours=1),
        policy="none",
    )
    assert p.slots == [] and p.missed == 1
    assert p.next_run_at == T0 + timedelta(hours=19, minutes=30)


def test_plan_due__latest_fires_a_single_missed_slot():
    p = plan(
        "30 7 * * *",
        due_at=T0 - timedelta(hours=4, minutes=30),
        now=T0 - timedelta(hours=1),
    )
    assert [s.at for s in p.slots] == [T0 - timedelta(hours=4, minutes=30)]
