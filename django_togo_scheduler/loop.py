"""The scheduler loop ``runscheduler`` runs: tick, sleep until the next slot, repeat."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from django.db import DatabaseError, InterfaceError, connection

from . import clock, engine
from . import service as service_api
from .conf import app_settings
from .declared import ORPHAN_GRACE, prune_orphans, sync_declared
from .dispatch.base import Dispatcher
from .models import ScheduledJob
from .processes import ProcessHeartbeat
from .service import Service
from .specs import parse_duration
from .tickerrors import TickErrors

logger = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)  # how often the loop prunes old runs
MAX_BACKOFF = 30.0  # seconds between attempts while the database is unreachable
# The loop wakes this long before a slot, claims it (the runs are committed), and
# hands the runs to the dispatcher when the clock reaches the slot: the claim's
# statements are not between the slot and its jobs being queued.
CLAIM_AHEAD = timedelta(milliseconds=50)


def next_slot(exclude: Collection[str] = ()) -> datetime | None:
    """The earliest ``next_run_at`` of the active schedules not in ``exclude``.

    Schedules in ``exclude`` (no handler in this process) do not count: their
    rows stay due for another process, and must not make this one spin.
    """
    return (
        ScheduledJob.objects.enabled()
        .filter(next_run_at__isnull=False)
        .exclude(name__in=list(exclude))
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


def sleep_until(upcoming: datetime | None, now: datetime, cap: float) -> float:
    """Seconds from ``now`` to ``upcoming``, from 0 to ``cap`` (``cap`` for None)."""
    if upcoming is None:
        return cap
    return max(0.0, min(cap, (upcoming - now).total_seconds()))


class SchedulerLoop:
    """Ticks until the service is asked to stop; survives database outages."""

    def __init__(self, service: Service, dispatcher: Dispatcher) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self._last_prune: datetime | None = None
        self.heartbeat = ProcessHeartbeat()

    def start(self, *, retry: bool = False) -> bool:
        """Sync the declared schedules; the first thing a scheduler does.

        With ``retry``, an unreachable database is retried with back-off until it
        answers (True) or the service is stopped meanwhile (False).
        """
        backoff = 1.0
        while True:
            try:
                synced = sync_declared(clock.now())
            except DatabaseError as exc:
                if not retry:
                    raise
                logger.error(
                    "Cannot reach the database to sync schedules (%s); retrying in %.0f s.",
                    exc,
                    backoff,
                )
                self._drop_connection()
                if self.service.wait(backoff):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            logger.info("Synced %d declared schedule(s).", len(synced))
            return True

    def stop(self) -> None:
        """Record a clean stop in the heartbeat table (best effort)."""
        with contextlib.suppress(DatabaseError):
            self.heartbeat.stop(clock.now())

    def run_once(self) -> float:
        """One tick (with housekeeping); return how long to sleep before the next."""
        # The loop keeps its database connection whatever CONN_MAX_AGE says (a
        # new PostgreSQL connection per tick costs milliseconds); a broken one
        # raises, and run_forever drops it and reconnects.
        now = clock.now()
        state = self.service.state
        slot = state.next_due
        if slot is not None and now < slot <= now + 2 * CLAIM_AHEAD:
            # Woken ahead of the slot (CLAIM_AHEAD): claim it as of its instant
            # and hand its runs over when the clock gets there.
            now = slot
            engine.tick(now, state=state, dispatcher=self.dispatcher, hand_over_at=slot)
        else:
            engine.tick(now, state=state, dispatcher=self.dispatcher)
        if state.next_due is None:  # the tick claimed, or read nothing: ask
            state.next_due = next_slot(state.unknown_logged)
        wake = state.next_due - CLAIM_AHEAD if state.next_due is not None else None
        sleep = sleep_until(wake, clock.now(), app_settings.MAX_SLEEP)
        wake_at = clock.now() + timedelta(seconds=sleep)
        engine.reconcile_ahead(clock.now(), self.dispatcher, state, wake_at)
        self.heartbeat.beat(now, self.dispatcher.abandoned_threads())
        self._maybe_prune(now)
        self._maybe_check_overdue(now)
        return max(0.0, (wake_at - clock.now()).total_seconds())

    def run_forever(self) -> None:
        """Tick until :meth:`Service.stop`; database errors back off and retry.

        An unreachable database and any other database error are logged as
        what they are (:mod:`django_togo_scheduler.tickerrors`).
        """
        backoff = 1.0
        errors = TickErrors(logger)
        while not self.service.stopping:
            try:
                sleep = self.run_once()
            except (DatabaseError, InterfaceError) as exc:
                # (Django's InterfaceError, a closed connection, is no DatabaseError.)
                errors.failed(exc, backoff, clock.now())
                self._drop_connection()
                sleep, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
            else:
                errors.recovered(clock.now())
                backoff = 1.0
            self.service.wait(sleep)

    def _maybe_prune(self, now: datetime) -> None:
        # Hourly: runs finished more than RUN_RETENTION ago, and schedules
        # orphaned more than ORPHAN_GRACE ago (prune_orphans logs each one).
        if self._last_prune and now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        retention = app_settings.RUN_RETENTION
        if retention:
            deleted = service_api.prune(now, parse_duration(retention))
            if deleted:
                logger.info("Pruned %d run(s) older than %s.", deleted, retention)
        prune_orphans(now, ORPHAN_GRACE)

    _last_overdue_check: datetime | None = None

    def _maybe_check_overdue(self, now: datetime) -> None:
        # Every 30 s: an overdue flag a little late is fine, a query per tick is not.
        from .overdue import CHECK_EVERY, check_overdue

        last = self._last_overdue_check
        if last is None or now - last >= CHECK_EVERY:
            self._last_overdue_check = now
            check_overdue(now)

    @staticmethod
    def _drop_connection() -> None:
        with contextlib.suppress(DatabaseError):
            connection.close()
