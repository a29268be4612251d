"""``manage.py runscheduler``: the tick loop."""

from __future__ import annotations

import math
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from django_togo_scheduler.cli.base import BAD_INPUT, CheckedCommand
from django_togo_scheduler.exceptions import TogoSchedulerError

if TYPE_CHECKING:
    from django_togo_scheduler.dispatch import RoutingDispatcher
    from django_togo_scheduler.loop import SchedulerLoop
    from django_togo_scheduler.service import Service

GRACE = 25.0  # seconds: the default --grace, inside Kubernetes' default 30 s
EXIT_WRITES = 5.0  # seconds a second signal gives the database to record the exit


class Command(CheckedCommand):
    help = (
        "Run the scheduler: sync declared schedules, then fire due jobs until "
        "SIGTERM or SIGINT, which finish the current tick, wait for the inline "
        "jobs running here at most --grace seconds, and exit 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Run one tick, wait for the inline jobs it started, and exit.",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=GRACE,
            metavar="SECONDS",
            help="On SIGTERM or SIGINT, wait at most this long for the inline jobs "
            "running here, then mark them failed and exit 0 (default 25: inside "
            "Kubernetes' default termination grace period of 30 s).",
        )

    def handle(
        self, *args: Any, once: bool, grace: float, verbosity: int, **options: Any
    ) -> None:
        from django_togo_scheduler.loop import SchedulerLoop
        from django_togo_scheduler.service import get_scheduler

        if not math.isfinite(grace) or grace < 0:
            raise CommandError(
                f"--grace must be a number of seconds, 0 or more, not {grace!r}.",
                returncode=BAD_INPUT,
            )
        service = get_scheduler()
        self._loop = loop = SchedulerLoop(service, service.dispatcher)
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self._run(loop, once=once, grace=grace, verbosity=verbosity)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(
        self, loop: SchedulerLoop, *, once: bool, grace: float, verbosity: int
    ) -> None:
        from django_togo_scheduler.conf import app_settings
        from django_togo_scheduler.models import ScheduledJob

        service, dispatcher = loop.service, loop.service.dispatcher
        if not self._start(loop, once=once):  # stopped while the database was away
            return
        if once:
            try:
                loop.run_once()
            except DatabaseError as exc:
                raise CommandError(f"The database is unreachable: {exc}") from exc
            finally:
                # --once waits for its jobs; a signal meanwhile bounds the wait.
                while not service.stopping and dispatcher.held():
                    service.wait(0.2)
                dispatcher.shutdown(wait=True, grace=grace)
                loop.stop()
            return
        if verbosity:
            self.stdout.write(
                f"Scheduler started ({ScheduledJob.objects.count()} schedule(s), "
                f"timezone {app_settings.TIMEZONE}). Stop with Ctrl-C or SIGTERM."
            )
        loop.run_forever()
        # Inline runs in progress get the grace; a second signal ends the wait.
        dispatcher.shutdown(wait=True, grace=grace)
        loop.stop()
        if verbosity:
            self.stdout.write("Scheduler stopped.")

    @staticmethod
    def _start(loop: SchedulerLoop, *, once: bool) -> bool:
        """Sync the declared schedules; an invalid one is bad input (exit 2)."""
        try:
            return loop.start(retry=not once)
        except (TogoSchedulerError, ValueError) as exc:
            loop.service.dispatcher.shutdown(wait=False)
            raise CommandError(
                f"Cannot sync the declared schedules: {exc}", returncode=BAD_INPUT
            ) from exc
        except DatabaseError as exc:
            loop.service.dispatcher.shutdown(wait=False)
            raise CommandError(f"Cannot sync the declared schedules: {exc}") from exc

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        from django_togo_scheduler.service import get_scheduler

        service = get_scheduler()
        if service.stopping:
            self.stderr.write(
                "Second signal: exiting now; the jobs still running here are "
                "marked failed."
            )
            self.stderr.flush()
            _record_exit(service, self._loop)
            os._exit(1)
        # Stop first: a second signal may interrupt this handler itself, and
        # must then find the service stopping.
        service.stop()
        self.stderr.write(
            "Stopping: finishing the current tick and the jobs running here "
            "(signal again to exit at once)."
        )
        self.stderr.flush()


def _record_exit(service: Service, loop: SchedulerLoop) -> None:
    """Fail the runs still running here and record the stop, for at most a few seconds.

    In a thread of its own, with its own database connection: the main thread
    may be in the middle of a statement on its connection.
    """
    from django.db import connection

    from django_togo_scheduler import clock
    from django_togo_scheduler.dispatch.inline import SCHEDULER_EXITED

    dispatcher: RoutingDispatcher = service.dispatcher
    error = SCHEDULER_EXITED.format(
        worker=clock.worker_name(), why="a second signal ended the process"
    )

    def record() -> None:
        try:
            dispatcher.fail_held(error)
            loop.stop()
        finally:
            connection.close()

    writer = threading.Thread(target=record, name="togo-exit", daemon=True)
    writer.start()
    writer.join(EXIT_WRITES)
