"""Choosing how runs are executed: django-rq when configured, else inline."""

from __future__ import annotations

from ..conf import app_settings
from .base import Dispatcher


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


def get_dispatcher() -> Dispatcher:
    """A new dispatcher for this process: the inline thread pool."""
    from .inline import InlineDispatcher

    return InlineDispatcher(workers=app_settings.INLINE_WORKERS)
