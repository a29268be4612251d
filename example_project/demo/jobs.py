"""Demo jobs, found by autodiscovery when the app is ready."""

from __future__ import annotations

import random
import time

from django_togo_scheduler import EVERY_MINUTE, RunContext, daily_at, every, job
from django_togo_scheduler.models import Run


@job("demo.cleanup", schedule=EVERY_MINUTE)
def cleanup(ctx: RunContext) -> None:
    """Every minute: count finished runs older than an hour (a stand-in for a purge)."""
    old = Run.objects.finished().count()
    ctx.logger.info(
        "cleanup for slot %s: %d finished runs on record", ctx.scheduled_for, old
    )


@job("demo.report", schedule=daily_at(7, 30), timezone="America/New_York")
def morning_report(ctx: RunContext) -> None:
    """07:30 New York time every day, whatever the project's TIME_ZONE."""
    ctx.logger.info("morning report for %s", ctx.scheduled_for)


@job("demo.flaky")
def flaky(ctx: RunContext) -> None:
    """Fails about one time in three; the traceback lands in Run.error."""
    if random.random() < 1 / 3:
        raise RuntimeError("the upstream API answered 503")
    ctx.logger.info("flaky job succeeded")


@job("demo.long", schedule=every("20s"))
def long_running(ctx: RunContext) -> None:
    """Takes 45 s but fires every 20 s: the slots in between are skipped, not stacked."""
    ctx.logger.info("long job started for slot %s", ctx.scheduled_for)
    time.sleep(45)
    ctx.logger.info("long job finished")
