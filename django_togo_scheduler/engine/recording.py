"""The runs of a claim: built from the planned slots, inserted, reported."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from django_togo_scheduler import transitions
from django_togo_scheduler.models import Run

if TYPE_CHECKING:
    from .planning import Plan
    from .state import DueJob

logger = logging.getLogger(__name__)

SKIP_REASON = "skipped: the previous run of this job is still in flight"


@dataclass
class Overlap:
    """What the runs in flight mean for a claim's new slots, by job name."""

    busy: set[str]  # a run in flight: new slots are skipped (or wait, see below)
    joins: set[str] = field(default_factory=set)  # catchup="all": new slots wait
    superseded: list[Run] = field(default_factory=list)  # undelivered runs replaced


def overlap(
    alias: str, jobs: list[DueJob], plans: dict[int, Plan], now: datetime
) -> Overlap:
    """Which jobs are busy, and what becomes of runs that never left the outbox.

    A job whose runs in flight were all never handed out (the queue was
    unreachable) is not blocked by them: they are superseded by the new slot
    (:func:`~django_togo_scheduler.transitions.supersede`), or, under
    ``catchup="all"``, the new slots join them and wait their turn. A run the
    supersede could not take (another scheduler handed it out meanwhile) keeps
    its job busy. Costs a statement only when a due job has such runs.
    """
    result = Overlap(busy={job.name for job in jobs if job.busy})
    waiting = [
        job
        for job in jobs
        if job.undelivered and job.pk in plans and plans[job.pk].slots
    ]
    if not waiting:
        return result
    result.joins = {job.name for job in waiting if job.catchup == "all"}
    replaced = {job.name for job in waiting if job.catchup != "all"}
    if replaced:
        result.superseded = transitions.supersede(replaced, now, using=alias)
        still = (
            Run.objects.using(alias)
            .filter(job__in=sorted(replaced))
            .in_flight()
            .values_list("job", flat=True)
        )
        result.busy -= replaced - set(still)
    return result


def build_runs(
    jobs: list[DueJob], plans: dict[int, Plan], overlap: Overlap, now: datetime
) -> list[Run]:
    """The runs of the planned slots, skipped or waiting as ``overlap`` says."""
    from django_togo_scheduler.dispatch import resolve_queue

    queues: dict[str, str] = {}
    runs: list[Run] = []
    for job in jobs:
        plan = plans.get(job.pk)
        if plan is None:
            continue
        if job.queue not in queues:
            queues[job.queue] = resolve_queue(job.queue)
        queue = queues[job.queue]
        in_flight = job.name in overlap.busy
        # Under catchup="all" the runs of a catch-up batch wait for each other,
        # and new slots wait behind runs still in the outbox; otherwise a slot
        # whose job is in flight is recorded skipped.
        waits = job.catchup == "all" and (
            len(plan.slots) > 1 or job.name in overlap.joins
        )
        for slot in plan.slots:
            skipped = in_flight and not waits
            run = Run(
                job=job.name,
                scheduled_for=slot.at,
                trigger=Run.Trigger.CATCHUP if slot.catchup else Run.Trigger.SCHEDULE,
                status=Run.Status.SKIPPED if skipped else Run.Status.QUEUED,
                error=SKIP_REASON if skipped else "",
                finished_at=now if skipped else None,
                timeout=job.timeout,
                queue=queue,
            )
            if not in_flight:
                # Nothing of its job in flight: recorded as dispatched, handed
                # over when the claim commits (as the outbox sweep would).
                run.dispatched_at = run.heartbeat_at = now
                run.dispatch_count = 1
            runs.append(run)
            in_flight = in_flight or not skipped
    return runs


def waits(run: Run) -> bool:
    """Whether a run just recorded waits in the outbox (behind a run of its job)."""
    return run.status == Run.Status.QUEUED and run.dispatched_at is None


def record_one_by_one(alias: str, runs: list[Run]) -> list[Run]:
    created = []
    for run in runs:
        try:
            with transaction.atomic(using=alias):
                run.save(using=alias)
        except IntegrityError:
            logger.warning(
                "Slot %s of %r was already recorded; not firing it again.",
                run.scheduled_for,
                run.job,
                extra={"job": run.job},
            )
            continue
        created.append(run)
    return created


def report(runs: list[Run], superseded: list[Run] | None = None) -> None:
    """Log each recorded slot (and send run_skipped for the skipped ones, and
    for the runs the claim ``superseded``).

    Whether INFO is logged is asked once: the arguments of a line (the slot as
    text, the ``extra`` fields) cost more than the line a burst does not log.
    """
    from django_togo_scheduler.signals import run_skipped

    for run in superseded or ():
        logger.info(
            "Run %s of %r skipped: %s; a newer slot replaces it.",
            run.pk,
            run.job,
            transitions.SUPERSEDED,
            extra={"job": run.job, "run_id": run.pk, "slot": run.scheduled_for},
        )
        run_skipped.send(sender=Run, run=run)
    logs = logger.isEnabledFor(logging.INFO)
    for run in runs:
        skipped = run.status == Run.Status.SKIPPED
        if logs:
            _log_recorded(run, skipped)
        if skipped:
            run_skipped.send(sender=Run, run=run)


def _log_recorded(run: Run, skipped: bool) -> None:
    extra = {"job": run.job, "run_id": run.pk, "slot": run.scheduled_for}
    if skipped:
        logger.info(
            "Run %s of %r skipped: previous run still in flight.",
            run.pk,
            run.job,
            extra=extra,
        )
    else:
        logger.info(
            "Slot %s of %r recorded as run %s (%s).",
            run.scheduled_for.isoformat() if run.scheduled_for else "-",
            run.job,
            run.pk,
            run.trigger,
            extra=extra,
        )
