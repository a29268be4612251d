"""The schedule form and the pause confirmation's form."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_togo_scheduler.admin.health import queue_warning
from django_togo_scheduler.dispatch import configured_queues
from django_togo_scheduler.models import ScheduledJob

REASON_MAX_LENGTH = 1000  # characters of a pause reason typed in the admin
QUEUE_HELP = _(
    "The django-rq queue (a name in RQ_QUEUES) its runs are sent to; empty means "
    "the QUEUE setting. A name RQ_QUEUES lacks runs them inline."
)


@functools.cache
def zone_names() -> list[str]:
    """Every IANA zone name this Python knows, sorted."""
    return sorted(zoneinfo.available_timezones())


def job_names() -> list[str]:
    """The registered job names."""
    from django_togo_scheduler.registry import registry

    return registry.names()


class SuggestInput(forms.TextInput):
    """A text box with a ``<datalist>`` of suggestions: typing stays free."""

    template_name = "django_togo_scheduler/widgets/suggest_input.html"

    def __init__(
        self, suggestions: Callable[[], list[str]], list_id: str, **attrs: Any
    ) -> None:
        super().__init__(attrs={"list": list_id, "autocomplete": "off", **attrs})
        self.suggestions = suggestions
        self.list_id = list_id

    def get_context(
        self, name: str, value: Any, attrs: dict[str, Any] | None
    ) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["suggestions"] = self.suggestions()
        context["widget"]["list_id"] = self.list_id
        return context


class ScheduledJobForm(forms.ModelForm):  # type: ignore[type-arg]
    """Spec, zone and max age are checked by ``ScheduledJob.clean``; the name here."""

    class Meta:
        model = ScheduledJob
        fields = [
            "name", "spec", "timezone", "paused", "paused_reason",
            "queue", "timeout", "catchup", "max_age",
        ]  # fmt: skip
        widgets = {
            "spec": forms.TextInput(
                attrs={"autocomplete": "off", "spellcheck": "false", "size": 30}
            ),
            "name": SuggestInput(job_names, "togo-job-names", size=40),
            "timezone": SuggestInput(zone_names, "togo-timezones", size=30),
            "queue": SuggestInput(configured_queues, "togo-queues", size=30),
            "paused_reason": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }
        help_texts = {
            "spec": _(
                "Five cron fields (minute hour day-of-month month day-of-week), "
                "a macro such as @daily or @hourly, or @every 30s / 5m / 1h30m."
            ),
            "timezone": _(
                "The zone the spec is read in, e.g. Europe/Berlin; empty means the "
                "TIMEZONE setting."
            ),
            "queue": QUEUE_HELP,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Next to the field: the queue typed (or saved) that RQ does not know.
        queue = (
            self.data.get(self.add_prefix("queue"), "")
            if self.is_bound
            else self.instance.queue
        )
        warning = queue_warning(str(queue).strip())
        if warning:
            self.fields["queue"].help_text = format_html(
                '<span class="togo-field-warning">{}</span><br>{}', warning, QUEUE_HELP
            )

    def clean_name(self) -> str:
        from django_togo_scheduler.registry import registry

        name: str = self.cleaned_data["name"]
        # An existing schedule keeps its name even if its handler went away.
        if name != self.instance.name and not registry.is_registered(name):
            raise forms.ValidationError(
                _("No job handler is registered under the name %(name)r."),
                params={"name": name},
            )
        return name


class PauseForm(forms.Form):
    """The optional reason asked for before pausing schedules."""

    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Optional; shown with the schedule while it is paused."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].widget.attrs["autofocus"] = True
