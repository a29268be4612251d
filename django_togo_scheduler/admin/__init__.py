"""The admin: schedules (changelist, actions, form with a live preview) and the run log.

Django's admin autodiscovery imports this package; the ModelAdmins register
themselves with ``@admin.register``.
"""

from __future__ import annotations

from django_togo_scheduler.admin.jobs import ScheduledJobAdmin
from django_togo_scheduler.admin.processes import SchedulerProcessAdmin
from django_togo_scheduler.admin.runs import RunAdmin

__all__ = ["RunAdmin", "ScheduledJobAdmin", "SchedulerProcessAdmin"]
