"""The "no live scheduler" banner of the schedule pages, and the queue warning of the form."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from django_togo_scheduler.dispatch import configured_queues, rq_queue_configured
from django_togo_scheduler.processes import LIVE_WITHIN, live_processes


class SchedulerHealth:
    """Whether a scheduler is live, asked once when a page first shows it.

    The template reads ``down``; a page that is never rendered (an action's
    redirect) runs no query, and a page runs one whatever its number of rows.
    """

    def __init__(self, request: HttpRequest, now: datetime) -> None:
        self.now = now
        self.within = int(LIVE_WITHIN.total_seconds())
        user = request.user
        self.processes_url = (
            reverse("admin:django_togo_scheduler_schedulerprocess_changelist")
            if user.has_perm("django_togo_scheduler.view_schedulerprocess")
            else ""
        )

    @cached_property
    def down(self) -> bool:
        """True when no ``runscheduler`` ticked within LIVE_WITHIN and none is running."""
        return not live_processes(self.now, LIVE_WITHIN)


def queue_warning(queue: str) -> str:
    """Why runs sent to ``queue`` run inline, not on RQ; ``""`` when they go to RQ.

    A schedule's queue that no ``RQ_QUEUES`` entry has is not an error (the
    queue may be configured later), but its runs silently run in the
    scheduler's inline pool meanwhile.
    """
    if not queue or rq_queue_configured(queue):
        return ""
    names = configured_queues()
    if names:
        return _(
            "No RQ_QUEUES entry is named %(queue)r, so this schedule's runs run "
            "inline in the scheduler process, not on RQ. Configured queues: "
            "%(names)s."
        ) % {"queue": queue, "names": ", ".join(names)}
    return _(
        "No RQ_QUEUES entry is named %(queue)r (there is none, or django-rq is not "
        "installed), so this schedule's runs run inline in the scheduler process."
    ) % {"queue": queue}
