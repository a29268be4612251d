"""Jobs of the test app, found by autodiscovery."""

from __future__ import annotations

import os
import time

from django_togo_scheduler import job, register


def _log(line: str) -> None:
    path = os.environ.get("TOGO_TEST_SIDE_EFFECTS")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")


@job("testapp.noop")
def noop(ctx):
    _log(
        f"noop {ctx.run_id} {ctx.scheduled_for.isoformat() if ctx.scheduled_for else '-'}"
    )


@job("testapp.fails")
def fails(ctx):
    raise RuntimeError("this job always fails")


@job("testapp.no_args")
def no_args():
    _log("no_args")


@job("testapp.slow")
def slow(ctx):
    time.sleep(float(os.environ.get("TOGO_TEST_SLOW_SECONDS", "2")))
    _log(f"slow {ctx.run_id}")


@job("testapp.hangs")
def hangs(ctx):
    # A second slow job (sleeps TOGO_TEST_HANG_SECONDS): past a short timeout.
    time.sleep(float(os.environ.get("TOGO_TEST_HANG_SECONDS", "60")))
    _log(f"hangs {ctx.run_id}")


@job("testapp.chatty")
def chatty(ctx):
    ctx.logger.info("step one of run %s", ctx.run_id)
    ctx.logger.warning("step two")


@job("testapp.gated")
def gated(ctx):
    # Runs until the file TOGO_TEST_GATE names exists: the test decides when
    # the job ends, not the clock.
    _log(f"gated {ctx.run_id} started")
    while not os.path.exists(os.environ["TOGO_TEST_GATE"]):
        time.sleep(0.05)
    _log(f"gated {ctx.run_id} done")


def _make_ticker(index: int):
    def ticker(ctx):
        _log(
            f"tick{index} {ctx.run_id} {ctx.scheduled_for.isoformat() if ctx.scheduled_for else '-'} {os.getpid()}"
        )

    return ticker


# testapp.tick0 ... testapp.tick9: distinct jobs for the multi-process tests.
for _i in range(10):
    register(f"testapp.tick{_i}", _make_ticker(_i))
