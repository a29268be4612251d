"""The schedule actions: pause (with a reason, after a confirmation page), resume, trigger now.

Each calls the Service (``get_scheduler()``) per schedule and says what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from django_togo_scheduler.admin.display import run_url
from django_togo_scheduler.admin.forms import PauseForm
from django_togo_scheduler.models import Run, ScheduledJob

if TYPE_CHECKING:
    ActionsBase = admin.ModelAdmin[ScheduledJob]
else:  # ModelAdmin is not subscriptable at run time
    ActionsBase = admin.ModelAdmin

LISTED = 10  # names a message or the confirmation page lists before "and N more"


def name_list(names: list[str]) -> str:
    """``a, b and 3 more``: at most LISTED names."""
    shown = ", ".join(names[:LISTED])
    rest = len(names) - LISTED
    return (
        shown
        if rest <= 0
        else _("%(names)s and %(count)d more")
        % {
            "names": shown,
            "count": rest,
        }
    )


def where_in_words(handover: Any) -> str:
    """Where a triggered run went (a ``manual.Handover``), for the message."""
    from django_togo_scheduler import manual

    if handover.where == manual.RQ:
        return _("queued on RQ queue %(queue)s") % {"queue": repr(handover.run.queue)}
    if handover.where == manual.SCHEDULER:
        return _("handed to the running scheduler %(names)s") % {
            "names": ", ".join(handover.schedulers)
        }
    return _("running in this process (no scheduler is running)")


class ScheduleActions(ActionsBase):
    """Pause, resume and trigger now, for ScheduledJobAdmin."""

    actions = ["pause_jobs", "resume_jobs", "trigger_jobs"]

    @admin.action(
        description=gettext_lazy("Pause selected schedules…"), permissions=["change"]
    )
    def pause_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> TemplateResponse | None:
        form = PauseForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return self.pause_confirmation(request, queryset, form)
        from django_togo_scheduler.service import get_scheduler

        reason, by = form.cleaned_data["reason"], str(request.user)
        names = list(queryset.values_list("name", flat=True))
        paused = []
        for name in names:
            try:
                get_scheduler().pause(name, reason=reason, by=by)
            except LookupError:  # deleted since the page was shown
                continue
            paused.append(name)
        message = ngettext(
            "Paused %(count)d schedule: %(names)s.",
            "Paused %(count)d schedules: %(names)s.",
            len(paused),
        ) % {"count": len(paused), "names": name_list(paused)}
        self.message_user(request, message, messages.SUCCESS)
        return None

    def pause_confirmation(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob], form: PauseForm
    ) -> TemplateResponse:
        """The page asking for the reason, like Django's delete confirmation."""
        select_across = request.POST.get("select_across") == "1"
        shown = list(queryset.values_list("pk", "name")[: LISTED + 1])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pause schedules"),
            "opts": self.opts,
            "form": form,
            "shown": shown[:LISTED],
            "more": len(shown) > LISTED,
            "select_across": select_across,
            # The ids go back with the confirmation (Django wants some even
            # with "select all", which acts on every row the filters match).
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/django_togo_scheduler/scheduledjob/pause_confirmation.html",
            context,
        )

    @admin.action(
        description=gettext_lazy("Resume selected schedules"), permissions=["change"]
    )
    def resume_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> None:
        from django_togo_scheduler.service import get_scheduler

        rows = list(queryset.values_list("name", "paused"))
        resumed = [name for name, paused in rows if paused]
        for name in resumed:
            get_scheduler().resume(name)
        message = ngettext(
            "Resumed %(count)d schedule",
            "Resumed %(count)d schedules",
            len(resumed),
        ) % {"count": len(resumed)}
        if resumed:
            message += f": {name_list(resumed)}"
        idle = len(rows) - len(resumed)
        if idle:
            message += ngettext(
                "; %(count)d was not paused", "; %(count)d were not paused", idle
            ) % {"count": idle}
        self.message_user(request, message + ".", messages.SUCCESS)

    @admin.action(
        description=gettext_lazy("Trigger selected jobs now"), permissions=["trigger"]
    )
    def trigger_jobs(
        self, request: HttpRequest, queryset: QuerySet[ScheduledJob]
    ) -> None:
        from django_togo_scheduler import manual
        from django_togo_scheduler.exceptions import UnknownJob
        from django_togo_scheduler.service import get_scheduler

        went: dict[str, list[Run]] = {}  # where the runs went, in words -> runs
        skipped: list[Run] = []
        unknown: list[str] = []
        for name in queryset.values_list("name", flat=True):
            try:
                handover = manual.trigger(get_scheduler().dispatcher, name)
            except UnknownJob:
                unknown.append(name)
                continue
            if handover.where == manual.SKIPPED:
                skipped.append(handover.run)
            else:
                went.setdefault(where_in_words(handover), []).append(handover.run)
        for outcome, runs in went.items():
            self.report(request, runs, outcome, messages.SUCCESS)
        self.report(request, skipped, _("skipped: still running"), messages.WARNING)
        if unknown:
            self.message_user(
                request,
                _("Not triggered, no job handler is registered: %(names)s.")
                % {"names": name_list(unknown)},
                messages.ERROR,
            )

    def report(
        self, request: HttpRequest, runs: list[Run], outcome: str, level: int
    ) -> None:
        """One message for the runs of one outcome, each linking to its run."""
        if not runs:
            return
        links = format_html_join(
            ", ",
            '{} (<a href="{}">run #{}</a>)',
            ((run.job, run_url(run.pk), run.pk) for run in runs[:LISTED]),
        )
        more = len(runs) - LISTED
        tail = _(" and %(count)d more") % {"count": more} if more > 0 else ""
        heading = outcome[:1].upper() + outcome[1:]
        self.message_user(
            request, format_html("{}: {}{}.", heading, links, tail), level
        )

    def has_trigger_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The custom ``trigger_scheduledjob`` permission."""
        codename = get_permission_codename("trigger", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")
