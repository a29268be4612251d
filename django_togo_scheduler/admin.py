"""Admin for schedules (pause, resume, trigger now) and a read-only run log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Run, ScheduledJob

PREVIEW_COUNT = 5  # fire times the change form previews

if TYPE_CHECKING:
    JobAdminBase = admin.ModelAdmin[ScheduledJob]
    RunAdminBase = admin.ModelAdmin[Run]
else:  # ModelAdmin is not subscriptable at run time
    JobAdminBase = RunAdminBase = admin.ModelAdmin


class ScheduledJobForm(forms.ModelForm):  # type: ignore[type-arg]
    """Spec, zone and max age are checked by ``ScheduledJob.clean``; the name here."""

    def clean_name(self) -> str:
        from .registry import registry

        name: str = self.cleaned_data["name"]
        # An existing schedule keeps its name even if its handler went away.
        if name != self.instance.name and not registry.is_registered(name):
            raise forms.ValidationError(
                _("No job handler is registered under the name %(name)r."),
                params={"name": name},
            )
        return name


@admin.register(ScheduledJob)
class ScheduledJobAdmin(JobAdminBase):
    form = ScheduledJobForm
    list_display = ("name", "spec", "timezone", "paused", "next_run_at", "last_status")
    list_filter = ("paused",)
    search_fields = ("name",)
    readonly_fields = ("next_run_at", "upcoming", "created_at", "updated_at")
    actions = ["pause_jobs", "resume_jobs", "trigger_jobs"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduledJob]:
        # The last status in the same query as the rows, not one query per row.
        last = (
            Run.objects.filter(job=OuterRef("name"))
            .order_by("-id")
            .values("status")[:1]
        )
        return super().get_queryset(request).annotate(last_run_status=Subquery(last))

    @admin.display(description=_("last status"))
    def last_status(self, obj: ScheduledJob) -> str:
        status = getattr(obj, "last_run_status", None)
        return status or "-"

    @admin.display(description=_("next fire times"))
    def upcoming(self, obj: ScheduledJob) -> str:
        from . import clock
        from .conf import app_settings
        from .exceptions import TogoSchedulerError
        from .specs import fire_times, get_timezone

        try:
            tz = get_timezone(obj.timezone or app_settings.TIMEZONE)
            times = fire_times(obj.spec, clock.now(), tz, PREVIEW_COUNT)
        except TogoSchedulerError:
            return "-"
        return format_html_join(
            "", "<div>{}</div>", ((at.astimezone(tz).isoformat(),) for at in times)
        )

    def save_model(
        self, request: HttpRequest, obj: ScheduledJob, form: Any, change: bool
    ) -> None:
        from . import clock
        from .service import first_slot

        changed = set(form.changed_data)
        # Unpausing in the form is a resume: the slots missed while paused are
        # not replayed (API.md), so the schedule restarts from its next slot.
        resumed = "paused" in changed and not obj.paused
        if not change or resumed or {"spec", "timezone"} & changed:
            obj.next_run_at = first_slot(obj.spec, obj.timezone, clock.now())
        if resumed:
            obj.paused_reason = ""
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Pause selected schedules"), permissions=["change"])
    def pause_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> None:
        from .service import get_scheduler

        names = list(queryset.values_list("name", flat=True))
        for name in names:
            get_scheduler().pause(
                name, reason="paused in the admin", by=str(request.user)
            )
        self.message_user(
            request,
            ngettext("Paused %d schedule.", "Paused %d schedules.", len(names))
            % len(names),
            messages.SUCCESS,
        )

    @admin.action(description=_("Resume selected schedules"), permissions=["change"])
    def resume_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> None:
        from .service import get_scheduler

        names = list(queryset.values_list("name", flat=True))
        for name in names:
            get_scheduler().resume(name)
        self.message_user(
            request,
            ngettext("Resumed %d schedule.", "Resumed %d schedules.", len(names))
            % len(names),
            messages.SUCCESS,
        )

    @admin.action(description=_("Trigger selected jobs now"), permissions=["trigger"])
    def trigger_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> None:
        from .exceptions import UnknownJob
        from .service import get_scheduler

        for name in queryset.values_list("name", flat=True):
            try:
                run = get_scheduler().trigger(name)
            except UnknownJob as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            if run.status == Run.Status.SKIPPED:
                self.message_user(
                    request, _("%s: skipped, still running.") % name, messages.WARNING
                )
            else:
                self.message_user(
                    request, _("%s: run #%s queued.") % (name, run.pk), messages.SUCCESS
                )

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_togo_scheduler.trigger_scheduledjob")


@admin.register(Run)
class RunAdmin(RunAdminBase):
    list_display = (
        "id",
        "job",
        "status",
        "trigger",
        "scheduled_for",
        "started_at",
        "finished_at",
        "worker",
    )
    list_filter = ("job", "status", "trigger")
    search_fields = ("job",)
    show_full_result_count = False

    def get_readonly_fields(
        self, request: HttpRequest, obj: Run | None = None
    ) -> list[str]:
        return [field.name for field in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Run | None = None
    ) -> bool:
        return False
