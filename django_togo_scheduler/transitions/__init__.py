"""Every status change of a run, each one guarded: the ``UPDATE ... WHERE status
= ...`` lives here and nowhere else.

- ``start``: ``queued -> running``, one ``UPDATE ... RETURNING`` where the
  database has it (PostgreSQL, SQLite 3.35+), so only one process wins a run and
  gets the run back in the same statement; ``end``: ``running -> done|failed``,
  guarded on ``running``. Both are plain statements built once (:mod:`.sql`).
- ``fail``: an unfinished run ``-> failed`` (a timeout, a dead worker, a lost
  message), guarded on the status it was read with.
- Hand-overs: ``mark_dispatched`` (runs of the outbox, held locked, handed out),
  ``dispatch_one`` (one run handed out at once, guarded on its still being in
  the outbox), ``give_back`` (an enqueue Redis refused: back in the outbox, the
  hand-over not counted), ``put_back`` (a dispatched run that never started,
  guarded on its being as it was read), ``put_back_unstarted`` (runs a pool held
  and never started).
- ``supersede``: ``queued -> skipped`` for runs never handed out, when a newer
  run of their job replaces them (the queue was unreachable meanwhile).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from django.db import connections, router, transaction
from django.db.models import F

from django_togo_scheduler.models import Run
from django_togo_scheduler.signals import run_finished

from . import sql

logger = logging.getLogger(__name__)

# The error of a run a newer run of its job replaced before it was handed out.
SUPERSEDED = "superseded while the queue was unreachable"
# The same for an inline run no scheduler was running to hand out (a manual run
# a process put back in the outbox when it exited), replaced by a manual run.
SUPERSEDED_UNTAKEN = (
    "superseded by a newer manual run: it was never handed out (no scheduler "
    "was running to take it)"
)


def start(run_id: int, now: datetime, worker: str) -> Run | None:
    """The guarded ``queued -> running`` update; the run as it now is, or None."""
    alias = router.db_for_write(Run)
    connection = connections[alias]
    params = [
        Run.Status.RUNNING.value,
        sql.prep("started_at", now, connection),
        sql.prep("heartbeat_at", now, connection),
        worker,
        run_id,
        Run.Status.QUEUED.value,
    ]
    returning = sql.returns_from_update(connection)
    statement = sql.start_sql(connection, returning=returning)
    applied, row = sql.execute(alias, statement, params, returning=returning)
    if not returning:  # the update, then a read
        return Run.objects.using(alias).get(pk=run_id) if applied else None
    return None if row is None else sql.from_row(alias, connection, row)


def end(run_id: int, status: str, now: datetime, error: str) -> bool:
    """The guarded ``running -> status`` update; whether it applied."""
    alias = router.db_for_write(Run)
    connection = connections[alias]
    params = [
        status,
        sql.prep("finished_at", now, connection),
        error,
        run_id,
        Run.Status.RUNNING.value,
    ]
    applied, _ = sql.execute(alias, sql.end_sql(connection), params, returning=False)
    return applied


def supersede(
    jobs: Collection[str],
    now: datetime,
    *,
    using: str | None = None,
    inline_before: datetime | None = None,
) -> list[Run]:
    """``queued -> skipped`` for the RQ runs of ``jobs`` never handed out; the runs it changed.

    The runs taken are those with a queue (``queue`` not empty: RQ) that are
    ``queued`` with ``dispatched_at`` null: in the outbox, never handed to
    Redis, or given back by an enqueue Redis refused. They end ``skipped`` with
    ``error = SUPERSEDED`` and ``finished_at = now``. Inline runs in the outbox
    are left alone (they wait a second at most, for a sweep), except those
    recorded before ``inline_before``: a manual trigger that found no live
    scheduler takes them (``error = SUPERSEDED_UNTAKEN``), since none would hand
    them out; a younger one still has its hand-over coming (a run recorded in
    the same transaction, handed over at its commit). A run another
    process hands out meanwhile is left alone too: on PostgreSQL the outbox
    sweep holds its row ``FOR UPDATE``, this waits for it and then finds
    ``dispatched_at`` set. So the caller must look again at what is in flight
    afterwards (a job with a run handed out is busy), must call it inside the
    transaction that records the newer run (it adds no savepoint), and sends
    ``run_skipped`` for each returned run after that commit.
    """
    alias = using or router.db_for_write(Run)
    with transaction.atomic(using=alias, savepoint=False):
        undelivered = Run.objects.using(alias).in_outbox().filter(job__in=sorted(jobs))
        runs = list(undelivered.select_for_update().order_by("id"))
        runs = [
            run
            for run in runs
            if run.queue or (inline_before and run.created_at < inline_before)
        ]
        for run in runs:
            run.error = SUPERSEDED if run.queue else SUPERSEDED_UNTAKEN
        for error in {run.error for run in runs}:
            undelivered.filter(
                pk__in=[run.pk for run in runs if run.error == error]
            ).update(status=Run.Status.SKIPPED, error=error, finished_at=now)
    for run in runs:
        run.status, run.finished_at = Run.Status.SKIPPED, now
    return runs


def fail(run: Run, error: str, now: datetime) -> bool:
    """Mark an unfinished run failed with ``error`` (a timeout, a dead worker).

    Guarded on the status the run had when read: if it ended meanwhile, nothing
    changes and False is returned. Sends ``run_finished`` when it applied.
    """
    applied = Run.objects.filter(pk=run.pk, status=run.status).update(
        status=Run.Status.FAILED, finished_at=now, error=error
    )
    if not applied:
        return False
    logger.warning(
        "Run %s of %r failed: %s",
        run.pk,
        run.job,
        error,
        extra={"job": run.job, "run_id": run.pk},
    )
    run.status, run.finished_at, run.error = Run.Status.FAILED, now, error
    run_finished.send(sender=Run, run=run)
    return True


def mark_dispatched(runs: Sequence[Run], now: datetime, *, using: str) -> None:
    """Record ``runs``, read from the outbox and held locked, as handed out at ``now``."""
    Run.objects.using(using).in_outbox().filter(pk__in=[run.pk for run in runs]).update(
        dispatched_at=now, heartbeat_at=now, dispatch_count=F("dispatch_count") + 1
    )
    for run in runs:
        _stamp_dispatched(run, now)


def dispatch_one(run: Run, now: datetime) -> bool:
    """Record one run as handed out at ``now`` if it is still in the outbox."""
    applied = (
        Run.objects.in_outbox()
        .filter(pk=run.pk)
        .update(
            dispatched_at=now, heartbeat_at=now, dispatch_count=F("dispatch_count") + 1
        )
    )
    if applied:
        _stamp_dispatched(run, now)
    return bool(applied)


def _stamp_dispatched(run: Run, now: datetime) -> None:
    run.dispatched_at = run.heartbeat_at = now
    run.dispatch_count += 1


def give_back(runs: Iterable[Run]) -> None:
    """Return runs whose hand-over never reached the queue to the outbox, uncounted.

    ``dispatch_count`` is the number of messages that did reach it (the
    lost-message check limits it): it must not grow with each tick of an
    outage. Guarded on each run being queued and handed out as it was read.
    """
    runs = list(runs)
    handed: dict[datetime | None, list[int]] = defaultdict(list)
    for run in runs:
        handed[run.dispatched_at].append(run.pk)
    for dispatched_at, pks in handed.items():
        Run.objects.filter(
            pk__in=pks,
            status=Run.Status.QUEUED,
            dispatched_at=dispatched_at,
            dispatch_count__gt=0,
        ).update(dispatched_at=None, dispatch_count=F("dispatch_count") - 1)
    for run in runs:
        run.dispatched_at = None
        run.dispatch_count = max(0, run.dispatch_count - 1)


def put_back(run: Run, reason: str) -> bool:
    """Return a dispatched run that never started to the outbox; False if it moved on.

    Guarded on the run being as it was read (still queued, not dispatched again,
    no fresher heartbeat), so a run its holder is still looking after stays put.
    """
    again = Run.objects.filter(
        pk=run.pk,
        status=Run.Status.QUEUED,
        dispatched_at=run.dispatched_at,
        heartbeat_at=run.heartbeat_at,
    ).update(dispatched_at=None)
    if again:
        logger.warning(
            "Run %s of %r: %s; dispatching it again.",
            run.pk,
            run.job,
            reason,
            extra={"job": run.job, "run_id": run.pk},
        )
    return bool(again)


def put_back_unstarted(pks: Sequence[int]) -> None:
    """Return the runs ``pks`` a pool held and never started to the outbox."""
    if pks:
        Run.objects.filter(pk__in=pks, status=Run.Status.QUEUED).update(
            dispatched_at=None
        )
