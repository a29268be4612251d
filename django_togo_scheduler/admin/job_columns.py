"""The schedules list's cells and the schedule form's read-only fields.

The list is laid out for a 1366 px laptop screen with the admin's navigation
open: the flags (paused, overdue, orphaned, no handler) are badges by the name,
the spec and its words share a cell, the zone goes with the next run, and the
last status, the run strip and the link to the runs share one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import tzinfo

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_togo_scheduler import clock
from django_togo_scheduler.admin import display
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.describe import describe
from django_togo_scheduler.exceptions import TogoSchedulerError
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.registry import registry
from django_togo_scheduler.schedules import schedule_zone


def recent(job: ScheduledJob) -> list[Run]:
    """The runs ScheduleChangeList attached (none outside a changelist)."""
    runs: list[Run] = getattr(job, "recent_runs", [])
    return runs


def zone_of(job: ScheduledJob) -> tzinfo | None:
    """The zone the schedule is read in; None for a zone that no longer exists."""
    try:
        return schedule_zone(job.timezone)
    except TogoSchedulerError:
        return None


def orphan_text(job: ScheduledJob) -> str:
    """What an orphaned schedule is, and how the mark goes away."""
    return _(
        "Orphaned since %(when)s: declared in code, but the code of the scheduler "
        "that synced last no longer declares it (an older release in a rolling "
        "deploy, or a removed declaration). It is kept as it is, pause included. "
        "A scheduler whose code declares it again clears the mark; "
        "'manage.py scheduler prune --orphans' removes it, and the schedulers "
        "remove it themselves once it has been orphaned for 7 days (ORPHAN_GRACE)."
    ) % {"when": display.format_time(job.orphaned_at)}


class ScheduleColumns:
    """Cells of ScheduledJobAdmin's list and read-only fields of its form."""

    @admin.display(description=gettext_lazy("name"), ordering="name")
    def job_name(self, obj: ScheduledJob) -> SafeString:
        badges = format_html_join(
            "",
            '<span class="togo-badge {}" title="{}">{}</span>',
            self.badges(obj),
        )
        if not badges:
            return display.breakable(obj.name)
        return format_html(
            '{}<span class="togo-badges">{}</span>', display.breakable(obj.name), badges
        )

    def badges(self, obj: ScheduledJob) -> Iterator[tuple[str, str, str]]:
        """(css class, tooltip, label) of each flag of a schedule."""
        if obj.paused:
            yield "togo-paused", self.pause_text(obj), _("paused")
        if obj.overdue_since is not None:
            since = display.format_time(obj.overdue_since)
            yield (
                "togo-warning",
                _("No successful run within max_age (%(max_age)s) since %(since)s.")
                % {"max_age": obj.max_age, "since": since},
                _("overdue"),
            )
        if obj.orphaned_at is not None:
            yield "togo-orphaned", orphan_text(obj), _("orphaned")
        if not registry.is_registered(obj.name):
            yield (
                "togo-warning",
                _("No job handler is registered under this name: it cannot run."),
                _("no handler"),
            )

    @admin.display(description=gettext_lazy("schedule"))
    def schedule(self, obj: ScheduledJob) -> SafeString:
        """The spec, and beneath it the spec in words (or why it is invalid)."""
        try:
            words, css = describe(obj.spec), "togo-quiet"
        except TogoSchedulerError as exc:
            words, css = str(exc), "togo-error"
        return format_html(
            '<code class="togo-spec">{}</code><span class="togo-words {}">{}</span>',
            obj.spec,
            css,
            words,
        )

    @admin.display(description=gettext_lazy("next run"), ordering="next_run_at")
    def next_run(self, obj: ScheduledJob) -> SafeString:
        """The next slot in the schedule's zone; beneath it, how soon, and the zone."""
        tz = zone_of(obj)
        if obj.next_run_at is None:
            when, soon = display.NO_VALUE, ""
        else:
            when = (
                display.format_time(obj.next_run_at, tz)
                if tz
                else obj.next_run_at.isoformat()
            )
            soon = display.relative(obj.next_run_at, clock.now())
        struck = " togo-struck" if obj.paused else ""
        return format_html(
            '<span class="togo-when{}">{}</span><span class="togo-soon">'
            '<span class="togo-quiet{}">{}</span> {}</span>',
            struck,
            when,
            struck,
            soon,
            self.zone(obj),
        )

    @admin.display(description=gettext_lazy("time zone"), ordering="timezone")
    def zone(self, obj: ScheduledJob) -> SafeString:
        if obj.timezone:
            return format_html(
                '<span class="togo-zone">{}</span>',
                display.breakable(obj.timezone, "/"),
            )
        return format_html(
            '<span class="togo-zone togo-default" title="{}">{}</span>',
            _("The TIMEZONE setting"),
            display.breakable(app_settings.TIMEZONE, "/"),
        )

    @admin.display(description=gettext_lazy("last runs"))
    def last_runs(self, obj: ScheduledJob) -> SafeString:
        """The last status, a link to all runs, and the strip of the last 20."""
        runs = recent(obj)
        return format_html(
            '<span class="togo-last" title="{}">{}{}</span>{}',
            _("last status"),
            display.status_badge(runs[0].status if runs else None),
            self.runs_link(obj),
            display.run_strip(runs),
        )

    @admin.display(description=gettext_lazy("runs"))
    def runs_link(self, obj: ScheduledJob) -> SafeString:
        return format_html(
            '<a class="togo-runs-link" href="{}">{}</a>',
            display.runs_url(obj.name),
            _("all runs"),
        )

    # the form's read-only fields

    @admin.display(description=gettext_lazy("paused by"))
    def pause_info(self, obj: ScheduledJob) -> str:
        return self.pause_text(obj) if obj.paused else display.NO_VALUE

    @staticmethod
    def pause_text(obj: ScheduledJob) -> str:
        """``by alice at 2026-11-27 12:00 CET: reason``."""
        text = _("by %(who)s at %(when)s") % {
            "who": obj.paused_by or _("someone"),
            "when": display.format_time(obj.paused_at),
        }
        return f"{text}: {obj.paused_reason}" if obj.paused_reason else text

    @admin.display(description=gettext_lazy("source"))
    def origin(self, obj: ScheduledJob) -> str:
        return obj.source or _("code or the SCHEDULE setting")

    @admin.display(description=gettext_lazy("orphaned since"))
    def orphaned(self, obj: ScheduledJob) -> str:
        return display.format_time(obj.orphaned_at)

    @admin.display(description=gettext_lazy("overdue since"))
    def overdue(self, obj: ScheduledJob) -> str:
        return display.format_time(obj.overdue_since)

    @admin.display(description=gettext_lazy("created at"))
    def created(self, obj: ScheduledJob) -> str:
        return display.format_time(obj.created_at)

    @admin.display(description=gettext_lazy("updated at"))
    def updated(self, obj: ScheduledJob) -> str:
        return display.format_time(obj.updated_at)
