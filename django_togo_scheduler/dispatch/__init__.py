"""Choosing how runs are executed: django-rq when their queue is configured, else inline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.models import Run

from .base import Dispatcher

if TYPE_CHECKING:
    from .inline import InlineDispatcher
    from .rq import RQDispatcher


def resolve_queue(queue: str | None = None) -> str:
    """The django-rq queue a run goes to, or ``""`` for inline execution."""
    name = queue or app_settings.QUEUE
    if name and rq_queue_configured(name):
        return name
    return ""


def rq_queue_configured(name: str) -> bool:
    """Whether ``django_rq`` is installed and ``RQ_QUEUES`` has a queue ``name``."""
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("django_rq"):
        return False
    return name in (getattr(settings, "RQ_QUEUES", None) or {})


def configured_queues() -> list[str]:
    """The django-rq queues runs can go to, sorted; empty without ``django_rq``."""
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("django_rq"):
        return []
    return sorted(getattr(settings, "RQ_QUEUES", None) or {})


def _any_rq_queue() -> bool:
    from django.apps import apps
    from django.conf import settings

    return apps.is_installed("django_rq") and bool(getattr(settings, "RQ_QUEUES", None))


class RoutingDispatcher(Dispatcher):
    """Sends each run to RQ (its ``queue`` names one) or to the inline pool.

    Both are created on first use, so a project without Redis never connects to
    it and a project without inline runs starts no threads.
    """

    def __init__(self, inline_workers: int) -> None:
        self._inline_workers = inline_workers
        self._inline: InlineDispatcher | None = None
        self._rq: RQDispatcher | None = None

    @property
    def inline(self) -> InlineDispatcher:
        """The inline thread pool of this process."""
        if self._inline is None:
            from .inline import InlineDispatcher

            self._inline = InlineDispatcher(workers=self._inline_workers)
        return self._inline

    @property
    def rq(self) -> RQDispatcher:
        """The django-rq dispatcher."""
        if self._rq is None:
            from .rq import RQDispatcher

            self._rq = RQDispatcher()
        return self._rq

    def dispatch(self, runs: Sequence[Run]) -> None:
        groups: dict[bool, list[Run]] = defaultdict(list)
        for run in runs:
            groups[bool(run.queue)].append(run)
        if groups[False]:
            self.inline.dispatch(groups[False])
        if groups[True]:
            self.rq.dispatch(groups[True])

    def check(self, now: datetime) -> None:
        # The inline pool looks after its runs itself (its monitor thread), in
        # any process: nothing of it is on the tick's path.
        if self._rq is not None or _any_rq_queue():
            self.rq.check(now)

    def abandoned_threads(self) -> int:
        return self._inline.abandoned_threads() if self._inline is not None else 0

    def held(self) -> list[int]:
        """Ids of the runs the inline pool holds (waiting or running)."""
        return self._inline.held() if self._inline is not None else []

    def fail_held(self, error: str) -> list[int]:
        """Fail the inline runs running here with ``error``; put the others back."""
        return self._inline.fail_held(error) if self._inline is not None else []

    def shutdown(self, wait: bool = True, grace: float | None = None) -> None:
        if self._inline is not None:
            self._inline.shutdown(wait=wait, grace=grace)


def get_dispatcher() -> RoutingDispatcher:
    """A new dispatcher for this process."""
    return RoutingDispatcher(inline_workers=app_settings.INLINE_WORKERS)
