"""The simulation's dispatcher: runs that start at their slot and end a simulated
duration later, and the clock frozen at the instant a run ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django_togo_scheduler import clock, transitions
from django_togo_scheduler.dispatch.inline import TIMEOUT_ERROR, SyncDispatcher
from django_togo_scheduler.execution import _call_handler, finish_run, start_run
from django_togo_scheduler.models import Run


@dataclass
class _Held:
    run: Run
    error: str  # the handler's result: "" (done) or a traceback
    end: datetime
    timed_out: bool  # the run's timeout comes before its end


class SimulatedDispatcher(SyncDispatcher):
    """Executes runs at once, or holds those of jobs with a simulated duration."""

    def __init__(self, durations: Mapping[str, timedelta] | None = None) -> None:
        self.durations = dict(durations or {})
        self.held: dict[int, _Held] = {}

    def dispatch(self, runs: Sequence[Run]) -> None:
        for run in runs:
            duration = self.durations.get(run.job)
            if not duration:
                super().dispatch([run])
                continue
            started = start_run(run.pk)
            if started is None or started.started_at is None:
                continue
            limit = timedelta(seconds=started.timeout or 0)
            timed_out = timedelta(0) < limit < duration
            end = started.started_at + (limit if timed_out else duration)
            error = _call_handler(started)
            self.held[started.pk] = _Held(started, error, end, timed_out)

    def next_end(self) -> datetime | None:
        """When the earliest held run ends (or times out)."""
        return min((held.end for held in self.held.values()), default=None)

    def finish_until(self, moment: datetime) -> bool:
        """End, in order, every held run whose end is at or before ``moment``.

        Returns whether any ended (its signals ran: schedules may have changed).
        """
        ended = False
        for pk, held in sorted(self.held.items(), key=lambda item: item[1].end):
            if held.end > moment:
                break
            ended = True
            del self.held[pk]
            with frozen_clock(lambda end=held.end: end):
                if held.timed_out:
                    transitions.fail(
                        held.run, TIMEOUT_ERROR.format(held.run.timeout), held.end
                    )
                else:
                    finish_run(held.run, error=held.error, now=held.end)
        return ended

    def check(self, now: datetime) -> None:
        # Held runs are alive: keep the reconciler from failing them as dead.
        if self.held:
            Run.objects.filter(pk__in=list(self.held)).in_flight().update(
                heartbeat_at=now
            )


@contextlib.contextmanager
def frozen_clock(now: object) -> Iterator[None]:
    previous = clock.now
    setattr(clock, "now", now)  # noqa: B010 (mypy forbids assigning to a function)
    try:
        yield
    finally:
        setattr(clock, "now", previous)  # noqa: B010
