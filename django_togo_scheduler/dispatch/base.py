"""The small interface every dispatcher implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django_togo_scheduler.models import Run


class Dispatcher:
    """Hands committed, queued runs to something that will execute them.

    ``dispatch`` is called after the runs were committed and marked dispatched; it
    must not raise for a run it could not hand over (log it, and leave the run for
    the sweep). Execution itself is guarded by
    :func:`django_togo_scheduler.execution.execute_run`, so handing a run over
    twice is harmless.
    """

    def dispatch(self, runs: Sequence[Run]) -> None:
        """Arrange for each run to be executed."""
        raise NotImplementedError

    def check(self, now: datetime) -> None:
        """Per-tick housekeeping (the RQ lost-message check). Optional."""

    def abandoned_threads(self) -> int:
        """Threads left running a handler past its timeout (inline only)."""
        return 0

    def shutdown(self, wait: bool = True, grace: float | None = None) -> None:
        """Release resources; ``wait`` for runs in progress, at most ``grace`` s. Optional."""
