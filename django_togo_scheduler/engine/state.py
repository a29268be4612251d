"""The engine's shared types: what a scheduler remembers between ticks, and a due
schedule as the claim reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class EngineState:
    """What one scheduler process remembers between ticks."""

    last_tick: datetime | None = None
    unknown_logged: set[str] = field(default_factory=set)
    reconciled_at: datetime | None = None
    # The earliest next_run_at seen by the last idle tick (None: not known).
    next_due: datetime | None = None


@dataclass(slots=True)
class DueJob:
    """A due schedule as the claim reads it: ``DUE_COLUMNS``, no model instance.

    Building 500 ``ScheduledJob`` instances per batch (a raw query's model
    machinery) cost three times the query itself; the claim needs these fields,
    whether a run of the job is in flight (``busy``) and whether every run in
    flight is an RQ run still in the outbox (``undelivered``: queued, never
    handed out).
    """

    pk: int
    name: str
    spec: str
    timezone: str
    next_run_at: datetime | None
    catchup: str
    queue: str
    timeout: int | None
    busy: bool
    undelivered: bool = False
    # Why the spec or zone cannot be evaluated: the claim pauses the schedule
    # with this reason (empty: it can be evaluated).
    problem: str = ""
