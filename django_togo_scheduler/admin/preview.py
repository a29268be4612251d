"""The change form's preview of the next fire times, and the JSON view that refreshes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from django_togo_scheduler import clock
from django_togo_scheduler.admin.display import format_time, relative
from django_togo_scheduler.conf import app_settings
from django_togo_scheduler.describe import describe
from django_togo_scheduler.exceptions import InvalidSpec, InvalidTimezone
from django_togo_scheduler.specs import fire_times, get_timezone

PREVIEW_COUNT = 5  # fire times the change form previews
MAX_INPUT = 200  # characters of spec or zone the view accepts (the fields' max_length)


def preview(spec: str, zone: str, now: datetime) -> dict[str, Any]:
    """What the preview shows for ``spec`` read in ``zone`` (empty: the default zone).

    ``{"ok": True, "description", "timezone", "times": [{"at", "local", "relative"}]}``,
    or ``{"ok": False, "field": "spec" | "timezone", "error": <InvalidSpec message>}``.
    """
    zone = zone.strip() or app_settings.TIMEZONE
    try:
        tz = get_timezone(zone)
    except InvalidTimezone as exc:
        return {"ok": False, "field": "timezone", "error": str(exc)}
    try:
        description = describe(spec)
        times = fire_times(spec, now, tz, PREVIEW_COUNT)
    except InvalidSpec as exc:
        return {"ok": False, "field": "spec", "error": str(exc)}
    seconds = any(at.second for at in times)  # one format for the whole list
    return {
        "ok": True,
        "description": description,
        "timezone": zone,
        "times": [
            {
                "at": at.isoformat(),
                "local": format_time(at, tz, seconds=seconds),
                "relative": relative(at, now),
            }
            for at in times
        ],
    }


def render_preview(result: dict[str, Any] | None, url: str) -> SafeString:
    """The preview box as first rendered (None: no spec yet); ``preview.js`` keeps it up to date.

    With no spec the box holds a quiet hint (``data-hint``, which ``preview.js``
    shows again when the spec is emptied), not an error.
    """
    hint = _("Type a spec to see its next fire times.")
    if result is None:
        body = format_html('<p class="togo-preview-hint">{}</p>', hint)
    elif result["ok"]:
        items = format_html_join(
            "",
            '<li><time datetime="{}">{}</time> <span class="togo-quiet">{}</span></li>',
            ((t["at"], t["local"], t["relative"]) for t in result["times"]),
        )
        body = format_html(
            '<p class="togo-description">{}</p><ol class="togo-times">{}</ol>',
            result["description"],
            items,
        )
    else:
        body = format_html('<p class="togo-preview-error">{}</p>', result["error"])
    return format_html(
        '<div id="togo-preview" data-url="{}" data-hint="{}" aria-live="polite">{}</div>',
        url,
        hint,
        body,
    )


def preview_view(request: HttpRequest) -> JsonResponse:
    """``GET ?spec=...&timezone=...``: the preview as JSON (the admin checks access)."""
    spec = request.GET.get("spec", "")[:MAX_INPUT]
    zone = request.GET.get("timezone", "")[:MAX_INPUT]
    result = preview(spec, zone, clock.now())
    return JsonResponse(result, status=200 if result["ok"] else 400)
