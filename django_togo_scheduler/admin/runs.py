"""RunAdmin: the run log, read-only; deleting runs is for superusers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_togo_scheduler.admin import display
from django_togo_scheduler.admin.filters import JobFilter, RunDateFilter
from django_togo_scheduler.admin.pagination import NoCountChangeList, NoCountPaginator
from django_togo_scheduler.models import Run
from django_togo_scheduler.text import error_line

if TYPE_CHECKING:
    RunAdminBase = admin.ModelAdmin[Run]
else:  # ModelAdmin is not subscriptable at run time
    RunAdminBase = admin.ModelAdmin

# The run page: every field read-only, the error whole at the end.
RUN_FIELDS: list[Any] = [
    "job_link", "status_badge", "trigger", "slot", "created", "dispatched",
    "dispatch_count", "started", "finished", "duration", "lateness",
    "heartbeat", "timeout", "queue", "worker",
]  # fmt: skip


@admin.register(Run)
class RunAdmin(RunAdminBase):
    # Laid out for a 1366 px screen with the admin's navigation open (CSS: a
    # fixed table layout): the error's line goes under the job, in the one
    # column that takes the room left, cut to fit; the trigger goes under the
    # status; the slot, started, finished, lateness and duration share a cell.
    list_display = ("id", "job_and_error", "state", "when")
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
            display.breakable(obj.job),
        )

    @admin.display(description=gettext_lazy("job, error"))
    def job_and_error(self, obj: Run) -> SafeString:
        """The job (a link to its runs); beneath it, the error's line."""
        return format_html("{}{}", self.job_link(obj), self.error_line(obj))

    @admin.display(description=gettext_lazy("status"))
    def status_badge(self, obj: Run) -> SafeString:
        return display.status_badge(obj.status)

    @admin.display(description=gettext_lazy("status"))
    def state(self, obj: Run) -> SafeString:
        """The status badge; beneath it, the trigger."""
        return format_html(
            '{}<span class="togo-quiet togo-trigger">{}</span>',
            display.status_badge(obj.status),
            obj.get_trigger_display(),
        )

    @admin.display(description=gettext_lazy("scheduled for"))
    def slot(self, obj: Run) -> SafeString:
        """The slot; a manual run has none and shows when it was recorded, greyed."""
        if obj.scheduled_for is not None:
            return format_html(
                '<span class="togo-slot">{}</span>',
                display.format_time(obj.scheduled_for),
            )
        return format_html(
            '<span class="togo-slot togo-quiet" title="{}">{}</span>',
            gettext_lazy("No slot: recorded at this time"),
            display.format_time(obj.created_at, seconds=True),
        )

    @admin.display(description=gettext_lazy("scheduled for, ran"))
    def when(self, obj: Run) -> SafeString:
        """The slot; beneath it ``12:00:01 → 12:00:04``, then lateness and duration.

        The start and finish are on the slot's date and in its zone unless dated.
        """
        if obj.started_at is None:
            return self.slot(obj)
        tz = timezone.get_current_timezone()
        day = obj.scheduled_for or obj.created_at
        started = display.format_clock(obj.started_at, tz, day)
        finished = (
            display.format_clock(obj.finished_at, tz, day)
            if obj.finished_at is not None
            else "…"
        )
        notes = [self.lateness(obj)] if obj.scheduled_for else []
        if obj.duration is not None:
            notes.append(_("took %s") % display.format_seconds(obj.duration))
        return format_html(
            '{}<span class="togo-ran">{} → {}</span><span class="togo-quiet">{}</span>',
            self.slot(obj),
            started,
            finished,
            " · ".join(notes),
        )

    @admin.display(description=gettext_lazy("started"))
    def started(self, obj: Run) -> str:
        return display.format_time(obj.started_at, seconds=True)

    @admin.display(description=gettext_lazy("finished"))
    def finished(self, obj: Run) -> str:
        return display.format_time(obj.finished_at, seconds=True)

    @admin.display(description=gettext_lazy("created at"))
    def created(self, obj: Run) -> str:
        return display.format_time(obj.created_at, seconds=True)

    @admin.display(description=gettext_lazy("dispatched at"))
    def dispatched(self, obj: Run) -> str:
        return display.format_time(obj.dispatched_at, seconds=True)

    @admin.display(description=gettext_lazy("heartbeat at"))
    def heartbeat(self, obj: Run) -> str:
        return display.format_time(obj.heartbeat_at, seconds=True)

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, obj: Run) -> str:
        return display.format_seconds(obj.duration)

    @admin.display(description=gettext_lazy("lateness"))
    def lateness(self, obj: Run) -> str:
        """How long after its slot the run started: ``1.20 s late``."""
        if obj.started_at is None or obj.scheduled_for is None:
            return display.NO_VALUE
        late = obj.started_at - obj.scheduled_for
        if late.total_seconds() < 0:
            return _("%s early") % display.format_seconds(-late)
        return _("%s late") % display.format_seconds(late)

    @admin.display(description=gettext_lazy("error"))
    def error_line(self, obj: Run) -> SafeString:
        # A failed run's error in red; a skipped run's reason quietly. The
        # cell cuts the line to its width; the tooltip has it whole.
        css = "togo-error" if obj.status == Run.Status.FAILED else "togo-quiet"
        line = error_line(obj.error, 120)
        if not line:
            return format_html("{}", "")
        return format_html(
            '<span class="togo-error-line {}" title="{}">{}</span>', css, line, line
        )

    @admin.display(description=gettext_lazy("traceback"))
    def traceback(self, obj: Run) -> SafeString:
        if not obj.error:
            return format_html("{}", display.NO_VALUE)
        return format_html('<pre class="togo-traceback">{}</pre>', obj.error)
