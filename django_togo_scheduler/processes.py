"""Heartbeats of running ``runscheduler`` processes, for ``scheduler status``."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from .models import SchedulerProcess

HEARTBEAT_EVERY = timedelta(seconds=5)  # how often a scheduler refreshes its row
FORGET_AFTER = timedelta(days=1)  # rows of processes silent this long are deleted
# A scheduler that ticked this recently is live: what `scheduler status` (its
# --within default), `scheduler explain` and the admin's banner count.
LIVE_WITHIN = timedelta(seconds=30)
# A scheduler whose row is this fresh takes a manual trigger's inline run: a
# beat is due every HEARTBEAT_EVERY, after a tick (at most MAX_SLEEP apart).
TAKES_TRIGGERS_WITHIN = 3 * HEARTBEAT_EVERY


class ProcessHeartbeat:
    """The heartbeat row of this scheduler process."""

    def __init__(self) -> None:
        self.process: SchedulerProcess | None = None

    def start(self, now: datetime) -> SchedulerProcess:
        """Record this process as started (and forget long-dead ones)."""
        SchedulerProcess.objects.filter(last_tick_at__lt=now - FORGET_AFTER).delete()
        self.process = SchedulerProcess.objects.create(
            host=socket.gethostname(), pid=os.getpid(), started_at=now, last_tick_at=now
        )
        return self.process

    def beat(self, now: datetime, abandoned_threads: int = 0) -> None:
        """Record a tick, at most every ``HEARTBEAT_EVERY``, with the count of
        inline threads abandoned past their run's timeout."""
        if self.process is None:
            self.start(now)
            return
        if now - self.process.last_tick_at < HEARTBEAT_EVERY:
            return
        updated = SchedulerProcess.objects.filter(pk=self.process.pk).update(
            last_tick_at=now, abandoned_threads=abandoned_threads
        )
        if not updated:  # someone deleted the row (e.g. a prune): start a new one
            self.start(now)
            return
        self.process.last_tick_at = now
        self.process.abandoned_threads = abandoned_threads

    def stop(self, now: datetime) -> None:
        """Record a clean stop."""
        if self.process is not None:
            SchedulerProcess.objects.filter(pk=self.process.pk).update(stopped_at=now)


def live_processes(now: datetime, within: timedelta) -> list[SchedulerProcess]:
    """Schedulers that ticked within ``within`` of ``now`` and did not stop."""
    return list(
        SchedulerProcess.objects.filter(
            last_tick_at__gte=now - within, stopped_at__isnull=True
        ).order_by("host", "pid")
    )
