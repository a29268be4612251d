"""Dispatch through django-rq against a real redis-server and real rqworker processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from datetime import timedelta

import pytest
from django.db import connection
from redis import Redis
from rq import Queue
from rq.job import Job

from django_togo_scheduler import clock
from django_togo_scheduler.dispatch import get_dispatcher
from django_togo_scheduler.dispatch.rq import MAX_DISPATCHES, RQDispatcher, job_id
from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.service import Service
from tests.procs import (
    WORKER_CLASS,
    django_command,
    running_redis,
    subprocess_env,
    wait_until,
)
from tests.ticks import tick

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def redis_server():
    with running_redis() as server:
        yield server


@pytest.fixture
def redis(redis_server):
    if not redis_server.answers():
        redis_server.start()
    client = Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def rq_settings(settings, redis_server):
    settings.RQ_QUEUES = {
        "togo": {"URL": redis_server.url},
        "low": {"URL": redis_server.url},
    }
    settings.TOGO_SCHEDULER = {"QUEUE": "togo", "STALE_AFTER": 3}
    return settings


@pytest.fixture
def dispatcher(rq_settings):
    routing = get_dispatcher()
    yield routing
    routing.shutdown()


@pytest.fixture
def side_effects(tmp_path):
    return tmp_path / "effects.log"


def run_worker(redis_server, side_effects, *extra, queues=("togo",), **env):
    if "--worker-class" not in extra:
        extra = (*WORKER_CLASS, *extra)
    environ = subprocess_env(
        side_effects,
        TOGO_TEST_REDIS_URL=redis_server.url,
        TOGO_TEST_STALE_AFTER="3",
        **env,
    )
    proc = django_command("rqworker", *queues, "--burst", *extra, env=environ)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out + err


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_rq__a_tick_enqueues_only_the_run_id_and_a_worker_runs_it(
    redis, redis_server, dispatcher, side_effects
):
    now = clock.now()
    ScheduledJob.objects.create(name="testapp.noop", spec="* * * * *", next_run_at=now)

    (run,) = tick(now, dispatcher=dispatcher)

    job = Job.fetch(job_id(Run.objects.get(pk=run.pk)), connection=redis)
    assert job.func_name == "django_togo_scheduler.execution.execute_run"
    assert job.args == (run.pk,) and job.kwargs == {}
    assert job.origin == "togo" and run.queue == "togo"
    run_worker(redis_server, side_effects)
    done = Run.objects.get(pk=run.pk)
    assert done.status == "done" and done.started_at and done.finished_at
    host, pid = done.worker.rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) != os.getpid()
    assert lines(side_effects) == [f"noop {run.pk} {now.isoformat()}"]


def test_rq__schedule_queue_and_timeout_are_honoured(redis, dispatcher):
    now = clock.now()
    ScheduledJob.objects.create(
        name="testapp.noop", spec="* * * * *", next_run_at=now, queue="low", timeout=7
    )
    (run,) = tick(now, dispatcher=dispatcher)
    job = Job.fetch(job_id(Run.objects.get(pk=run.pk)), connection=redis)
    assert (job.origin, job.timeout) == ("low", 7)
    assert Queue("low", connection=redis).job_ids == [
        job_id(Run.objects.get(pk=run.pk))
    ]


def test_rq__a_burst_is_enqueued_in_one_pipeline(redis, dispatcher, registry):
    now = clock.now()
    for i in range(200):
        registry.register(f"test.burst{i}", lambda ctx: None)
    ScheduledJob.objects.bulk_create(
        ScheduledJob(name=f"test.burst{i}", spec="* * * * *", next_run_at=now)
        for i in range(200)
    )
    before = redis.info("commandstats").get("cmdstat_exec", {}).get("calls", 0)

    runs = tick(now, dispatcher=dispatcher)

    after = redis.info("commandstats")["cmdstat_exec"]["calls"]
    assert len(runs) == 200 and Queue("togo", connection=redis).count == 200
    assert after - before == 1


def test_rq__redis_down_keeps_the_run_and_dispatches_it_when_back(
    redis_server, redis, dispatcher, side_effects, caplog
):
    now = clock.now()
    # A yearly spec: a minute boundary between the ticks would bring the next slot
    # due, and it supersedes the undelivered run (supersede.py).
    ScheduledJob.objects.create(name="testapp.noop", spec="0 0 1 1 *", next_run_at=now)
    redis_server.stop()

    (run,) = tick(now, dispatcher=dispatcher)
    tick(now + SECOND, dispatcher=dispatcher)

    waiting = Run.objects.get(pk=run.pk)
    assert (waiting.status, waiting.dispatched_at) == ("queued", None)
    assert "unreachable" in caplog.text
    redis_server.start()
    tick(now + 2 * SECOND, dispatcher=dispatcher)
    assert Run.objects.get(pk=run.pk).dispatched_at is not None
    run_worker(redis_server, side_effects)
    assert Run.objects.get(pk=run.pk).status == "done"
    assert len(lines(side_effects)) == 1


def test_rq__a_message_delivered_twice_runs_once(
    redis, redis_server, dispatcher, side_effects
):
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    tick(clock.now(), dispatcher=dispatcher)
    # The same message again (a re-dispatch by a sweep after all): pushed twice.
    RQDispatcher().dispatch([run])
    assert Queue("togo", connection=redis).count == 2

    run_worker(redis_server, side_effects)

    assert lines(side_effects) == [f"noop {run.pk} -"]
    assert Run.objects.get(pk=run.pk).status == "done"


def test_rq__a_lost_message_is_dispatched_again(
    redis, redis_server, dispatcher, side_effects
):
    now = clock.now()
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    tick(now, dispatcher=dispatcher)
    redis.flushall()  # Redis restarted empty

    tick(now + 6 * SECOND, dispatcher=dispatcher)  # the lost message is noticed
    tick(now + 7 * SECOND, dispatcher=dispatcher)  # and the run dispatched again

    assert Run.objects.get(pk=run.pk).dispatch_count == 2
    run_worker(redis_server, side_effects)
    assert Run.objects.get(pk=run.pk).status == "done"


def test_rq__a_message_lost_too_often_fails_the_run(redis, dispatcher):
    now = clock.now()
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    for attempt in range(MAX_DISPATCHES + 1):
        at = now + attempt * 10 * SECOND
        tick(at, dispatcher=dispatcher)
        redis.flushall()
        dispatcher.rq.check(at + 6 * SECOND)
    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed" and "lost 3 times" in failed.error


def test_rq__trigger_dispatches_at_once(redis, rq_settings):
    run = Service().trigger("testapp.noop")
    assert run.queue == "togo" and run.dispatched_at is not None
    assert Queue("togo", connection=redis).job_ids == [
        job_id(Run.objects.get(pk=run.pk))
    ]


def test_rq__timeout_fails_the_run_with_timeout(
    redis, redis_server, dispatcher, side_effects
):
    run = Run.objects.create(
        job="testapp.slow", trigger="manual", queue="togo", timeout=1
    )
    tick(clock.now(), dispatcher=dispatcher)

    run_worker(redis_server, side_effects, TOGO_TEST_SLOW_SECONDS="5")

    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "failed" and "timeout" in failed.error.lower()
    assert lines(side_effects) == []


def test_rq__simple_worker_runs_jobs_in_its_own_process(
    redis, redis_server, dispatcher, side_effects
):
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    tick(clock.now(), dispatcher=dispatcher)
    run_worker(redis_server, side_effects, "--worker-class", "rq.SimpleWorker")
    assert Run.objects.get(pk=run.pk).status == "done"


@pytest.mark.parametrize("victim", ["work horse", "worker"])
def test_rq__a_killed_worker_fails_the_run_and_the_job_is_unblocked(
    redis, redis_server, dispatcher, side_effects, victim
):
    now = clock.now()
    # A yearly spec: no other slot of the job comes up while the test waits.
    ScheduledJob.objects.create(name="testapp.slow", spec="0 0 1 1 *", next_run_at=now)
    (run,) = tick(now, dispatcher=dispatcher)
    environ = subprocess_env(
        side_effects,
        TOGO_TEST_REDIS_URL=redis_server.url,
        TOGO_TEST_STALE_AFTER="3",
        TOGO_TEST_SLOW_SECONDS="60",
    )
    worker = django_command("rqworker", "togo", env=environ)
    try:
        assert wait_until(lambda: Run.objects.get(pk=run.pk).status == "running")
        horse_pid = int(Run.objects.get(pk=run.pk).worker.rsplit(":", 1)[1])
        os.kill(horse_pid if victim == "work horse" else worker.pid, signal.SIGKILL)
        if victim == "worker":
            os.kill(horse_pid, signal.SIGKILL)  # a lost machine takes both

        # The scheduler notices within STALE_AFTER (3 s here, 30 s by default).
        at = now

        def failed():
            nonlocal at
            at = max(clock.now(), at + SECOND)
            tick(at, dispatcher=dispatcher)
            return Run.objects.get(pk=run.pk).status == "failed"

        assert wait_until(failed, timeout=15, interval=0.5)
    finally:
        worker.kill()
        worker.communicate(timeout=30)
        for pid in Run.objects.filter(status="running").values_list(
            "worker", flat=True
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.rsplit(":", 1)[1]), signal.SIGKILL)

    dead = Run.objects.get(pk=run.pk)
    assert "worker died" in dead.error
    assert (dead.finished_at - dead.started_at) < timedelta(seconds=3 + 5)
    # The next slot of the job fires normally instead of being skipped.
    slot = ScheduledJob.objects.get(name="testapp.slow").next_run_at
    (later,) = tick(slot, dispatcher=dispatcher)
    assert (later.scheduled_for, later.status) == (slot, "queued")


def test_rq__a_big_outbox_while_redis_is_down_is_swept_once(
    redis_server, redis, dispatcher, monkeypatch
):
    import threading

    from django_togo_scheduler.engine import outbox

    monkeypatch.setattr(outbox, "DISPATCH_BATCH", 3)
    pks = [
        Run.objects.create(job=f"testapp.tick{i}", trigger="manual", queue="togo").pk
        for i in range(7)
    ]
    redis_server.stop()
    handed = []

    def run_sweep():
        try:
            handed.extend(outbox.dispatch_pending(clock.now(), dispatcher))
        finally:
            connection.close()

    sweep = threading.Thread(target=run_sweep)

    sweep.start()
    sweep.join(timeout=20)

    assert not sweep.is_alive(), "the sweep kept retrying the same runs"
    assert sorted(r.pk for r in handed) == pks
    assert set(
        Run.objects.filter(pk__in=pks).values_list("status", "dispatched_at")
    ) == {("queued", None)}


def _dispatched(dispatcher, now):
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    tick(now, dispatcher=dispatcher)
    return Run.objects.get(pk=run.pk)


def test_rq__a_message_taken_by_a_worker_that_died_is_dispatched_again(
    redis, dispatcher
):
    now = clock.now()
    run = _dispatched(dispatcher, now)
    # A worker moved the message out of the queue's list, then died.
    redis.lrem("rq:queue:togo", 1, job_id(run))

    dispatcher.rq.check(now + 6 * SECOND)

    again = Run.objects.get(pk=run.pk)
    assert (again.status, again.dispatched_at) == ("queued", None)


def test_rq__a_started_message_whose_run_never_started_is_dispatched_again(
    redis, dispatcher
):
    now = clock.now()
    run = _dispatched(dispatcher, now)
    key = Job.key_for(job_id(run))
    redis.lrem("rq:queue:togo", 1, job_id(run))
    redis.hset(
        key,
        mapping={
            "status": "started",
            "started_at": (now - SECOND).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )

    dispatcher.rq.check(
        now + 6 * SECOND
    )  # started 7 s ago: the horse may still mark it running
    assert Run.objects.get(pk=run.pk).dispatched_at is not None
    dispatcher.rq.check(now + 12 * SECOND)  # 13 s: the horse died first
    assert Run.objects.get(pk=run.pk).dispatched_at is None


def test_rq__a_message_waiting_in_its_queue_is_left_alone(redis, dispatcher):
    now = clock.now()
    run = _dispatched(dispatcher, now)
    dispatcher.rq.check(now + 60 * SECOND)
    assert Run.objects.get(pk=run.pk).dispatched_at is not None
    assert Queue("togo", connection=redis).job_ids == [job_id(run)]


def test_rq__ticks_of_a_redis_outage_leave_the_dispatch_counters_unchanged(
    redis_server, redis, dispatcher
):
    now = clock.now()
    handed = _dispatched(dispatcher, now)  # its message was in Redis: one hand-over
    waiting = Run.objects.create(job="testapp.slow", trigger="manual", queue="togo")
    ScheduledJob.objects.create(
        name="testapp.tick0", spec="@every 1s", next_run_at=now + SECOND
    )
    redis_server.stop()

    for second in range(1, 41):
        tick(now + second * SECOND, dispatcher=dispatcher)

    counts = dict(Run.objects.values_list("pk", "dispatch_count"))
    assert counts.pop(waiting.pk) == 0 and counts.pop(handed.pk) == 1
    assert set(counts.values()) == {0}  # the slots recorded during the outage
    assert not Run.objects.filter(status="failed").exists()


def test_rq__a_message_lost_after_an_outage_is_dispatched_again_not_failed(
    redis_server, redis, dispatcher, side_effects
):
    now = clock.now()
    run = Run.objects.create(job="testapp.noop", trigger="manual", queue="togo")
    redis_server.stop()
    for second in range(9):  # an 8 s outage, a tick a second
        tick(now + second * SECOND, dispatcher=dispatcher)
    redis_server.start()  # back, empty
    tick(now + 9 * SECOND, dispatcher=dispatcher)
    assert Run.objects.get(pk=run.pk).dispatch_count == 1
    Redis.from_url(redis_server.url).flushall()  # one real message loss

    tick(now + 20 * SECOND, dispatcher=dispatcher)  # the loss is noticed
    tick(now + 21 * SECOND, dispatcher=dispatcher)  # and the run dispatched again

    again = Run.objects.get(pk=run.pk)
    assert (again.status, again.dispatch_count) == ("queued", 2)
    assert again.dispatched_at is not None
    run_worker(redis_server, side_effects)
    assert Run.objects.get(pk=run.pk).status == "done"
    assert lines(side_effects) == [f"noop {run.pk} -"]


def _backlog(dispatcher, now, count):
    """``count`` runs handed to RQ at ``now`` (no worker takes them)."""
    pks = [
        Run.objects.create(job=f"testapp.tick{i}", trigger="manual", queue="togo").pk
        for i in range(count)
    ]
    tick(now, dispatcher=dispatcher)
    return list(Run.objects.filter(pk__in=pks).order_by("pk"))


def _looked_up(dispatcher, monkeypatch):
    seen = []
    real = dispatcher.rq.lost

    def lost(name, runs, now):
        runs = list(runs)
        seen.append([run.pk for run in runs])
        return real(name, runs, now)

    monkeypatch.setattr(dispatcher.rq, "lost", lost)
    return seen


def test_rq__the_lost_message_check_walks_a_backlog_longer_than_its_batch(
    redis, dispatcher, monkeypatch
):
    from django_togo_scheduler.dispatch import rq

    monkeypatch.setattr(rq, "LOST_CHECK_BATCH", 3)
    now = clock.now()
    runs = _backlog(dispatcher, now, 8)
    victim = runs[6]  # past the first batch
    redis.lrem("rq:queue:togo", 1, job_id(victim))  # taken by a worker that died
    seen = _looked_up(dispatcher, monkeypatch)
    redis.config_resetstat()

    for n in range(1, 5):
        dispatcher.rq.check(now + n * 6 * SECOND)

    pks = [run.pk for run in runs]
    # A batch per check, each after the previous one; then it starts over.
    assert seen == [pks[0:3], pks[3:6], pks[6:8], pks[0:3]]
    assert Run.objects.get(pk=victim.pk).dispatched_at is None  # found, put back
    assert set(
        Run.objects.exclude(pk=victim.pk).values_list("dispatched_at", flat=True)
    ) == {Run.objects.get(pk=runs[0].pk).dispatched_at}
    stats = redis.info("commandstats")
    # One LRANGE of the queue per check and lookup, never an LPOS per run.
    assert stats["cmdstat_lrange"]["calls"] == len(seen)
    assert "cmdstat_lpos" not in stats


def test_rq__the_lost_message_check_looks_past_what_it_reads_of_a_long_queue(
    redis, dispatcher, monkeypatch
):
    from django_togo_scheduler.dispatch import rq

    monkeypatch.setattr(rq, "QUEUE_SCAN", 2)
    now = clock.now()
    runs = _backlog(dispatcher, now, 5)
    victim = runs[3]
    redis.lrem("rq:queue:togo", 1, job_id(victim))
    redis.config_resetstat()

    dispatcher.rq.check(now + 6 * SECOND)

    assert [Run.objects.get(pk=run.pk).dispatched_at is None for run in runs] == [
        False,
        False,
        False,
        True,
        False,
    ]
    # Only the jobs not in the part read (the first 2 entries) were looked
    # for, one LPOS each.
    assert redis.info("commandstats")["cmdstat_lpos"]["calls"] == 3


def test_rq__after_a_redis_outage_the_newest_slot_runs_the_older_were_superseded(
    redis_server, redis, dispatcher, side_effects
):
    from django_togo_scheduler.transitions import SUPERSEDED

    start = clock.now().replace(microsecond=0)
    ScheduledJob.objects.create(
        name="testapp.noop", spec="@every 1s", next_run_at=start + SECOND
    )
    redis_server.stop()
    for second in range(1, 6):  # five slots while Redis is down
        tick(start + second * SECOND, dispatcher=dispatcher)
    # One run waits in the outbox at a time: the latest slot's.
    assert list(
        Run.objects.filter(status="queued").values_list(
            "scheduled_for", "dispatched_at"
        )
    ) == [(start + 5 * SECOND, None)]
    redis_server.start()

    tick(start + 6 * SECOND, dispatcher=dispatcher)
    run_worker(redis_server, side_effects)

    runs = list(Run.objects.order_by("scheduled_for").values_list("status", "error"))
    assert runs == [("skipped", SUPERSEDED)] * 5 + [("done", "")]
    assert lines(side_effects) == [f"noop {Run.objects.get(status='done').pk} "
                                   f"{(start + 6 * SECOND).isoformat()}"]  # fmt: skip
