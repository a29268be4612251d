"""The test settings plus ``tests.badjobs``, whose declarations are invalid."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.badjobs"]
