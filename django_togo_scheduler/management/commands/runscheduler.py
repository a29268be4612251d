"""``manage.py runscheduler``: the tick loop."""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from django_togo_scheduler.exceptions import TogoSchedulerError

if TYPE_CHECKING:
    from django_togo_scheduler.loop import SchedulerLoop


class Command(BaseCommand):
    help = (
        "Run the scheduler: sync declared schedules, then fire due jobs until "
        "SIGTERM or SIGINT (which finish the current tick and exit 0)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run one tick and exit."
        )

    def handle(self, *args: Any, once: bool, verbosity: int, **options: Any) -> None:
        from django_togo_scheduler.loop import SchedulerLoop
        from django_togo_scheduler.service import get_scheduler

        service = get_scheduler()
        dispatcher = service.dispatcher
        loop = SchedulerLoop(service, dispatcher)
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self._run(loop, once=once, verbosity=verbosity)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, loop: SchedulerLoop, *, once: bool, verbosity: int) -> None:
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.models import ScheduledJob

        dispatcher = loop.dispatcher
        try:
            started = loop.start(retry=not once)
        except (TogoSchedulerError, ValueError, DatabaseError) as exc:
            dispatcher.shutdown(wait=False)
            raise CommandError(f"Cannot sync the declared schedules: {exc}") from exc
        if not started:  # stopped while the database was unreachable
            return
        if once:
            try:
                loop.run_once()
            except DatabaseError as exc:
                raise CommandError(f"The database is unreachable: {exc}") from exc
            finally:
                dispatcher.shutdown(wait=True)
                loop.stop()
            return
        if verbosity:
            self.stdout.write(
                f"Scheduler started ({ScheduledJob.objects.count()} schedule(s), "
                f"timezone {app_settings.TIMEZONE}). Stop with Ctrl-C or SIGTERM."
            )
        loop.run_forever()
        # Inline runs in progress finish; a second signal ends the wait.
        dispatcher.shutdown(wait=True)
        loop.stop()
        if verbosity:
            self.stdout.write("Scheduler stopped.")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        from django_togo_scheduler.service import get_scheduler

        service = get_scheduler()
        if service.stopping:
            # A second signal while inline runs finish: leave now (the pool's
            # threads would hold an ordinary exit). Their heartbeats stop, so the
            # next scheduler's reconciler fails the abandoned runs.
            self.stderr.write(
                "Second signal: exiting without waiting for running jobs."
            )
            self.stderr.flush()
            os._exit(1)
        # Stop first: a second signal may interrupt this handler itself, and
        # must then find the service stopping.
        service.stop()
        self.stderr.write(
            "Stopping: finishing the current tick and the jobs running here "
            "(signal again to exit at once)."
        )
        self.stderr.flush()
