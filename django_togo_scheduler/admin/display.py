"""Markup and wording of the admin's columns: badges, the run strip, times, durations.

Everything goes through ``format_html``, so job names and error text are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

from django_togo_scheduler.models import Run

NO_VALUE = "-"

_STATUS_LABELS = dict(Run.Status.choices)


def status_badge(status: str | None) -> SafeString:
    """A coloured badge for a run status; a dash when there is none."""
    if not status:
        return format_html('<span class="togo-badge togo-none">{}</span>', _("never"))
    label = _STATUS_LABELS.get(status, status)
    return format_html(
        '<span class="togo-badge togo-status-{}">{}</span>', status, label
    )


def breakable(name: str, after: str = ".") -> SafeString:
    """A name that may wrap after each ``after`` (``a.<wbr>b``), escaped.

    For job names (dots) and zone names (``America/<wbr>Argentina/<wbr>Salta``),
    so that a long one wraps in its cell instead of widening the table.
    """
    joiner = mark_safe(conditional_escape(after) + "<wbr>")
    return format_html_join(joiner, "{}", ((part,) for part in name.split(after)))


def run_url(pk: int) -> str:
    """The admin page of one run."""
    return reverse("admin:django_togo_scheduler_run_change", args=[pk])


def runs_url(job: str) -> str:
    """The run log filtered to one job."""
    base = reverse("admin:django_togo_scheduler_run_changelist")
    return f"{base}?{urlencode({'job': job})}"


_PK = "987654321"  # stands for the id in a reversed run URL, then replaced


def run_strip(runs: Sequence[Run]) -> SafeString:
    """Runs (given newest first) as coloured marks, oldest on the left, each a link.

    A page shows up to 2,000 marks: the URL is reversed and the labels are
    translated once per strip, not once per mark.
    """
    if not runs:
        return format_html('<span class="togo-strip togo-empty">{}</span>', NO_VALUE)
    url = run_url(int(_PK))
    statuses = {value: str(label) for value, label in Run.Status.choices}
    triggers = {value: str(label) for value, label in Run.Trigger.choices}
    tz = timezone.get_current_timezone()
    marks = []
    for run in reversed(runs):
        moment = format_time(run.scheduled_for or run.created_at, tz)
        title = (
            f"#{run.pk} {statuses.get(run.status, run.status)} "
            f"{moment} ({triggers.get(run.trigger, run.trigger)})"
        )
        marks.append((run.status, url.replace(_PK, str(run.pk)), title, title))
    html = format_html_join(
        "",
        '<a class="togo-mark togo-status-{}" href="{}" title="{}" aria-label="{}"></a>',
        marks,
    )
    return format_html('<span class="togo-strip">{}</span>', html)


def format_time(
    moment: datetime | None,
    tz: tzinfo | None = None,
    *,
    seconds: bool | None = None,
    zone: bool = True,
) -> str:
    """``2026-11-28 08:30 JST``: how the admin writes every moment.

    The wall time in ``tz`` (default: the admin's current time zone) with the
    zone's abbreviation (left out with ``zone=False``, where the zone is given
    next to it). Seconds are shown when ``seconds`` says so, or by default when
    not zero. A dash for no moment.
    """
    if moment is None:
        return NO_VALUE
    local = moment.astimezone(tz or timezone.get_current_timezone())
    if seconds is None:
        seconds = bool(local.second)
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return local.strftime(f"{pattern} %Z" if zone else pattern)


def format_clock(moment: datetime, tz: tzinfo, day: datetime | None) -> str:
    """``12:00:04``, the time to the second, dated only when not on ``day``'s date.

    For a moment shown next to another (``day``) whose date and zone are given.
    """
    local = moment.astimezone(tz)
    same_day = day is not None and day.astimezone(tz).date() == local.date()
    return local.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def relative(moment: datetime, now: datetime) -> str:
    """``in 3 minutes`` or ``2 hours ago``; seconds under a minute."""
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        whole = round(abs(seconds))
        return _("in %d s") % whole if seconds >= 0 else _("%d s ago") % whole
    if seconds > 0:
        return _("in %s") % timeuntil(moment, now, depth=1)
    return _("%s ago") % timesince(moment, now, depth=1)


def format_seconds(span: timedelta | None) -> str:
    """A duration for people: ``0.25 s``, ``12.3 s``, ``4 min 5 s``, ``2 h 10 min``."""
    if span is None:
        return NO_VALUE
    seconds = span.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.2f} s"
    if seconds < 60:
        return f"{sign}{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60} s"
    return f"{sign}{whole // 3600} h {whole % 3600 // 60} min"
