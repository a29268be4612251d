"""The fault hook: the points a harness can act on, in the order the code meets them."""

from __future__ import annotations

import pytest

from django_togo_scheduler import faults
from django_togo_scheduler.models import Run, ScheduledJob
from tests.ticks import tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def hits():
    seen: list[tuple[str, object]] = []
    faults.install(lambda point, subject: seen.append((point, subject)))
    yield seen
    faults.install(None)


def test_points__a_tick_meets_insert_with_the_runs_then_start_with_the_run_id(
    hits, calls, now, sync_dispatcher
):
    ScheduledJob.objects.create(name="test.record", spec="* * * * *", next_run_at=now)

    tick(now, dispatcher=sync_dispatcher)

    run = Run.objects.get()
    assert [point for point, _ in hits] == ["insert", "start"]
    (inserted,) = hits[0][1]
    assert (inserted.job, inserted.scheduled_for) == ("test.record", now)
    assert hits[1][1] == run.pk


def test_points__a_hook_that_raises_at_insert_leaves_the_slot_unclaimed(
    calls, now, sync_dispatcher
):
    job = ScheduledJob.objects.create(
        name="test.record", spec="* * * * *", next_run_at=now
    )

    def crash(point: str, subject: object) -> None:
        if point == "insert":
            raise RuntimeError("the process dies here")

    faults.install(crash)
    try:
        with pytest.raises(RuntimeError):
            tick(now, dispatcher=sync_dispatcher)
    finally:
        faults.install(None)

    job.refresh_from_db()
    assert job.next_run_at == now  # the advance rolled back with the claim
    assert not Run.objects.exists() and calls == []


def test_points__are_the_ones_documented():
    assert faults.POINTS == ("insert", "enqueue", "start")
    for name in faults.POINTS:
        assert f"``{name}``" in (faults.__doc__ or "")
