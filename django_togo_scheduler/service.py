"""The Service API of API.md: schedules, pause/resume, trigger, history, the tick."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from . import clock, engine, schedules
from .dispatch.base import Dispatcher
from .engine.state import EngineState
from .exceptions import InvalidSpec
from .models import Run, ScheduledJob
from .registry import registry

if TYPE_CHECKING:
    from .dispatch import RoutingDispatcher

logger = logging.getLogger(__name__)


class Service:
    """The scheduler service of one process; see :func:`get_scheduler`."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.state = EngineState()

    def schedule(self, name: str, spec: str, **options: Any) -> ScheduledJob:
        """Add or replace the schedule of registered job ``name``.

        A ``queue`` that no django-rq queue has is accepted (it may be
        configured later) and logged at WARNING: its runs go inline.
        """
        from .dispatch import rq_queue_configured

        registry.get(name)  # UnknownJob
        if not isinstance(spec, str):
            raise InvalidSpec(f"{spec!r}: a spec must be a string.")
        job = schedules.upsert_schedule(name, spec, options, clock.now())
        if job.queue and not rq_queue_configured(job.queue):
            logger.warning(
                "Schedule %r: queue %r is not a configured django-rq queue "
                "(django_rq is not installed or RQ_QUEUES has no such queue): its "
                "runs will run inline in the scheduler process.",
                name,
                job.queue,
                extra={"job": name},
            )
        return job

    def unschedule(self, name: str) -> None:
        """Remove the schedule; the handler and the run history stay."""
        ScheduledJob.objects.filter(name=name).delete()

    def pause(self, name: str, reason: str | None = None, *, by: str = "") -> None:
        """Stop firing ``name`` until resumed; ``UnknownJob`` when unscheduled.

        ``reason`` and ``by`` (who paused it) are kept with the time of the pause.
        """
        schedules.pause_named(name, reason or "", by, clock.now())

    def resume(self, name: str) -> None:
        """Fire ``name`` again from its next slot; missed slots are not replayed.

        ``UnknownJob`` when there is no schedule named ``name``.
        """
        schedules.resume(name, clock.now())

    def trigger(self, name: str, *, wait: bool = False) -> Run:
        """Run ``name`` now, outside its schedule (``trigger="manual"``).

        Skipped if a run of the job is in flight. Through RQ when its queue is
        configured; inline, a live scheduler takes it, or else this process's
        own inline pool (see :mod:`django_togo_scheduler.manual`). ``wait``:
        return only once the run ended, with its final status.
        """
        from .manual import trigger

        handover = trigger(self.dispatcher, name)
        return handover.wait() if wait else handover.run

    @functools.cached_property
    def dispatcher(self) -> RoutingDispatcher:
        """The dispatcher this process's ticks use (created on first use)."""
        from .dispatch import get_dispatcher

        return get_dispatcher()

    def jobs(self) -> list[ScheduledJob]:
        """The configured schedules, by name."""
        return list(ScheduledJob.objects.order_by("name"))

    def runs(self, job: str | None = None, status: str | None = None) -> QuerySet[Run]:
        """Run history, newest first; ``ValueError`` for an unknown ``status``."""
        if status is not None and status not in Run.Status.values:
            raise ValueError(
                f"Unknown run status {status!r}; one of {', '.join(Run.Status.values)}."
            )
        queryset = Run.objects.order_by("-id")
        if job is not None:
            queryset = queryset.filter(job=job)
        if status is not None:
            queryset = queryset.filter(status=status)
        return queryset

    def tick(
        self,
        now: datetime | None = None,
        *,
        dispatcher: Dispatcher | None = None,
        hand_over_at: datetime | None = None,
    ) -> list[Run]:
        """One pass: fire every due slot up to ``now``; return the runs created.

        The engine's tick with this process's state and dispatcher (see
        :func:`django_togo_scheduler.engine.tick` for ``hand_over_at``).
        """
        return engine.tick(
            now or clock.now(),
            state=self.state,
            dispatcher=dispatcher or self.dispatcher,
            hand_over_at=hand_over_at,
        )

    def stop(self) -> None:
        """Ask a running loop to finish its current tick and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on :meth:`stop`; True if stopping."""
        return self._stop.wait(seconds)


def prune(now: datetime, older_than: timedelta) -> int:
    """Delete finished runs that ended before ``now - older_than``; return how many."""
    cutoff = now - older_than
    total = 0
    while True:
        pks = list(
            Run.objects.finished()
            .filter(finished_at__lt=cutoff)
            .values_list("pk", flat=True)[:5000]
        )
        if not pks:
            return total
        total += Run.objects.filter(pk__in=pks).delete()[0]


@functools.cache
def get_scheduler() -> Service:
    """The process's scheduler service."""
    return Service()
