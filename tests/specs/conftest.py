"""The specs tests' shared helpers assert too: rewrite them as pytest does test modules."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.specs.helpers")
