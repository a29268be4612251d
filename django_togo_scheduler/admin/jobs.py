"""ScheduledJobAdmin: the schedules at a glance, their form with a live preview."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_togo_scheduler import clock, schedules
from django_togo_scheduler.admin.actions import ScheduleActions
from django_togo_scheduler.admin.filters import LastStatusFilter
from django_togo_scheduler.admin.forms import ScheduledJobForm
from django_togo_scheduler.admin.health import SchedulerHealth, queue_warning
from django_togo_scheduler.admin.history import recent_runs
from django_togo_scheduler.admin.job_columns import ScheduleColumns, orphan_text
from django_togo_scheduler.admin.pagination import NoCountChangeList, NoCountPaginator
from django_togo_scheduler.admin.preview import preview, preview_view, render_preview
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import ScheduledJob

PREVIEW_URL_NAME = "django_togo_scheduler_scheduledjob_preview"


class ScheduleChangeList(NoCountChangeList):
    """Loads the last runs of the page's schedules in one query."""

    def prepare_page(self, rows: list[Any]) -> None:
        runs = recent_runs(job.name for job in rows)
        for job in rows:
            job.recent_runs = runs.get(job.name, [])


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ScheduleColumns, ScheduleActions):
    form = ScheduledJobForm
    list_display = ("job_name", "schedule", "next_run", "last_runs")
    list_display_links = ("job_name",)
    list_filter = ("paused", LastStatusFilter)
    search_fields = ("name",)
    paginator = NoCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    readonly_fields = (
        "upcoming", "pause_info", "origin", "orphaned", "next_run",
        "overdue", "created", "updated", "runs_link", "why",
    )  # fmt: skip

    class Media:
        css = {"all": ["django_togo_scheduler/admin.css"]}
        js = ["django_togo_scheduler/preview.js"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[tuple[Any, dict[str, Any]]] = [
            (None, {"fields": ["name", "spec", "timezone", "upcoming"]}),
            (
                gettext_lazy("Pause"),
                {"fields": ["paused", "paused_reason", "pause_info"]},
            ),
            (
                gettext_lazy("Options"),
                {"fields": ["queue", "timeout", "catchup", "max_age"]},
            ),
        ]
        if obj is None:
            return fieldsets
        state = ["next_run", "why", "overdue", "runs_link", "created", "updated"]
        fieldsets.append((gettext_lazy("State"), {"fields": state}))
        if obj.declared:
            declared = gettext_lazy(
                "Declared in code: its spec and options come from that declaration, "
                "and code wins on the next deploy (when runscheduler starts). "
                "Change the declaration to change them for good; pausing stays."
            )
            fieldsets.insert(
                0,
                (
                    gettext_lazy("Declared"),
                    {"fields": ["origin"], "description": declared},
                ),
            )
        if obj.orphaned_at is not None:
            # The admin marks a fieldset's description safe: escape it.
            orphaned = {
                "fields": ["orphaned"],
                "description": conditional_escape(orphan_text(obj)),
                "classes": ["togo-orphaned-set"],
            }
            fieldsets.insert(0, (gettext_lazy("Orphaned"), orphaned))
        return fieldsets

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[Any]:
        return ScheduleChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"togo_health": SchedulerHealth(request, clock.now())}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"togo_health": SchedulerHealth(request, clock.now())}
        return super().changeform_view(
            request, object_id, form_url, {**context, **(extra_context or {})}
        )

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults: "<path:object_id>/" would take "preview/".
        view = self.admin_site.admin_view(self.preview)
        return [path("preview/", view, name=PREVIEW_URL_NAME), *super().get_urls()]

    def preview(self, request: HttpRequest) -> JsonResponse:
        """The JSON behind the form's preview; needs change or add permission."""
        if not (
            self.has_change_permission(request) or self.has_add_permission(request)
        ):
            return JsonResponse(
                {"ok": False, "error": _("Permission denied.")}, status=403
            )
        return preview_view(request)

    @admin.display(description=gettext_lazy("next fire times"))
    def upcoming(self, obj: ScheduledJob) -> SafeString:
        url = reverse(f"admin:{PREVIEW_URL_NAME}", current_app=self.admin_site.name)
        result = preview(obj.spec, obj.timezone, clock.now()) if obj.spec else None
        return render_preview(result, url)

    @admin.display(description=gettext_lazy("last slot, explained"))
    def why(self, obj: ScheduledJob) -> SafeString:
        """What ``manage.py scheduler explain`` says about the latest slot.

        One block per line, wrapping within the page (a hanging indent keeps
        the labels apart), instead of a ``<pre>`` running off its right edge.
        """
        from django_togo_scheduler.explain import explain

        try:
            lines = explain(obj.name, now=clock.now()).lines()
        except (TogoSchedulerError, LookupError, ValueError) as exc:
            lines = [str(exc)]
        return format_html(
            '<div class="togo-explain">{}</div>',
            format_html_join(
                "",
                '<div class="togo-explain-line">{}</div>',
                ((line,) for line in lines),
            ),
        )

    def save_model(
        self, request: HttpRequest, obj: ScheduledJob, form: Any, change: bool
    ) -> None:
        schedules.edit(
            obj,
            form.changed_data,
            created=not change,
            by=str(request.user),
            now=clock.now(),
        )
        super().save_model(request, obj, form, change)
        # Saved all the same: the queue may be configured later.
        warning = queue_warning(obj.queue)
        if warning:
            self.message_user(request, warning, messages.WARNING)
