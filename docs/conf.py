"""Sphinx configuration of the django-togo-scheduler documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (needs sphinx, furo and
myst-parser). Set ``TOGO_DOCS_OFFLINE=1`` to build without fetching Django's
intersphinx inventory.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _version() -> str:
    # Read, not imported, so the version is known before Django is set up.
    text = (ROOT / "django_togo_scheduler" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "unknown"


project = "django-togo-scheduler"
author = "django-togo-scheduler developers"
copyright = "django-togo-scheduler developers"
release = _version()
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

# The API reference is read from the docstrings: autodoc imports the package,
# which needs Django set up (the example project's settings will do).
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
import django  # noqa: E402

django.setup()
autodoc_member_order = "bysource"
autodoc_typehints = "description"

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

try:
    import furo  # noqa: F401
except ImportError:  # furo is the theme we build with; alabaster keeps a build possible
    html_theme = "alabaster"
else:
    html_theme = "furo"
html_title = f"django-togo-scheduler {release}"

intersphinx_mapping: dict[str, tuple[str, Any]] = {
    "python": ("https://docs.python.org/3", None),
    "django": (
        "https://docs.djangoproject.com/en/stable/",
        "https://docs.djangoproject.com/en/stable/_objects/",
    ),
}
if os.environ.get("TOGO_DOCS_OFFLINE"):
    intersphinx_mapping = {}


def setup(app: Any) -> None:
    # The object types of Django's inventory, so {setting}`TIME_ZONE` and
    # {django-admin}`migrate` resolve to Django's docs.
    app.add_crossref_type("setting", "setting", "pair: %s; setting")
    app.add_crossref_type(
        "django-admin", "django-admin", "pair: %s; django-admin command"
    )
