"""The engine's tick as the tests call it: this process's state and dispatcher
unless a test gives its own (``engine.tick`` takes both as arguments)."""

from __future__ import annotations

from datetime import datetime

from django_togo_scheduler import clock, engine
from django_togo_scheduler.dispatch.base import Dispatcher
from django_togo_scheduler.engine import EngineState
from django_togo_scheduler.models import Run
from django_togo_scheduler.service import get_scheduler


def tick(
    now: datetime | None = None,
    *,
    dispatcher: Dispatcher | None = None,
    state: EngineState | None = None,
    hand_over_at: datetime | None = None,
) -> list[Run]:
    service = get_scheduler()
    return engine.tick(
        now or clock.now(),
        state=state if state is not None else service.state,
        dispatcher=dispatcher or service.dispatcher,
        hand_over_at=hand_over_at,
    )
