"""RunAdmin: the run log, read-only; deleting runs is for superusers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from django_togo_scheduler.admin import display
from django_togo_scheduler.admin.filters import JobFilter, RunDateFilter
from django_togo_scheduler.admin.pagination import NoCountChangeList, NoCountPaginator
from django_togo_scheduler.models import Run

if TYPE_CHECKING:
    RunAdminBase = admin.ModelAdmin[Run]
else:  # ModelAdmin is not subscriptable at run time
    RunAdminBase = admin.ModelAdmin

# The run page: every field read-only, the error whole at the end.
RUN_FIELDS: list[Any] = [
    "job_link", "status_badge", "trigger", "slot", "created_at", "dispatched_at",
    "dispatch_count", "started", "finished", "duration", "lateness",
    "heartbeat_at", "timeout", "queue", "worker",
]  # fmt: skip


@admin.register(Run)
class RunAdmin(RunAdminBase):
    list_display = (
        "id", "job_link", "status_badge", "trigger", "slot", "started",
        "finished", "duration", "lateness", "error_line",
    )  # fmt: skip
    list_display_links = ("id",)
    list_filter = (
        JobFilter,
        "status",
        "trigger",
        ("created_at", RunDateFilter),
    )
    search_fields = ("job", "error")
    search_help_text = gettext_lazy("Job name or error text (contains).")
    # Sorting a million rows by anything but the primary key is a full sort.
    sortable_by = ("id",)
    paginator = NoCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    fieldsets = (
        (None, {"fields": RUN_FIELDS}),
        (gettext_lazy("Error"), {"fields": ["traceback"]}),
    )

    class Media:
        css = {"all": ["django_togo_scheduler/admin.css"]}

    def get_readonly_fields(
        self, request: HttpRequest, obj: Run | None = None
    ) -> list[str]:
        return [*RUN_FIELDS, "traceback"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[Any]:
        return NoCountChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Run | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Run | None = None
    ) -> bool:
        return bool(request.user.is_superuser)

    @admin.display(description=gettext_lazy("job"))
    def job_link(self, obj: Run) -> SafeString:
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            display.runs_url(obj.job),
            gettext_lazy("Runs of this job"),
            obj.job,
        )

    @admin.display(description=gettext_lazy("status"))
    def status_badge(self, obj: Run) -> SafeString:
        return display.status_badge(obj.status)

    @admin.display(description=gettext_lazy("scheduled for"))
    def slot(self, obj: Run) -> str:
        return display.format_local(obj.scheduled_for)

    @admin.display(description=gettext_lazy("started"))
    def started(self, obj: Run) -> str:
        return display.format_local(obj.started_at)

    @admin.display(description=gettext_lazy("finished"))
    def finished(self, obj: Run) -> str:
        return display.format_local(obj.finished_at)

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, obj: Run) -> str:
        return display.format_seconds(obj.duration)

    @admin.display(description=gettext_lazy("lateness"))
    def lateness(self, obj: Run) -> str:
        """How long after its slot the run started."""
        if obj.started_at is None or obj.scheduled_for is None:
            return display.NO_VALUE
        return display.format_seconds(obj.started_at - obj.scheduled_for)

    @admin.display(description=gettext_lazy("error"))
    def error_line(self, obj: Run) -> SafeString:
        # A failed run's error in red; a skipped run's reason quietly.
        css = "togo-error" if obj.status == Run.Status.FAILED else "togo-quiet"
        line = display.first_line(obj.error)
        if not line:
            return format_html("{}", "")
        return format_html('<span class="{}">{}</span>', css, line)

    @admin.display(description=gettext_lazy("traceback"))
    def traceback(self, obj: Run) -> SafeString:
        if not obj.error:
            return format_html("{}", display.NO_VALUE)
        return format_html('<pre class="togo-traceback">{}</pre>', obj.error)
