"""``scheduler trigger | run``: manual runs, and where they went."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from django_togo_scheduler import manual
from django_togo_scheduler.manual import HERE, RQ, SKIPPED, Handover
from django_togo_scheduler.models import Run
from django_togo_scheduler.service import get_scheduler
from django_togo_scheduler.text import error_line

from .base import Handler, Subparsers

EXECUTION_LOGGER = "django_togo_scheduler.execution"
INTERRUPTED = 130  # exit status after Ctrl-C, as a shell reports SIGINT
START_WAIT = 2.0  # seconds a trigger waits to name the scheduler that started the run


def add_parsers(sub: Subparsers, parents: list[Any]) -> dict[str, Handler]:
    """Add this group's subcommands; return their handlers by name."""
    trigger = sub.add_parser(
        "trigger",
        help="Run a job now, outside its schedule: through its RQ queue, by the "
        "running scheduler, or in this process when no scheduler runs.",
        parents=parents,
    )
    trigger.add_argument("name", help="The name of a registered job.")
    trigger.add_argument(
        "--wait",
        action="store_true",
        help="Wait for the run to end wherever it runs and print its outcome; "
        "exit 1 when it failed or was skipped.",
    )
    run = sub.add_parser(
        "run",
        help="Run a job in the foreground, in this process (whatever its queue), "
        "printing its log lines; exit 1 when it failed or was skipped.",
        parents=parents,
    )
    run.add_argument("name", help="The name of a registered job.")
    return {"trigger": do_trigger, "run": do_run}


def do_trigger(out: OutputWrapper, *, name: str, wait: bool, **options: Any) -> None:
    """Record a manual run of ``name``, say where it went; with ``wait``, its outcome."""
    handover = manual.trigger(get_scheduler().dispatcher, name)
    run = handover.run
    if handover.where == SKIPPED:
        out.write(skipped_line(run))
        if wait:
            raise CommandError(f"run #{run.pk} of {name} was skipped", returncode=1)
        return
    out.write(where_line(handover, handover.settle()))
    out.flush()
    if not wait and handover.where != HERE:
        return
    # A run held here must be waited for: leaving would end it with the process.
    run = wait_for(handover)
    out.write(outcome_line(run))
    if wait and run.status != Run.Status.DONE:
        raise CommandError(f"run #{run.pk} of {name} {run.status}", returncode=1)


def do_run(
    out: OutputWrapper, *, name: str, verbosity: int = 1, **options: Any
) -> None:
    """Run ``name`` here in the foreground, streaming its log lines to ``out``."""
    with streaming(
        out, name, logging.DEBUG if verbosity > 1 else logging.INFO
    ) as lines:
        handover = manual.trigger(get_scheduler().dispatcher, name, here=True)
        run = handover.run
        if handover.where == SKIPPED:
            out.write(skipped_line(run))
            raise CommandError(f"run #{run.pk} of {name} was skipped", returncode=1)
        lines.run_id = run.pk
        run = wait_for(handover)
    if run.status != Run.Status.DONE:
        out.write(run.error.rstrip())
        raise CommandError(f"run #{run.pk} of {name} {run.status}", returncode=1)


def wait_for(handover: Handover) -> Run:
    """The ended run; Ctrl-C fails a run held here (the process ends) and stops."""
    try:
        return handover.wait()
    except KeyboardInterrupt:
        pass
    # Out of the except block: its traceback holds the cursor of a query the
    # Ctrl-C interrupted, and SQLite keeps that query's lock until it is freed.
    run = handover.run
    if handover.where == HERE:
        handover.abandon("interrupted with Ctrl-C")
        raise CommandError(
            f"interrupted: run #{run.pk} of {run.job} was marked failed",
            returncode=INTERRUPTED,
        )
    raise CommandError(
        f"stopped waiting: run #{run.pk} of {run.job} goes on",
        returncode=INTERRUPTED,
    )


def skipped_line(run: Run) -> str:
    """The line for a manual run that overlap prevention recorded as skipped."""
    return f"Run #{run.pk} of {run.job} skipped: its previous run is still in flight."


def where_line(handover: Handover, where: str) -> str:
    """Where the run went, in one line."""
    run = handover.run
    head = f"Run #{run.pk} of {run.job}"
    if where == RQ:
        return f"{head} queued on RQ queue {run.queue!r}."
    if where == HERE and handover.schedulers:
        return (
            f"{head}: the scheduler {', '.join(handover.schedulers)} did not take it "
            f"within {manual.FALLBACK_AFTER:g} s: running it here."
        )
    if where == HERE:
        return f"{head}: no scheduler is running: running it here."
    return f"{head} handed to the running scheduler {started_by(handover)}."


def started_by(handover: Handover) -> str:
    """The ``host:pid`` that started the run, if it does so soon; else the live ones."""
    deadline = time.monotonic() + START_WAIT
    while not handover.in_transaction() and time.monotonic() < deadline:
        worker = (
            Run.objects.filter(pk=handover.run.pk)
            .values_list("worker", flat=True)
            .first()
        )
        if worker:
            return worker
        time.sleep(0.05)
    if len(handover.schedulers) == 1:
        return f"{handover.schedulers[0]} (not started yet)"
    return f"(one of {', '.join(handover.schedulers)}; not started yet)"


def outcome_line(run: Run) -> str:
    """How the run ended, in one line."""
    seconds = (
        f" in {run.duration.total_seconds():.3f} s" if run.duration is not None else ""
    )
    error = f": {error_line(run.error, 80)}" if run.error else ""
    return f"Run #{run.pk} of {run.job} {run.status}{seconds}{error or '.'}"


class _Lines(logging.Handler):
    """Writes the job's log lines, and the start and end lines of its run, to ``out``."""

    def __init__(self, out: OutputWrapper) -> None:
        super().__init__()
        self.out = out
        self.run_id: int | None = None
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == EXECUTION_LOGGER:
            return getattr(record, "run_id", None) == self.run_id
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == EXECUTION_LOGGER:  # its traceback is printed once, at the end
            self.out.write(f"{record.levelname} {record.name}: {record.getMessage()}")
        else:
            self.out.write(self.format(record))
        self.out.flush()


@contextlib.contextmanager
def streaming(out: OutputWrapper, job: str, level: int) -> Iterator[_Lines]:
    """While in the block, the job's log lines at ``level`` and up go to ``out`` too."""
    handler = _Lines(out)
    loggers = [logging.getLogger(f"django_togo_scheduler.jobs.{job}")]
    loggers.append(logging.getLogger(EXECUTION_LOGGER))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, previous in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(previous)
