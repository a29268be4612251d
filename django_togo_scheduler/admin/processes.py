"""SchedulerProcessAdmin: the running schedulers and their heartbeats, read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_togo_scheduler import clock
from django_togo_scheduler.admin import display
from django_togo_scheduler.models import SchedulerProcess
from django_togo_scheduler.processes import LIVE_WITHIN

if TYPE_CHECKING:
    ProcessAdminBase = admin.ModelAdmin[SchedulerProcess]
else:  # ModelAdmin is not subscriptable at run time
    ProcessAdminBase = admin.ModelAdmin

_STATE_CSS = {"live": "togo-status-done", "silent": "togo-warning"}


@admin.register(SchedulerProcess)
class SchedulerProcessAdmin(ProcessAdminBase):
    list_display = (
        "__str__", "state", "started", "last_tick", "stopped", "abandoned_threads",
    )  # fmt: skip
    readonly_fields = (
        "host", "pid", "state", "started", "last_tick", "stopped", "abandoned_threads",
    )  # fmt: skip
    fields = readonly_fields

    class Media:
        css = {"all": ["django_togo_scheduler/admin.css"]}

    def state_of(self, obj: SchedulerProcess) -> str:
        """``live`` (ticked within ``LIVE_WITHIN``, as ``scheduler status`` says),
        ``silent``, ``stopped``."""
        if obj.stopped_at is not None:
            return "stopped"
        return "live" if clock.now() - obj.last_tick_at <= LIVE_WITHIN else "silent"

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: SchedulerProcess) -> SafeString:
        state = self.state_of(obj)
        labels = {"live": _("live"), "silent": _("silent"), "stopped": _("stopped")}
        return format_html(
            '<span class="togo-badge {}">{}</span>',
            _STATE_CSS.get(state, "togo-none"),
            labels[state],
        )

    @admin.display(description=gettext_lazy("started at"), ordering="started_at")
    def started(self, obj: SchedulerProcess) -> str:
        return display.format_time(obj.started_at, seconds=True)

    @admin.display(description=gettext_lazy("last tick at"), ordering="last_tick_at")
    def last_tick(self, obj: SchedulerProcess) -> SafeString:
        return format_html(
            '{} <span class="togo-quiet">{}</span>',
            display.format_time(obj.last_tick_at, seconds=True),
            display.relative(obj.last_tick_at, clock.now()),
        )

    @admin.display(description=gettext_lazy("stopped at"), ordering="stopped_at")
    def stopped(self, obj: SchedulerProcess) -> str:
        return display.format_time(obj.stopped_at, seconds=True)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
