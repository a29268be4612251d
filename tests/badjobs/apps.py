from __future__ import annotations

from django.apps import AppConfig


class BadJobsConfig(AppConfig):
    name = "tests.badjobs"
    label = "badjobs"
    default_auto_field = "django.db.models.AutoField"
