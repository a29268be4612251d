"""Fixtures shared by the suite."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from django_togo_scheduler.dispatch.inline import SyncDispatcher
from django_togo_scheduler.registry import registry as global_registry


def pytest_report_header(config):
    return f"togo test database: {os.environ.get('TOGO_TEST_DB', 'sqlite')}"


def pytest_collection_modifyitems(config, items):
    # Tests that need PostgreSQL itself (outages made with ALTER DATABASE, the
    # chaos harness) run in the PostgreSQL pass of each matrix cell; in the
    # SQLite pass they are deselected, not skipped.
    if os.environ.get("TOGO_TEST_DB", "sqlite") == "postgres":
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgres_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus):
    # CI runs everything: there a skipped test is a failure.
    if os.environ.get("TOGO_REQUIRE_SERVICES") == "1":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = reporter.stats.get("skipped", []) if reporter else []
        if skipped:
            reporter.write_line(
                f"TOGO_REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped; failing the run.",
                red=True,
            )
            session.exitstatus = 1


@pytest.fixture
def registry():
    """The global registry, restored after the test."""
    snapshot = global_registry.snapshot()
    yield global_registry
    global_registry.restore(snapshot)


@pytest.fixture
def now():
    """A fixed instant: Friday 2026-11-27 12:00:00 UTC."""
    return datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def sync_dispatcher():
    """Executes runs at once, in the test's thread and transaction."""
    return SyncDispatcher()


@pytest.fixture
def service():
    from django_togo_scheduler.service import Service

    return Service()


@pytest.fixture
def calls(registry):
    """Registers ``test.record`` whose runs append their RunContext to the list."""
    seen = []

    def record(ctx):
        seen.append(ctx)

    registry.register("test.record", record)
    return seen


@pytest.fixture
def is_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def fresh_service():
    """Each test gets a new process-wide Service (stop flag, last tick)."""
    from django_togo_scheduler.service import get_scheduler

    get_scheduler.cache_clear()
    yield
    get_scheduler.cache_clear()
