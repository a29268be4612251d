"""Run a project's schedules over simulated time in its own tests.

:func:`simulate` (or :class:`SchedulerSimulation`, for several steps) ticks the real
engine at each slot of the simulated schedules, jumping from one ``next_run_at``
to the next, never sleeping and never reading the real clock: while it runs,
``django_togo_scheduler.clock.now`` returns the simulated instant, so runs get
simulated ``started_at`` and ``finished_at`` times. Jobs execute synchronously in
the calling thread, inside the test's transaction, so it works in a plain
pytest-django ``db`` test or a ``django.test.TestCase``.

A job given a simulated duration (``durations={"name": timedelta(...)}``) starts
at its slot and ends that long after (its handler is called when it starts);
meanwhile it is in flight, so its slots that come are skipped, as in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo

from django.db.models import Max

from django_togo_scheduler import engine, schedules
from django_togo_scheduler.engine import outbox
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import get_timezone

from .dispatcher import SimulatedDispatcher, frozen_clock

_UNKNOWN = object()
PAUSED_BY = "simulation"  # paused_by of the schedules a simulation leaves out
MAX_TICKS_AT_ONE_INSTANT = 1000  # more means a schedule never stops being due


class SchedulerSimulation:
    """Schedules run over simulated time, from ``start`` on; see :func:`simulate`.

    Used as a context manager, the clock reads the simulated time inside the
    block too, so schedules created or triggered there start at simulated times.
    At the start, each simulated schedule's ``next_run_at`` is set to its first
    slot after ``start`` (as if it had been created then). With ``jobs``, only
    those schedules run; the other active ones are paused until :meth:`close`.
    """

    def __init__(
        self,
        start: datetime,
        *,
        jobs: Iterable[str] | None = None,
        step: timedelta | None = None,
        durations: Mapping[str, timedelta] | None = None,
        sync_declared: bool = False,
    ) -> None:
        _check_aware(start, "start")
        if step is not None and step <= timedelta(0):
            raise ValueError(f"step must be a positive timedelta, not {step!r}")
        self.start = self.now = start
        self.jobs = None if jobs is None else list(jobs)
        self.step = step
        self.dispatcher = SimulatedDispatcher(durations)
        self.state = engine.EngineState(last_tick=start)
        self.ticks = 0  # how many times the engine ticked
        self._sync_declared = sync_declared
        self._first_pk: int | None = None  # the simulation's runs have larger ids
        self._left_out: list[int] = []
        self._stack = contextlib.ExitStack()
        # The earliest next_run_at as the engine last read it, while nothing ran.
        self._known_next: datetime | None | object = _UNKNOWN
        self._slot_at: datetime | None = None

    def __enter__(self) -> SchedulerSimulation:
        self._stack.enter_context(frozen_clock(lambda: self.now))
        try:
            self._begin()
        except BaseException:
            self.close()  # __exit__ is not called when __enter__ raises
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Resume the schedules the simulation left out; give the clock back."""
        schedules.lift_pause(
            ScheduledJob.objects.filter(pk__in=self._left_out, paused_by=PAUSED_BY)
        )
        self._left_out = []
        self._stack.close()

    def run_until(self, end: datetime) -> list[Run]:
        """Tick at every slot up to ``end`` (inclusive); return the new runs."""
        _check_aware(end, "end")
        before = self._last_pk()
        self._known_next = _UNKNOWN  # the test's own code may have run since
        with frozen_clock(lambda: self.now):
            self._begin()
            ticks_here = 0
            while (at := self._next_event()) is not None and at <= end:
                ticks_here = ticks_here + 1 if at == self.now else 1
                if ticks_here > MAX_TICKS_AT_ONE_INSTANT:
                    raise RuntimeError(f"a schedule stays due at {at.isoformat()}")
                self.now = at
                if self.dispatcher.finish_until(at):
                    self._known_next = _UNKNOWN
                self._tick()
            self.now = max(self.now, end)
            self.dispatcher.finish_until(self.now)
        return self._runs_after(before)

    def advance(self, delta: timedelta) -> list[Run]:
        """Run for ``delta`` more; return the new runs."""
        return self.run_until(self.now + delta)

    def scheduler_down_until(self, moment: datetime) -> list[Run]:
        """No scheduler ticks until ``moment``; then a new one starts and ticks once.

        Slots that came meanwhile and are older than ``MISFIRE_GRACE`` by then
        were missed: the catch-up policies apply.
        """
        return self._no_tick_until(moment, new_process=True)

    def stall_until(self, moment: datetime) -> list[Run]:
        """The running scheduler cannot tick until ``moment``; then it ticks once.

        A stall (the database unreachable, the machine suspended, the process
        stopped): to the engine it is downtime like :meth:`scheduler_down_until`,
        though the same process goes on.
        """
        return self._no_tick_until(moment, new_process=False)

    def _no_tick_until(self, moment: datetime, *, new_process: bool) -> list[Run]:
        _check_aware(moment, "moment")
        before = self._last_pk()
        with frozen_clock(lambda: self.now):
            self._begin()
            self.now = max(self.now, moment)
            self.dispatcher.finish_until(self.now)
            if new_process:
                self.state = engine.EngineState()  # no previous tick
            self._tick()
        return self._runs_after(before)

    def tick(self) -> list[Run]:
        """One tick at the current simulated time (e.g. after a manual trigger)."""
        with frozen_clock(lambda: self.now):
            self._begin()
            return self._tick()

    # Results

    def runs(self, job: str | None = None, status: str | None = None) -> list[Run]:
        """The runs recorded during the simulation, oldest first."""
        return self._runs_after(self._first_pk or 0, job=job, status=status)

    def count(self, job: str | None = None, status: str | None = None) -> int:
        """How many runs (of ``job``, with ``status``) the simulation recorded."""
        return len(self.runs(job, status))

    def slots(self, job: str, tz: str | tzinfo | None = None) -> list[datetime]:
        """The slots ``job`` recorded, in ``tz`` (default: the schedule's zone)."""
        if tz is None:
            schedule = ScheduledJob.objects.filter(name=job).first()
            tz = schedules.zone_name(schedule.timezone if schedule else "")
        zone = get_timezone(tz) if isinstance(tz, str) else tz
        return [
            run.scheduled_for.astimezone(zone)
            for run in self.runs(job)
            if run.scheduled_for is not None
        ]

    # Internals

    def _begin(self) -> None:
        if self._first_pk is not None:
            return
        if self._sync_declared:
            from django_togo_scheduler.declared import sync_declared

            sync_declared(self.start)
        self._first_pk = self._last_pk()
        active = list(ScheduledJob.objects.enabled())
        if self.jobs is not None:
            missing = sorted(set(self.jobs) - {job.name for job in active})
            if missing:
                raise LookupError(f"There is no active schedule named {missing[0]!r}.")
            self._left_out = [job.pk for job in active if job.name not in self.jobs]
            schedules.pause(
                ScheduledJob.objects.filter(pk__in=self._left_out),
                "left out of a simulation",
                PAUSED_BY,
                self.start,
            )
        for job in active:
            if job.pk in self._left_out:
                continue
            try:
                schedules.restart(job, self.start)
            except TogoSchedulerError:
                continue  # the engine pauses it at its first tick, and says why

    def _next_slot(self) -> datetime | None:
        """The earliest slot to come: as the engine's last tick read it, when
        nothing ran since; otherwise read now."""
        known, self._known_next = self._known_next, _UNKNOWN
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        pending = ScheduledJob.objects.enabled().filter(next_run_at__isnull=False)
        if self.state.unknown_logged:  # no handler: the engine leaves them due
            pending = pending.exclude(name__in=self.state.unknown_logged)
        return (
            pending.order_by("next_run_at")
            .values_list("next_run_at", flat=True)
            .first()
        )

    def _next_event(self) -> datetime | None:
        due = self._next_slot()
        self._slot_at = due
        ends = self.dispatcher.next_end()
        events = [at for at in (due, ends) if at is not None]
        if not events:
            return None
        at = max(min(events), self.now)
        if self.step is not None and at > self.now:
            # The next tick of a scheduler ticking every ``step`` from ``start``.
            at = self.start - ((self.start - at) // self.step) * self.step
        return at

    def _tick(self) -> list[Run]:
        self.ticks += 1
        slot_due = self._slot_at is not None and self._slot_at <= self.now
        if slot_due:
            # As a scheduler that read the slot at its previous tick: the
            # engine claims first and reads the next slot after its handlers ran.
            self.state.next_due = self._slot_at
        created = engine.tick(self.now, state=self.state, dispatcher=self.dispatcher)
        self._slot_at = None
        # A real scheduler hands out the next run of a catch-up chain (or a run
        # a handler triggered) about a second after the previous one ends; here
        # jobs end at once, so the chain is replayed at this instant instead.
        replayed = False
        while self._outbox_holds_a_run() and outbox.dispatch_pending(
            self.now, self.dispatcher
        ):
            replayed = True
        if not replayed and (slot_due or not created):
            self._known_next = self.state.next_due
        return created

    @staticmethod
    def _outbox_holds_a_run() -> bool:
        # One cheap read, where a sweep would take the write lock to find nothing.
        return Run.objects.in_outbox().exists()

    @staticmethod
    def _runs_after(pk: int, **filters: str | None) -> list[Run]:
        wanted = {key: value for key, value in filters.items() if value is not None}
        return list(Run.objects.filter(pk__gt=pk, **wanted).order_by("pk"))

    @staticmethod
    def _last_pk() -> int:
        last: int | None = Run.objects.aggregate(last=Max("pk"))["last"]
        return last or 0


def simulate(
    start: datetime,
    end: datetime,
    *,
    jobs: Iterable[str] | None = None,
    step: timedelta | None = None,
    durations: Mapping[str, timedelta] | None = None,
    sync_declared: bool = False,
) -> SchedulerSimulation:
    """Run the schedules from ``start`` to ``end`` (aware datetimes); return the simulation.

    ``jobs`` limits it to those schedules; ``step`` ticks on a grid of that period
    from ``start`` (default: exactly at each slot); ``durations`` gives jobs a
    simulated run time; ``sync_declared`` first syncs the declared schedules
    (``@job(schedule=...)`` and the ``SCHEDULE`` setting) as ``runscheduler`` does.
    """
    with SchedulerSimulation(
        start, jobs=jobs, step=step, durations=durations, sync_declared=sync_declared
    ) as simulation:
        simulation.run_until(end)
    return simulation


def _check_aware(value: object, name: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {value!r}")
