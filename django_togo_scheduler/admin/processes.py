"""SchedulerProcessAdmin: the running schedulers and their heartbeats, read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from django_togo_scheduler import clock
from django_togo_scheduler.models import SchedulerProcess

if TYPE_CHECKING:
    ProcessAdminBase = admin.ModelAdmin[SchedulerProcess]
else:  # ModelAdmin is not subscriptable at run time
    ProcessAdminBase = admin.ModelAdmin

LIVE_WITHIN = 30  # seconds: as ``scheduler status`` counts a scheduler live


@admin.register(SchedulerProcess)
class SchedulerProcessAdmin(ProcessAdminBase):
    list_display = ("__str__", "state", "started_at", "last_tick_at", "stopped_at")
    readonly_fields = ("host", "pid", "started_at", "last_tick_at", "stopped_at")

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: SchedulerProcess) -> str:
        if obj.stopped_at is not None:
            return str(gettext_lazy("stopped"))
        age = (clock.now() - obj.last_tick_at).total_seconds()
        return str(
            gettext_lazy("live") if age <= LIVE_WITHIN else gettext_lazy("silent")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
