"""Which slots of a due schedule to record, and where its next slot is. Pure.

Downtime is time without a tick, whichever process ticks: a slot is *on time*
when the tick that first sees it comes at most ``MISFIRE_GRACE`` after it, and
*missed* otherwise (no scheduler ran, or one was alive but could not tick: the
database unreachable, the machine suspended, the process stopped). On-time
slots are always recorded; the schedule's catch-up policy decides what happens
to missed ones. A slot recorded while a newer slot of its schedule is already
due has trigger ``catchup``; the newest due slot is an ordinary fire
(``schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from django_togo_scheduler.specs import Spec

_TICK = timedelta(microseconds=1)
MAX_SLOTS_PER_TICK = (
    500  # slots one schedule records in one tick; the rest follow next tick
)


@dataclass(frozen=True)
class Slot:
    """One fire instant to record and how it was fired."""

    at: datetime
    catchup: bool


@dataclass(frozen=True)
class Plan:
    """What to record for one due schedule, and its next slot after that."""

    slots: list[Slot]
    next_run_at: datetime
    missed: int  # slots left unrecorded by the catch-up policy or the window


def plan_due(
    spec: Spec,
    tz: tzinfo,
    *,
    due_at: datetime,
    now: datetime,
    policy: str,
    grace: timedelta,
    window: timedelta | None,
) -> Plan:
    """Plan a schedule whose next slot ``due_at`` is at or before ``now``.

    ``grace`` is ``MISFIRE_GRACE``: slots at or after ``now - grace`` are on
    time. Of the missed ones, ``latest`` records the newest, and only when no
    slot is on time; ``none`` records none; ``all`` records every one not older
    than ``now - window`` (``window`` None: no limit).
    """
    on_time_from = now - grace
    following = spec.next_after(due_at, tz)
    if following > now and (due_at >= on_time_from or policy != "none"):
        # The common case: exactly one slot is due (on time, or the one missed
        # slot that "latest" and "all" fire).
        return Plan([Slot(due_at, catchup=False)], following, 0)
    newest = max(spec.last_at_or_before(now, tz), due_at)
    if policy == "all":
        start = due_at if window is None else max(due_at, now - window)
    else:
        start = max(due_at, on_time_from)
    slots = _slots_between(spec, tz, start, newest)
    capped = len(slots) > MAX_SLOTS_PER_TICK
    if capped:
        slots = slots[:MAX_SLOTS_PER_TICK]
    if policy == "latest" and not slots:
        slots = [newest]
    recorded = [Slot(at, catchup=at != newest) for at in slots]
    next_run_at = spec.next_after(slots[-1] if capped else now, tz)
    missed = 0 if capped else _count_between(spec, tz, due_at, newest) - len(slots)
    return Plan(recorded, next_run_at, missed)


def _slots_between(
    spec: Spec, tz: tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    # Inclusive of ``start``: the stored next_run_at is itself a slot.
    slots: list[datetime] = []
    for at in spec.iter_after(start - _TICK, tz):
        if at > end or len(slots) > MAX_SLOTS_PER_TICK:
            break
        slots.append(at)
    return slots


def _count_between(spec: Spec, tz: tzinfo, due_at: datetime, newest: datetime) -> int:
    # Only for the log line about missed slots; bounded like the recording itself.
    return len(_slots_between(spec, tz, due_at, newest))
