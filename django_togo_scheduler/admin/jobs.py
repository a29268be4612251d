"""ScheduledJobAdmin: the schedules at a glance, their form with a live preview."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_togo_scheduler import clock
from django_togo_scheduler.admin import display
from django_togo_scheduler.admin.actions import ScheduleActions
from django_togo_scheduler.admin.filters import LastStatusFilter
from django_togo_scheduler.admin.forms import ScheduledJobForm
from django_togo_scheduler.admin.history import recent_runs
from django_togo_scheduler.admin.pagination import NoCountChangeList, NoCountPaginator
from django_togo_scheduler.admin.preview import preview, preview_view, render_preview
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.describe import describe
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import registry
from django_togo_scheduler.specs import get_timezone

PREVIEW_URL_NAME = "django_togo_scheduler_scheduledjob_preview"


class ScheduleChangeList(NoCountChangeList):
    """Loads the last runs of the page's schedules in one query."""

    def prepare_page(self, rows: list[Any]) -> None:
        runs = recent_runs(job.name for job in rows)
        for job in rows:
            job.recent_runs = runs.get(job.name, [])


def recent(job: ScheduledJob) -> list[Run]:
    """The runs ScheduleChangeList attached (none outside a changelist)."""
    runs: list[Run] = getattr(job, "recent_runs", [])
    return runs


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ScheduleActions):
    form = ScheduledJobForm
    list_display = (
        "job_name", "spec", "in_words", "zone", "pause_state",
        "next_run", "last_status", "recent", "runs_link",
    )  # fmt: skip
    list_display_links = ("job_name",)
    list_filter = ("paused", LastStatusFilter)
    search_fields = ("name",)
    paginator = NoCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    readonly_fields = (
        "in_words", "upcoming", "pause_info", "origin", "next_run",
        "overdue_since", "created_at", "updated_at", "runs_link", "why",
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
        if obj is not None:
            fieldsets.append(
                (
                    gettext_lazy("State"),
                    {
                        "fields": [
                            "next_run",
                            "why",
                            "overdue_since",
                            "runs_link",
                            "created_at",
                            "updated_at",
                        ]  # fmt: skip
                    },
                )
            )
        if obj is not None and obj.declared:
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
        return fieldsets

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[Any]:
        return ScheduleChangeList

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

    @admin.display(description=gettext_lazy("last slot, explained"))
    def why(self, obj: ScheduledJob) -> SafeString:
        """What ``manage.py scheduler explain`` says about the latest slot."""
        from django_togo_scheduler.explain import explain

        try:
            lines = explain(obj.name, now=clock.now()).lines()
        except (TogoSchedulerError, LookupError, ValueError) as exc:
            lines = [str(exc)]
        return format_html('<pre class="togo-explain">{}</pre>', "\n".join(lines))

    # columns

    @admin.display(description=gettext_lazy("name"), ordering="name")
    def job_name(self, obj: ScheduledJob) -> SafeString:
        if obj.overdue_since is not None:
            return format_html(
                '{} <span class="togo-badge togo-warning" title="{}">{}</span>',
                obj.name,
                _("No successful run within max_age (%(max_age)s) since %(since)s.")
                % {"max_age": obj.max_age, "since": obj.overdue_since.isoformat()},
                _("overdue"),
            )
        if registry.is_registered(obj.name):
            return format_html("{}", obj.name)
        return format_html(
            '{} <span class="togo-badge togo-warning" title="{}">{}</span>',
            obj.name,
            _("No job handler is registered under this name: it cannot run."),
            _("no handler"),
        )

    @admin.display(description=gettext_lazy("in words"))
    def in_words(self, obj: ScheduledJob) -> str:
        try:
            return describe(obj.spec)
        except TogoSchedulerError as exc:
            return str(exc)

    @admin.display(description=gettext_lazy("time zone"), ordering="timezone")
    def zone(self, obj: ScheduledJob) -> SafeString:
        if obj.timezone:
            return format_html("{}", obj.timezone)
        return format_html(
            '<span class="togo-quiet" title="{}">{}</span>',
            _("The TIMEZONE setting"),
            app_settings.TIMEZONE,
        )

    @admin.display(description=gettext_lazy("paused"), ordering="paused")
    def pause_state(self, obj: ScheduledJob) -> SafeString:
        if not obj.paused:
            return format_html('<span class="togo-quiet">{}</span>', _("no"))
        return format_html(
            '<span class="togo-badge togo-paused" title="{}">{}</span>',
            self.pause_text(obj),
            _("paused"),
        )

    @admin.display(description=gettext_lazy("next run"), ordering="next_run_at")
    def next_run(self, obj: ScheduledJob) -> SafeString:
        if obj.next_run_at is None:
            return format_html("{}", display.NO_VALUE)
        try:
            tz = get_timezone(obj.timezone or app_settings.TIMEZONE)
        except TogoSchedulerError:
            tz = None
        when = (
            display.format_in_zone(obj.next_run_at, tz)
            if tz
            else obj.next_run_at.isoformat()
        )
        css = "togo-quiet togo-struck" if obj.paused else "togo-quiet"
        return format_html(
            '<span class="togo-when">{}</span><br><span class="{}">{}</span>',
            when,
            css,
            display.relative(obj.next_run_at, clock.now()),
        )

    @admin.display(description=gettext_lazy("last status"))
    def last_status(self, obj: ScheduledJob) -> SafeString:
        runs = recent(obj)
        return display.status_badge(runs[0].status if runs else None)

    @admin.display(description=gettext_lazy("last 20 runs"))
    def recent(self, obj: ScheduledJob) -> SafeString:
        return display.run_strip(recent(obj))

    @admin.display(description=gettext_lazy("runs"))
    def runs_link(self, obj: ScheduledJob) -> SafeString:
        return format_html('<a href="{}">{}</a>', display.runs_url(obj.name), _("runs"))

    # change form

    @admin.display(description=gettext_lazy("next fire times"))
    def upcoming(self, obj: ScheduledJob) -> SafeString:
        url = reverse(f"admin:{PREVIEW_URL_NAME}", current_app=self.admin_site.name)
        if not obj.spec:
            result = {
                "ok": False,
                "error": _("Type a spec to see its next fire times."),
            }
        else:
            result = preview(obj.spec, obj.timezone, clock.now())
        return render_preview(result, url)

    @admin.display(description=gettext_lazy("paused by"))
    def pause_info(self, obj: ScheduledJob) -> str:
        return self.pause_text(obj) if obj.paused else display.NO_VALUE

    @staticmethod
    def pause_text(obj: ScheduledJob) -> str:
        """``by alice at 2026-11-27 12:00:00: reason``."""
        text = _("by %(who)s at %(when)s") % {
            "who": obj.paused_by or _("someone"),
            "when": display.format_local(obj.paused_at),
        }
        return f"{text}: {obj.paused_reason}" if obj.paused_reason else text

    @admin.display(description=gettext_lazy("source"))
    def origin(self, obj: ScheduledJob) -> str:
        return obj.source or _("code or the SCHEDULE setting")

    def save_model(
        self, request: HttpRequest, obj: ScheduledJob, form: Any, change: bool
    ) -> None:
        from django_togo_scheduler.service import first_slot

        changed = set(form.changed_data)
        now = clock.now()
        # Unpausing in the form is a resume: the slots missed while paused are
        # not replayed (API.md), so the schedule restarts from its next slot.
        resumed = "paused" in changed and not obj.paused
        if not change or resumed or {"spec", "timezone"} & changed:
            obj.next_run_at = first_slot(obj.spec, obj.timezone, now)
        if resumed:
            obj.paused_reason, obj.paused_by, obj.paused_at = "", "", None
        elif "paused" in changed:
            obj.paused_by, obj.paused_at = str(request.user), now
        super().save_model(request, obj, form, change)
