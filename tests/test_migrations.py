from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations__none_missing():
    out = StringIO()
    call_command(
        "makemigrations", "django_togo_scheduler", "--check", "--dry-run", stdout=out
    )
    assert "No changes detected" in out.getvalue()
