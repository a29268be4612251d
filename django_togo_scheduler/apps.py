"""The app's configuration: autodiscovery of jobs modules and system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class TogoSchedulerConfig(AppConfig):
    """django-togo-scheduler."""

    name = "django_togo_scheduler"
    verbose_name = _("Scheduler")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks as togo_checks
        from .conf import app_settings
        from .registry import autodiscover

        autodiscover(app_settings.AUTODISCOVER)
        for check in (
            togo_checks.check_settings,
            togo_checks.check_schedule,
            togo_checks.check_queue,
        ):
            checks.register(check, "django_togo_scheduler")
