"""One tick run step by step, each step timed: where a burst's time goes.

``engine.tick()`` is four steps: the repair pass (``maintain``: reconcile, or
the dispatcher's housekeeping), the claim (``claim_due``: claim the due
schedules and record their runs, in batches), the probe (the earliest
``next_run_at`` and whether the outbox holds a run, one query) and the outbox
sweep (``dispatch_pending``). :func:`timed_tick` calls those same functions in
the order and under the conditions ``tick()`` does, with a timer around each:
nothing in django_togo_scheduler is replaced or wrapped. It must follow
``engine.tick()``: change it with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

STEPS = ("maintain", "claim", "probe", "dispatch")


def timed_tick(
    now: datetime,
    *,
    dispatcher: Any,
    state: Any,
    hand_over_at: datetime | None = None,
) -> tuple[list[Any], dict[str, float]]:
    """``engine.tick(now, dispatcher=..., state=...)``; its new runs and seconds per step.

    The seconds are keyed by :data:`STEPS`, plus ``tick``: the whole of it.
    """
    from django_togo_scheduler import clock
    from django_togo_scheduler.engine import maintain
    from django_togo_scheduler.engine.claim import claim_due
    from django_togo_scheduler.engine.idle import probe
    from django_togo_scheduler.engine.outbox import dispatch_pending
    from django_togo_scheduler.engine.recording import waits

    spent = dict.fromkeys(STEPS, 0.0)

    def step(name: str, call: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        try:
            return call(*args)
        finally:
            spent[name] += time.perf_counter() - start

    began = time.perf_counter()
    repair_at = now if hand_over_at is None else clock.now()
    step("maintain", maintain, repair_at, dispatcher, state)
    created: list[Any] = []
    known_due = state.next_due is not None and state.next_due <= now
    if known_due:
        created = step("claim", claim_due, now, state, dispatcher, hand_over_at)
    next_due, pending = step("probe", probe, state.unknown_logged)
    if not known_due and next_due is not None and next_due <= now:
        created = step("claim", claim_due, now, state, dispatcher, hand_over_at)
        next_due = None  # advanced: the loop asks again
    if pending or any(waits(run) for run in created):
        step("dispatch", dispatch_pending, now, dispatcher)
    state.last_tick, state.next_due = now, next_due
    spent["tick"] = time.perf_counter() - began
    return created, spent
