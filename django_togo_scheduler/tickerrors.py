"""How ``runscheduler`` logs a tick that failed on a database error.

Two kinds are told apart. An unreachable database (``OperationalError``,
``InterfaceError``: a refused or dropped connection) is an outage: its first
failure is logged with the traceback, each retry with one line, and the recovery
with how long it lasted. Any other ``DatabaseError`` (``DataError``,
``IntegrityError``, ``ProgrammingError`` ...) is a bug or bad data, never an
outage: it is logged with its type, message and traceback; an identical repeat
gets its traceback again at most every ``TRACEBACK_EVERY``, one line otherwise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, InterfaceError, OperationalError

from .text import error_line

TRACEBACK_EVERY = timedelta(minutes=5)  # an identical error's traceback, at most


def is_unreachable(exc: DatabaseError | InterfaceError) -> bool:
    """Whether ``exc`` says the database cannot be reached (an outage)."""
    return isinstance(exc, OperationalError | InterfaceError)


def describe(exc: BaseException) -> str:
    """``DataError (smallint out of range)``: the type and the message's first line."""
    line = error_line(str(exc))
    return f"{type(exc).__name__} ({line})" if line else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return error_line(str(exc)) or type(exc).__name__


class TickErrors:
    """The log of one loop's failing ticks; see the module docstring."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.since: datetime | None = None  # the first failure of this streak
        self.unreachable = False  # the streak had an unreachable database
        # The last error logged with its traceback, when, and the repeats since.
        self._shown: tuple[str, datetime] | None = None
        self._repeats = 0

    def failed(
        self, exc: DatabaseError | InterfaceError, retry_in: float, now: datetime
    ) -> None:
        """Log a tick's failure on ``exc``; the loop retries in ``retry_in`` s."""
        first = self.since is None
        if first:
            self.since = now
        if is_unreachable(exc):
            if first or not self.unreachable:
                self.logger.error(
                    "Tick failed: the database is unreachable (%s); retrying in %.0f s.",
                    _first_line(exc),
                    retry_in,
                    exc_info=exc,
                )
            else:
                self.logger.error(
                    "Database still unreachable (%s); retrying in %.0f s.",
                    _first_line(exc),
                    retry_in,
                )
            self.unreachable = True
            return
        self._failed_otherwise(exc, retry_in, now)

    def _failed_otherwise(
        self, exc: DatabaseError | InterfaceError, retry_in: float, now: datetime
    ) -> None:
        what = describe(exc)
        shown = self._shown
        if shown is not None and shown[0] == what and now - shown[1] < TRACEBACK_EVERY:
            self._repeats += 1
            self.logger.error(
                "Tick failed again on %s, %d time(s) since its traceback; "
                "retrying in %.0f s.",
                what,
                self._repeats,
                retry_in,
            )
            return
        self._shown, self._repeats = (what, now), 0
        self.logger.error(
            "Tick failed on %s; retrying in %.0f s.", what, retry_in, exc_info=exc
        )

    def recovered(self, now: datetime) -> None:
        """A tick succeeded: log the end of a failing streak, if there was one."""
        if self.since is None:
            return
        seconds = (now - self.since).total_seconds()
        if self.unreachable:
            self.logger.warning(
                "Database reachable again after %.0f s; ticking resumed.", seconds
            )
        else:
            self.logger.warning(
                "Ticking resumed after %.0f s of database errors.", seconds
            )
        self.since, self.unreachable = None, False
        self._shown, self._repeats = None, 0
