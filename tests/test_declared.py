"""Declared schedules: the ``SCHEDULE`` setting's shapes, and syncing them to the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_togo_scheduler.declared import (
    ORPHAN_GRACE,
    declared_schedules,
    is_orphaned,
    prune_orphans,
    setting_entries,
    sync_declared,
)
from django_togo_scheduler.exceptions import (
    ImproperlyConfiguredSchedule,
    InvalidDuration,
    InvalidSpec,
    InvalidTimezone,
    TogoSchedulerError,
    UnknownJob,
)
from django_togo_scheduler.models import ScheduledJob
from django_togo_scheduler.registry import job
from django_togo_scheduler.service import Service
from django_togo_scheduler.specs import get_timezone, parse_duration, validate_spec


def error_of(func, value):
    """The message specs.py gives for a bad value (its wording is specs.py's business)."""
    with pytest.raises(TogoSchedulerError) as excinfo:
        func(value)
    return str(excinfo.value)


@pytest.fixture
def declared(registry):
    """``togo.code`` declares a schedule in code; ``togo.plain`` declares none."""
    job("togo.code", schedule="*/15 * * * *", timezone="Asia/Tokyo", queue="low")(
        lambda ctx: None
    )
    job("togo.plain")(lambda ctx: None)
    return registry


def rows():
    return {
        job.name: (
            job.spec,
            job.timezone,
            job.queue,
            job.timeout,
            job.catchup,
            job.paused,
            job.next_run_at,
        )
        for job in ScheduledJob.objects.all()
    }


# setting_entries


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        (None, {}),
        ({}, {}),
        ({"a": "@daily"}, {"a": ("@daily", {})}),
        (
            {"a": {"spec": "0 7 * * 1", "timezone": "Europe/Berlin", "queue": "low"}},
            {"a": ("0 7 * * 1", {"timezone": "Europe/Berlin", "queue": "low"})},
        ),
        (
            {"a": {"spec": "@hourly"}, "b": "* * * * *"},
            {"a": ("@hourly", {}), "b": ("* * * * *", {})},
        ),
        # Specs and options are validated where they are used, not here.
        (
            {"a": {"spec": "not a spec", "colour": 1}},
            {"a": ("not a spec", {"colour": 1})},
        ),
    ],
)
def test_setting_entries__shapes(value, entries):
    assert setting_entries(value) == entries


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a"], "TOGO_SCHEDULER['SCHEDULE'] must be a dict of name -> spec, not list."),
        (
            "@daily",
            "TOGO_SCHEDULER['SCHEDULE'] must be a dict of name -> spec, not str.",
        ),
        ({1: "@daily"}, "SCHEDULE: job name 1 must be a non-empty string."),
        ({"": "@daily"}, "SCHEDULE: job name '' must be a non-empty string."),
        (
            {"a": 5},
            "SCHEDULE['a'] must be a spec string or a dict with a 'spec' string, not 5.",
        ),
        (
            {"a": None},
            "SCHEDULE['a'] must be a spec string or a dict with a 'spec' string, not None.",
        ),
        (
            {"a": {"timezone": "UTC"}},
            "SCHEDULE['a'] must be a spec string or a dict with a 'spec' string, not {'timezone': 'UTC'}.",
        ),
        (
            {"a": {"spec": 5}},
            "SCHEDULE['a'] must be a spec string or a dict with a 'spec' string, not {'spec': 5}.",
        ),
        (
            {"a": ("@daily", {})},
            "SCHEDULE['a'] must be a spec string or a dict with a 'spec' string, not ('@daily', {}).",
        ),
    ],
)
def test_setting_entries__wrong_shapes_raise(value, message):
    with pytest.raises(ImproperlyConfiguredSchedule) as excinfo:
        setting_entries(value)
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, ValueError)


# declared_schedules


def test_declared_schedules__decorator_and_setting_setting_wins(declared, settings):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {
            "togo.code": {"spec": "@hourly", "catchup": "none"},
            "testapp.noop": "@daily",
        }
    }

    assert declared_schedules() == {
        "togo.code": ("@hourly", {"catchup": "none"}),
        "testapp.noop": ("@daily", {}),
    }


def test_declared_schedules__decorator_only(declared, settings):
    settings.TOGO_SCHEDULER = {}

    assert declared_schedules() == {
        "togo.code": ("*/15 * * * *", {"timezone": "Asia/Tokyo", "queue": "low"})
    }


# sync_declared


@pytest.mark.django_db
def test_sync_declared__creates_with_first_slot_after_now(declared, settings, now):
    settings.TOGO_SCHEDULER = {
        "SCHEDULE": {"testapp.noop": {"spec": "0 7 * * *", "timeout": 60}}
    }

    synced = sync_declared(now)

    assert [job.name for job in synced] == ["testapp.noop", "togo.code"]
    assert rows() == {
        "togo.code": (
            "*/15 * * * *",
            "Asia/Tokyo",
            "low",
            None,
            "latest",
            False,
            now + timedelta(minutes=15),
        ),
        "testapp.noop": (
            "0 7 * * *",
            "",
            "",
            60,
            "latest",
            False,
            datetime(2026, 11, 28, 7, tzinfo=UTC),
        ),
    }


@pytest.mark.django_db
def test_sync_declared__again_never_duplicates_nor_moves_the_pending_slot(
    declared, settings, now
):
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "@hourly"}}
    sync_declared(now)
    pks = dict(ScheduledJob.objects.values_list("name", "pk"))
    before = rows()

    sync_declared(now + timedelta(minutes=40))
    sync_declared(now + timedelta(minutes=50))

    assert dict(ScheduledJob.objects.values_list("name", "pk")) == pks
    assert rows() == before


@pytest.mark.django_db
def test_sync_declared__keeps_paused_as_in_the_database(declared, settings, now):
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "@hourly"}}
    ScheduledJob.objects.create(
        name="testapp.noop",
        spec="@daily",
        paused=True,
        paused_reason="on hold",
        next_run_at=now,
    )

    sync_declared(now)

    job = ScheduledJob.objects.get(name="testapp.noop")
    assert (job.spec, job.paused, job.paused_reason) == ("@hourly", True, "on hold")


@pytest.mark.django_db
def test_sync_declared__unpaused_stays_unpaused(declared, settings, now):
    settings.TOGO_SCHEDULER = {}
    ScheduledJob.objects.create(
        name="togo.code", spec="@daily", paused=False, next_run_at=now
    )

    sync_declared(now)

    assert ScheduledJob.objects.get(name="togo.code").paused is False


@pytest.mark.django_db
def test_sync_declared__keeps_next_run_at_when_unchanged(declared, settings, now):
    settings.TOGO_SCHEDULER = {}
    overdue = now - timedelta(minutes=45)
    ScheduledJob.objects.create(
        name="togo.code",
        spec="*/15 * * * *",
        timezone="Asia/Tokyo",
        queue="low",
        next_run_at=overdue,
    )

    sync_declared(now)

    assert ScheduledJob.objects.get().next_run_at == overdue


@pytest.mark.django_db
def test_sync_declared__option_change_updates_without_moving_the_slot(
    declared, settings, now
):
    settings.TOGO_SCHEDULER = {}
    overdue = now - timedelta(minutes=45)
    ScheduledJob.objects.create(
        name="togo.code",
        spec="*/15 * * * *",
        timezone="Asia/Tokyo",
        queue="high",
        timeout=5,
        next_run_at=overdue,
    )

    sync_declared(now)

    job = ScheduledJob.objects.get()
    assert (job.queue, job.timeout, job.next_run_at) == ("low", None, overdue)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spec", "timezone", "next_run_at"),
    [
        ("0 * * * *", "Asia/Tokyo", datetime(2026, 11, 27, 13, tzinfo=UTC)),
        # Same spec, another zone: the slot moves too. 21:00 in Tokyo is 12:00 UTC.
        ("*/15 * * * *", "", datetime(2026, 11, 27, 12, 15, tzinfo=UTC)),
    ],
)
def test_sync_declared__recomputes_next_run_at_when_the_spec_or_zone_changes(
    declared, settings, now, spec, timezone, next_run_at
):
    options = {"timezone": timezone, "queue": "low"} if timezone else {"queue": "low"}
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"togo.code": {"spec": spec, **options}}}
    ScheduledJob.objects.create(
        name="togo.code",
        spec="*/15 * * * *",
        timezone="Asia/Tokyo",
        queue="low",
        next_run_at=now - timedelta(days=2),
    )

    sync_declared(now)

    job = ScheduledJob.objects.get()
    assert (job.spec, job.timezone, job.next_run_at) == (spec, timezone, next_run_at)


@pytest.mark.django_db
def test_sync_declared__normalises_the_spec(declared, settings, now):
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "  0   7 * *  * "}}

    sync_declared(now)
    sync_declared(now)

    assert list(
        ScheduledJob.objects.filter(name="testapp.noop").values_list("spec", flat=True)
    ) == ["0 7 * * *"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "error", "message"),
    [
        (
            {"zz.unknown": "@daily"},
            UnknownJob,
            "SCHEDULE['zz.unknown']: No job handler is registered under the name 'zz.unknown'.",
        ),
        (
            {"zz.bad": "nonsense"},
            UnknownJob,
            "SCHEDULE['zz.bad']: No job handler is registered under the name 'zz.bad'.",
        ),
        (
            {"testapp.slow": "0 0 30 2 *"},
            InvalidSpec,
            f"SCHEDULE['testapp.slow']: {error_of(validate_spec, '0 0 30 2 *')}",
        ),
        (
            {"testapp.slow": {"spec": "@daily", "timezone": "Moon/Base"}},
            InvalidTimezone,
            f"SCHEDULE['testapp.slow']: {error_of(get_timezone, 'Moon/Base')}",
        ),
        (
            {"testapp.slow": {"spec": "@daily", "catchup": "sometimes"}},
            ValueError,
            "SCHEDULE['testapp.slow']: catchup must be one of ['latest', 'none', 'all'], not 'sometimes'.",
        ),
        (
            {"testapp.slow": {"spec": "@daily", "timeout": -1}},
            ValueError,
            "SCHEDULE['testapp.slow']: timeout must be a number of seconds from 1 to 31536000, not -1.",
        ),
        (
            {"testapp.slow": {"spec": "@daily", "max_age": "a while"}},
            InvalidDuration,
            f"SCHEDULE['testapp.slow']: {error_of(parse_duration, 'a while')}",
        ),
        (
            {"testapp.slow": {"spec": "@daily", "colour": "red"}},
            ValueError,
            "SCHEDULE['testapp.slow']: unknown options ['colour'].",
        ),
        (
            {"testapp.slow": 7},
            ImproperlyConfiguredSchedule,
            "SCHEDULE['testapp.slow'] must be a spec string or a dict with a 'spec' string, not 7.",
        ),
    ],
)
def test_sync_declared__validates_everything_before_writing_anything(
    declared, settings, now, schedule, error, message
):
    # "testapp.noop" sorts before every bad name, "togo.code" after; neither is written.
    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "@hourly", **schedule}}
    existing = ScheduledJob.objects.create(
        name="togo.code", spec="@daily", next_run_at=now
    )

    with pytest.raises(error) as excinfo:
        sync_declared(now)

    assert str(excinfo.value) == message
    assert list(ScheduledJob.objects.values_list("name", "spec", "queue")) == [
        ("togo.code", "@daily", "")
    ]
    assert ScheduledJob.objects.get().next_run_at == existing.next_run_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "options", "error"),
    [
        ("0 25 * * *", {}, InvalidSpec),
        ("@daily", {"timezone": "Moon/Base"}, InvalidTimezone),
        ("@daily", {"colour": "red"}, ValueError),
    ],
)
def test_sync_declared__refuses_a_bad_decorator_with_the_checks_message(
    registry, settings, now, schedule, options, error
):
    from django_togo_scheduler.checks import check_schedule

    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "@hourly"}}
    job("togo.bad", schedule=schedule, **options)(lambda ctx: None)  # no raise
    (check,) = check_schedule(None)

    with pytest.raises(error) as excinfo:
        sync_declared(now)

    assert str(excinfo.value) == check.msg
    assert check.msg.startswith("@job('togo.bad'): ")
    assert not ScheduledJob.objects.exists()


@pytest.mark.django_db
def test_sync_declared__a_failed_write_rolls_back_the_others(
    declared, settings, now, monkeypatch
):
    from django_togo_scheduler import schedules

    settings.TOGO_SCHEDULER = {"SCHEDULE": {"testapp.noop": "@hourly"}}
    real = schedules.upsert_schedule

    def upsert(name, *args, **kwargs):
        if name == "togo.code":
            raise RuntimeError("database went away")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(schedules, "upsert_schedule", upsert)

    with pytest.raises(RuntimeError):
        sync_declared(now)

    assert not ScheduledJob.objects.exists()


# orphans: a declared schedule the syncing process does not declare


def orphans():
    return dict(
        ScheduledJob.objects.filter(orphaned_at__isnull=False).values_list(
            "name", "orphaned_at"
        )
    )


@pytest.mark.django_db
def test_sync_declared__a_rolling_deploy_orphans_and_never_deletes(
    registry, settings, now, caplog
):
    import logging

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_togo_scheduler.models import Run

    settings.TOGO_SCHEDULER = {"QUEUE": None}
    job("test.kept", schedule="@hourly")(lambda ctx: None)
    job("test.new", schedule="*/5 * * * *")(lambda ctx: None)
    Service().schedule("testapp.noop", "@daily")  # not declared: never touched
    # The new code starts first; its schedule gets paused, and a run.
    sync_declared(now)
    Service().pause("test.new", reason="holiday", by="alice")
    ScheduledJob.objects.filter(name="test.new").update(next_run_at=now)
    Run.objects.create(job="test.new", status="done")
    before = ScheduledJob.objects.values("spec", "paused", "paused_reason").get(
        name="test.new"
    )

    # An old pod (code without test.new) restarts during the rollout.
    spec = registry.get("test.new")
    registry.unregister("test.new")
    later = now + timedelta(minutes=3)
    with (
        caplog.at_level(logging.INFO, logger="django_togo_scheduler"),
        CaptureQueriesContext(connection) as queries,
    ):
        sync_declared(later)

    assert not [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert orphans() == {"test.new": later}
    row = ScheduledJob.objects.get(name="test.new")
    assert (
        ScheduledJob.objects.values("spec", "paused", "paused_reason").get(
            name="test.new"
        )
        == before
    )
    assert (row.paused_by, row.next_run_at, row.declared) == ("alice", now, True)
    assert is_orphaned(row) and not is_orphaned(
        ScheduledJob.objects.get(name="test.kept")
    )
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "Declared schedule 'test.new' is not declared by this process's code; "
            "marking it orphaned. It keeps its state and keeps firing wherever a "
            "scheduler has its handler; it is removed by `scheduler prune --orphans`, "
            "or after 7 days unless a scheduler declares it again.",
        )
    ]
    # Another old pod: the first mark stays (and nothing is logged again).
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="django_togo_scheduler"):
        sync_declared(later + timedelta(minutes=1))
    assert orphans() == {"test.new": later} and caplog.records == []

    # A new pod starts: declared again, no longer orphaned, its state kept.
    registry.restore({**registry.snapshot(), "test.new": spec})
    sync_declared(later + timedelta(minutes=5))

    assert orphans() == {}
    row = ScheduledJob.objects.get(name="test.new")
    assert (row.paused, row.paused_reason, row.next_run_at) == (True, "holiday", now)
    assert sorted(ScheduledJob.objects.values_list("name", flat=True)) == [
        "test.kept",
        "test.new",
        "testapp.noop",
    ]
    assert Run.objects.filter(job="test.new").count() == 1


@pytest.mark.django_db
def test_sync_declared__a_removed_setting_entry_is_orphaned_and_keeps_firing(
    registry, settings, now, sync_dispatcher
):
    from django_togo_scheduler.models import Run

    registry.register("test.dropped", lambda: None)
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"test.dropped": "@hourly"}}
    sync_declared(now)
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {}}
    sync_declared(now)
    assert orphans() == {"test.dropped": now}

    # Its handler is registered here: the tick fires it like any schedule.
    runs = Service().tick(now + timedelta(hours=1), dispatcher=sync_dispatcher)

    assert [run.job for run in runs] == ["test.dropped"]
    assert Run.objects.get(pk=runs[0].pk).status == "done"


@pytest.mark.django_db
def test_prune_orphans__grace_keeps_recent_ones_and_readopts_declared_ones(
    registry, settings, now, caplog
):
    import logging

    from django_togo_scheduler.models import Run

    settings.TOGO_SCHEDULER = {"QUEUE": None}
    job("test.here", schedule="@daily")(lambda ctx: None)
    for name, age in [
        ("old.gone", ORPHAN_GRACE + timedelta(seconds=1)),
        ("old.edge", ORPHAN_GRACE),
        ("old.recent", ORPHAN_GRACE - timedelta(seconds=1)),
        ("test.here", ORPHAN_GRACE * 3),
    ]:
        ScheduledJob.objects.create(
            name=name, spec="@daily", declared=True, orphaned_at=now - age
        )
    ScheduledJob.objects.create(name="api.made", spec="@daily")
    Run.objects.create(job="old.gone", status="done")

    with caplog.at_level(logging.INFO, logger="django_togo_scheduler"):
        removed = prune_orphans(now, ORPHAN_GRACE)

    assert removed == ["old.edge", "old.gone"]
    assert orphans() == {"old.recent": now - ORPHAN_GRACE + timedelta(seconds=1)}
    assert sorted(ScheduledJob.objects.values_list("name", flat=True)) == [
        "api.made",
        "old.recent",
        "test.here",
    ]
    assert Run.objects.filter(job="old.gone").count() == 1
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "INFO",
            "Declared schedule 'test.here' is declared by this process; no longer "
            "orphaned.",
        ),
        (
            "WARNING",
            "Removed the orphaned schedule 'old.edge' (orphaned since "
            "2026-11-20T12:00:00+00:00); its run history stays.",
        ),
        (
            "WARNING",
            "Removed the orphaned schedule 'old.gone' (orphaned since "
            "2026-11-20T11:59:59+00:00); its run history stays.",
        ),
    ]
    assert prune_orphans(now) == ["old.recent"]  # no age: every orphan
    assert prune_orphans(now) == []


@pytest.mark.django_db
def test_prune_orphans__an_orphan_declared_here_is_readopted_not_removed(
    registry, settings, now
):
    # An old process marked it; this one declares it (and has not restarted).
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"testapp.noop": "@daily"}}
    ScheduledJob.objects.create(
        name="testapp.noop", spec="@daily", declared=True, orphaned_at=now
    )

    assert prune_orphans(now) == []
    assert orphans() == {}
    assert ScheduledJob.objects.get().name == "testapp.noop"


@pytest.mark.django_db
def test_loop__prunes_orphans_past_the_grace_at_start_and_hourly(
    registry, settings, now, monkeypatch, sync_dispatcher
):
    from django_togo_scheduler import loop as loop_module
    from django_togo_scheduler.loop import SchedulerLoop

    settings.TOGO_SCHEDULER = {"QUEUE": None, "RUN_RETENTION": None}
    clock = [now]
    monkeypatch.setattr(loop_module.clock, "now", lambda: clock[0])
    for name, age in [("old.a", ORPHAN_GRACE), ("old.b", timedelta(days=6))]:
        ScheduledJob.objects.create(
            name=name, spec="@daily", declared=True, orphaned_at=now - age
        )
    loop = SchedulerLoop(Service(), sync_dispatcher)

    loop.run_once()
    assert sorted(ScheduledJob.objects.values_list("name", flat=True)) == ["old.b"]

    # A day later old.b is past the grace, but the loop pruned 59 minutes ago.
    clock[0] = now + timedelta(days=1)
    loop._last_prune = clock[0] - loop_module.PRUNE_EVERY + timedelta(minutes=1)
    loop.run_once()
    assert ScheduledJob.objects.filter(name="old.b").exists()
    clock[0] += timedelta(minutes=1)
    loop.run_once()
    assert not ScheduledJob.objects.exists()


@pytest.mark.django_db
def test_sync_declared__nothing_removed_reads_the_table_once_and_deletes_nothing(
    registry, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_togo_scheduler.service import Service

    registry.register("test.kept", lambda: None)
    registry.register("test.manual", lambda: None)
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"test.kept": "@hourly"}}
    now = datetime.now(UTC)
    sync_declared(now)
    Service().schedule("test.manual", "@daily")

    with CaptureQueriesContext(connection) as queries:
        sync_declared(now)

    table = ScheduledJob._meta.db_table
    statements = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert not [sql for sql in statements if sql.startswith("DELETE")]
    scans = [sql for sql in statements if '."declared"' in sql.partition(" WHERE ")[2]]
    assert len(scans) == 1  # the read of the declared names
    assert "ORDER BY" not in scans[0]  # sorted in Python, for the log
    assert sorted(ScheduledJob.objects.values_list("name", flat=True)) == [
        "test.kept",
        "test.manual",
    ]


@pytest.mark.django_db
def test_sync_declared__losing_a_creation_race_syncs_again(
    registry, settings, caplog, monkeypatch
):
    import logging

    from django.db import IntegrityError

    from django_togo_scheduler import schedules as schedules_module
    from django_togo_scheduler.declared import sync_declared as sync

    registry.register("test.raced", lambda: None)
    settings.TOGO_SCHEDULER = {"QUEUE": None, "SCHEDULE": {"test.raced": "* * * * *"}}
    real = schedules_module.upsert_schedule
    calls = []

    def racing(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            # the other scheduler's row lands first
            real(name, *args, **kwargs)
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(schedules_module, "upsert_schedule", racing)
    with caplog.at_level(logging.INFO, logger="django_togo_scheduler"):
        (job,) = sync(datetime.now(UTC))

    assert job.name == "test.raced" and ScheduledJob.objects.count() == 1
    assert "Another scheduler synced the same schedules" in caplog.text
