from __future__ import annotations

import os
import socket
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_togo_scheduler import clock
from django_togo_scheduler.models import SchedulerProcess
from django_togo_scheduler.processes import (
    HEARTBEAT_EVERY,
    ProcessHeartbeat,
    live_processes,
)

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


def test_heartbeat__start_beat_stop(now):
    beat = ProcessHeartbeat()
    beat.beat(now)  # the first beat starts the row
    (row,) = SchedulerProcess.objects.all()
    assert (row.host, row.pid, row.started_at, row.last_tick_at) == (
        socket.gethostname(),
        os.getpid(),
        now,
        now,
    )
    assert str(row) == f"{socket.gethostname()}:{os.getpid()}"

    beat.beat(now + SECOND)  # throttled
    assert SchedulerProcess.objects.get().last_tick_at == now
    beat.beat(now + HEARTBEAT_EVERY)
    assert SchedulerProcess.objects.get().last_tick_at == now + HEARTBEAT_EVERY

    beat.stop(now + HEARTBEAT_EVERY + SECOND)
    assert SchedulerProcess.objects.get().stopped_at == now + HEARTBEAT_EVERY + SECOND
    assert live_processes(now + 2 * HEARTBEAT_EVERY, timedelta(seconds=30)) == []


def test_heartbeat__a_deleted_row_is_recreated_and_old_rows_forgotten(now):
    SchedulerProcess.objects.create(
        host="old",
        pid=1,
        started_at=now - timedelta(days=3),
        last_tick_at=now - timedelta(days=2),
    )
    beat = ProcessHeartbeat()
    beat.start(now)
    assert list(SchedulerProcess.objects.values_list("host", flat=True)) == [
        socket.gethostname()
    ]
    SchedulerProcess.objects.all().delete()
    beat.beat(now + HEARTBEAT_EVERY)
    assert SchedulerProcess.objects.count() == 1


def test_live_processes__only_recent_and_running(now):
    live = SchedulerProcess.objects.create(
        host="a", pid=1, started_at=now, last_tick_at=now - 10 * SECOND
    )
    SchedulerProcess.objects.create(
        host="b", pid=2, started_at=now, last_tick_at=now - 31 * SECOND
    )
    SchedulerProcess.objects.create(
        host="c", pid=3, started_at=now, last_tick_at=now, stopped_at=now
    )
    assert live_processes(now, timedelta(seconds=30)) == [live]


def test_status__lists_live_schedulers_and_exits_zero(monkeypatch, now):
    monkeypatch.setattr(clock, "now", lambda: now)
    SchedulerProcess.objects.create(
        host="web-1",
        pid=42,
        started_at=now - timedelta(hours=1),
        last_tick_at=now - 3 * SECOND,
    )
    out = StringIO()

    call_command("scheduler", "status", stdout=out)

    assert out.getvalue().splitlines() == [
        "SCHEDULER  STARTED                    LAST TICK                  AGE     ABANDONED",
        "web-1:42   2026-11-27T11:00:00+00:00  2026-11-27T11:59:57+00:00  3s ago  0",
    ]


def test_status__exits_one_when_no_scheduler_ticked_recently(monkeypatch, now):
    monkeypatch.setattr(clock, "now", lambda: now)
    SchedulerProcess.objects.create(
        host="web-1", pid=42, started_at=now, last_tick_at=now - 40 * SECOND
    )
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("scheduler", "status", stdout=out)
    assert info.value.returncode == 1
    assert str(info.value) == "no scheduler ticked within 30s"
    assert out.getvalue() == "No scheduler ticked within 30s.\n"
    call_command("scheduler", "status", "--within", "1m", stdout=StringIO())


def test_status__bad_within_exits_two(capsys):
    with pytest.raises(CommandError) as info:
        call_command("scheduler", "status", "--within", "soon")
    assert info.value.returncode == 2
    assert str(info.value).startswith("scheduler status: 'soon' is not a duration")


def test_heartbeat__records_the_abandoned_threads_with_the_tick(now):
    beat = ProcessHeartbeat()
    beat.beat(now)
    beat.beat(now + SECOND, abandoned_threads=2)  # throttled with the tick
    assert SchedulerProcess.objects.get().abandoned_threads == 0
    beat.beat(now + HEARTBEAT_EVERY, abandoned_threads=2)
    assert SchedulerProcess.objects.get().abandoned_threads == 2
