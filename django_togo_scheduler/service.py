"""The Service API of API.md: schedules, pause/resume, trigger, history, the tick."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from . import clock, engine
from .conf import app_settings
from .dispatch.base import Dispatcher
from .engine.state import EngineState
from .exceptions import InvalidSpec, UnknownJob
from .locking import write_transaction
from .models import Catchup, Run, ScheduledJob
from .registry import SCHEDULE_OPTIONS, registry
from .specs import get_timezone, parse_duration, parse_spec, validate_spec

if TYPE_CHECKING:
    from .dispatch import RoutingDispatcher

logger = logging.getLogger(__name__)

MAX_TIMEOUT = 365 * 24 * 3600  # seconds: a year, well inside the column's range


def normalise_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate schedule options; return them as ScheduledJob field values."""
    unknown = set(options) - SCHEDULE_OPTIONS
    if unknown:
        raise ValueError(f"Schedule {name!r}: unknown options {sorted(unknown)}.")
    fields: dict[str, Any] = {
        "timezone": options.get("timezone") or "",
        "queue": options.get("queue") or "",
        "timeout": options.get("timeout"),
        "catchup": options.get("catchup") or Catchup.LATEST,
        "max_age": options.get("max_age") or "",
    }
    if fields["timezone"]:
        get_timezone(fields["timezone"])
    timeout = fields["timeout"]
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int)
        or not 1 <= timeout <= MAX_TIMEOUT
    ):
        raise ValueError(
            f"Schedule {name!r}: timeout must be a number of seconds from 1 to "
            f"{MAX_TIMEOUT}, not {timeout!r}."
        )
    if fields["catchup"] not in Catchup.values:
        raise ValueError(
            f"Schedule {name!r}: catchup must be one of {Catchup.values}, not {fields['catchup']!r}."
        )
    if fields["max_age"]:
        parse_duration(fields["max_age"])
    if not isinstance(fields["queue"], str) or len(fields["queue"]) > 100:
        raise ValueError(
            f"Schedule {name!r}: queue must be a queue name (a string of at most "
            f"100 characters), not {str(fields['queue'])[:40]!r}."
        )
    return fields


def first_slot(spec: str, timezone: str, now: datetime) -> datetime:
    """The first fire time of a schedule created or changed at ``now``."""
    tz = get_timezone(timezone or app_settings.TIMEZONE)
    return parse_spec(spec).next_after(now, tz)


def upsert_schedule(
    name: str,
    spec: str,
    options: dict[str, Any],
    now: datetime,
    *,
    declared: bool = False,
    source: str = "",
) -> ScheduledJob:
    """Create or update the schedule ``name``, keeping ``paused`` as it is.

    ``next_run_at`` is recomputed only when the spec or zone changed: a
    re-declared, unchanged schedule keeps its pending slot. An orphaned
    schedule (see :mod:`~django_togo_scheduler.declared`) is one no more.
    """
    spec = validate_spec(spec)
    fields = normalise_options(name, options)
    with write_transaction(ScheduledJob):
        job = ScheduledJob.objects.select_for_update().filter(name=name).first()
        if job is None:
            job = ScheduledJob(name=name)
        fields["declared"] = declared
        fields["source"] = source
        if job.orphaned_at is not None:
            logger.info(
                "Schedule %r is defined again; no longer orphaned.",
                name,
                extra={"job": name},
            )
        fields["orphaned_at"] = None
        moved = (
            job._state.adding or job.spec != spec or job.timezone != fields["timezone"]
        )
        changed = moved or any(
            getattr(job, key) != value for key, value in fields.items()
        )
        job.spec = spec
        for key, value in fields.items():
            setattr(job, key, value)
        if moved:
            job.next_run_at = first_slot(spec, job.timezone, now)
        if changed:
            job.save()
    return job


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
        job = upsert_schedule(name, spec, options, clock.now())
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
        now = clock.now()
        updated = ScheduledJob.objects.filter(name=name).update(
            paused=True,
            paused_reason=reason or "",
            paused_by=by,
            paused_at=now,
            updated_at=now,
        )
        if not updated:
            raise UnknownJob(f"There is no schedule named {name!r}.")

    def resume(self, name: str) -> None:
        """Fire ``name`` again from its next slot; missed slots are not replayed.

        ``UnknownJob`` when there is no schedule named ``name``.
        """
        now = clock.now()
        with write_transaction(ScheduledJob):
            job = ScheduledJob.objects.select_for_update().filter(name=name).first()
            if job is None:
                raise UnknownJob(f"There is no schedule named {name!r}.")
            if job.paused:
                job.paused = False
                job.paused_reason = job.paused_by = ""
                job.paused_at = None
                job.next_run_at = first_slot(job.spec, job.timezone, now)
                job.save()

    def trigger(self, name: str, *, wait: bool = False) -> Run:
        """Run ``name`` now, outside its schedule (``trigger="manual"``).

        Skipped if a run of the job is in flight. Through RQ when its queue is
        configured; inline, a live scheduler takes it, or else this process's
        own inline pool (see :mod:`django_togo_scheduler.manual`). ``wait``:
        return only once the run ended, with its final status.
        """
        from .manual import trigger

        handover = trigger(self, name)
        return handover.wait() if wait else handover.run

    @functools.cached_property
    def dispatcher(self) -> RoutingDispatcher:
        """The dispatcher this process's ticks use (created on first use)."""
        from .dispatch import get_dispatcher

        return get_dispatcher()

    @functools.cached_property
    def rq_dispatcher(self) -> Dispatcher:
        """The dispatcher manual triggers through RQ use."""
        from .dispatch.rq import RQDispatcher

        return RQDispatcher()

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
