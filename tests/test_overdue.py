"""Overdue schedules: episodes start and end, the signal once per episode, the loop's cadence."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from django_togo_scheduler import overdue, schedule_overdue
from django_togo_scheduler.loop import SchedulerLoop
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.overdue import check_overdue
from django_togo_scheduler.service import Service

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def sent():
    """The keyword arguments of every schedule_overdue sent during the test."""
    seen = []

    def receiver(sender, **kwargs):
        seen.append((sender, kwargs))

    schedule_overdue.connect(receiver, dispatch_uid="test_overdue")
    yield seen
    schedule_overdue.disconnect(dispatch_uid="test_overdue")


def make_job(name, now, max_age="2h", created=None, **fields):
    job = ScheduledJob.objects.create(
        name=name, spec="@hourly", max_age=max_age, next_run_at=now + HOUR, **fields
    )
    # created_at is auto_now_add: set the creation time the test means.
    ScheduledJob.objects.filter(pk=job.pk).update(created_at=created or now - 10 * HOUR)
    return ScheduledJob.objects.get(pk=job.pk)


def success(name, finished, status="done"):
    return Run.objects.create(
        job=name, status=status, started_at=finished, finished_at=finished
    )


def flag(name):
    return ScheduledJob.objects.get(name=name).overdue_since


def test_check__recent_success_is_not_overdue(now, sent):
    make_job("a", now)
    success("a", now - 2 * HOUR + timedelta(seconds=1))

    assert check_overdue(now) == []
    assert flag("a") is None
    assert sent == []


def test_check__episode_starts_once_at_the_deadline(now, sent):
    make_job("a", now)
    make_job("other", now, max_age="")  # no max_age: never overdue
    success("a", now - 5 * HOUR, status="done")
    success("a", now - HOUR, status="failed")  # a failure is no success
    success("other", now - 50 * HOUR)

    (job,) = check_overdue(now)

    assert job.name == "a"
    assert flag("a") == job.overdue_since == now - 3 * HOUR
    assert [(s, k["schedule"].name, k["last_success_at"]) for s, k in sent] == [
        (ScheduledJob, "a", now - 5 * HOUR)
    ]
    # Still overdue a minute later: returned again, no second signal.
    assert [j.name for j in check_overdue(now + timedelta(minutes=1))] == ["a"]
    assert len(sent) == 1
    assert flag("a") == now - 3 * HOUR


def test_check__never_succeeded_counts_from_creation(now, sent):
    make_job("a", now, max_age="1d", created=now - 23 * HOUR)
    assert check_overdue(now) == []

    (job,) = check_overdue(now + 2 * HOUR)

    assert job.overdue_since == now + HOUR
    assert sent[0][1]["last_success_at"] is None


def test_check__a_fresh_success_ends_the_episode_and_the_next_one_signals_again(
    now, sent
):
    make_job("a", now)
    success("a", now - 3 * HOUR)
    check_overdue(now)
    success("a", now + timedelta(minutes=5))

    assert check_overdue(now + timedelta(minutes=6)) == []
    assert flag("a") is None

    later = now + timedelta(minutes=5) + 2 * HOUR + timedelta(seconds=1)
    assert [j.name for j in check_overdue(later)] == ["a"]
    assert flag("a") == now + timedelta(minutes=5) + 2 * HOUR
    assert len(sent) == 2


def test_check__a_second_scheduler_does_not_signal_the_same_episode(
    now, sent, monkeypatch
):
    make_job("a", now)
    success("a", now - 3 * HOUR)
    # Both schedulers read the candidates before either marked the episode.
    stale = overdue._candidates()
    check_overdue(now)
    monkeypatch.setattr(overdue, "_candidates", lambda: stale)

    assert [j.name for j in check_overdue(now)] == ["a"]
    assert len(sent) == 1


def test_check__pausing_or_dropping_max_age_ends_the_episode(now, sent):
    make_job("a", now)
    make_job("b", now)
    make_job("c", now, paused=True)  # paused: never overdue
    check_overdue(now)
    assert {
        j.name for j in ScheduledJob.objects.filter(overdue_since__isnull=False)
    } == {"a", "b"}

    ScheduledJob.objects.filter(name="a").update(paused=True)
    ScheduledJob.objects.filter(name="b").update(max_age="")

    assert check_overdue(now + timedelta(minutes=1)) == []
    assert not ScheduledJob.objects.filter(overdue_since__isnull=False).exists()
    assert sorted(k["schedule"].name for _s, k in sent) == ["a", "b"]


def test_check__an_invalid_max_age_is_logged_and_ignored(now, sent, caplog):
    make_job("a", now, max_age="2 hours")
    make_job("b", now)

    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler.overdue"):
        assert [j.name for j in check_overdue(now)] == ["b"]

    assert "Schedule 'a' has an invalid max_age '2 hours'" in caplog.text
    assert flag("a") is None


def test_check__a_failing_receiver_is_logged_and_the_check_goes_on(now, sent, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("pager unreachable")

    schedule_overdue.connect(broken, dispatch_uid="broken")
    make_job("a", now)
    make_job("b", now)
    try:
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            assert [j.name for j in check_overdue(now)] == ["a", "b"]
    finally:
        schedule_overdue.disconnect(dispatch_uid="broken")

    assert [k["schedule"].name for _s, k in sent] == ["a", "b"]
    errors = [r for r in caplog.records if r.name == "django.dispatch"]
    assert [str(r.exc_info[1]) for r in errors] == ["pager unreachable"] * 2
    assert flag("b") is not None


def test_check__one_query_when_nothing_changes(now, django_assert_num_queries):
    for index in range(5):
        make_job(f"job{index}", now)
        success(f"job{index}", now - HOUR)
    make_job("late", now)
    check_overdue(now)  # "late" starts its episode

    with django_assert_num_queries(1):
        assert [j.name for j in check_overdue(now)] == ["late"]


def test_loop__checks_at_most_every_30_seconds(now, monkeypatch, sync_dispatcher):
    checked = []
    monkeypatch.setattr(overdue, "check_overdue", checked.append)
    current = [now]
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: current[0])
    loop = SchedulerLoop(Service(), sync_dispatcher)

    for seconds in (0, 10, 29, 30, 45, 61):
        current[0] = now + timedelta(seconds=seconds)
        loop.run_once()

    assert checked == [now, now + timedelta(seconds=30), now + timedelta(seconds=61)]


def test_loop__marks_an_overdue_schedule(now, monkeypatch, sync_dispatcher, sent):
    monkeypatch.setattr("django_togo_scheduler.clock.now", lambda: now)
    make_job("testapp.noop", now, max_age="1h")

    SchedulerLoop(Service(), sync_dispatcher).run_once()

    assert flag("testapp.noop") == now - 9 * HOUR
    assert len(sent) == 1
