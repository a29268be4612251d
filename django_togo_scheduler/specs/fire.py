"""Fire times: :class:`Spec` and the daylight-saving rules it fires by.

A :class:`Spec` is built by :mod:`.parse`; this module parses nothing and imports
nothing of the package, so ``parse`` can import it and not the other way round.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A valid cron spec fires at least every 40 years (Feb 29 on a Sunday: 2088, then
# 2128), so a walk that fails later than this has run off the end of the calendar.
_LAST_SURE_YEAR = datetime.max.year - 40
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed, valid spec; get one from :func:`parse_spec`.

    ``is_wildcard`` marks cron specs whose minute or hour field starts with ``*``:
    they fire by real time across daylight-saving changes, the others by wall clock.
    """

    text: str
    is_every: bool = False
    is_wildcard: bool = False
    interval: timedelta | None = None
    # A croniter over naive wall times that is never advanced itself: each search
    # walks a shallow copy, so a cached Spec is safe to share between threads.
    _cron: Any = field(default=None, compare=False, repr=False)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime:
        """Return the first fire instant strictly after ``after`` (aware), in UTC."""
        start = _to_utc(after, "after")
        if self.interval is not None:
            return _every_floor(start, self.interval) + self.interval
        return self._search(start, tz, forward=True)

    def last_at_or_before(self, moment: datetime, tz: tzinfo) -> datetime:
        """Return the latest fire instant at or before ``moment`` (aware), in UTC."""
        end = _to_utc(moment, "moment")
        if self.interval is not None:
            return _every_floor(end, self.interval)
        return self._search(end + _MICROSECOND, tz, forward=False)

    def iter_after(self, after: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Yield the successive fire instants strictly after ``after``, in UTC.

        The iteration ends with the calendar (the year 9999) instead of failing.
        """
        current = _to_utc(after, "after")
        while True:
            try:
                current = self.next_after(current, tz)
            except (OverflowError, ValueError):
                if self.interval is None and current.year < _LAST_SURE_YEAR:
                    raise
                return  # no fire instant left before datetime.max
            yield current

    def _search(self, moment: datetime, tz: tzinfo, *, forward: bool) -> datetime:
        """Return the nearest fire instant strictly after (or before) ``moment``."""
        local = moment.astimezone(tz)
        wall = local.replace(tzinfo=None, fold=0)
        # In a repeated hour wall order is not time order. From its first pass the
        # second pass of earlier wall times is still to come (wildcard specs fire
        # then); from its second pass, later wall times fired in the first pass.
        if not forward:
            wall += max(_offsets(wall, tz)) - _offset(local)
        elif self.is_wildcard:
            wall += min(_offsets(wall, tz)) - _offset(local)
        ahead, order = (operator.gt, 1) if forward else (operator.lt, -1)
        best: datetime | None = None  # the other pass of a repeated time, if ahead
        # The nearest instant of each wall time never moves back along the walk,
        # so the first one ahead ends it, unless the other pass of an earlier wall
        # time comes sooner still.
        for candidate in self._walk(wall, forward=forward):
            instants = _fire_instants(candidate, tz, self.is_wildcard)[::order]
            if not instants:
                continue
            if best is not None and not ahead(best, instants[0]):
                return best
            if ahead(instants[0], moment):
                return instants[0]
            if best is None and len(instants) == 2 and ahead(instants[1], moment):
                best = instants[1]
        raise AssertionError("unreachable: the walk never ends")  # pragma: no cover

    def _walk(self, wall: datetime, *, forward: bool) -> Iterator[datetime]:
        """Yield matching wall times after (or at and before) ``wall``, in walk order."""
        cron = copy.copy(self._cron)
        # Whole minutes only: croniter goes through float timestamps, which could
        # round 10:04:59.999999 up to 10:05 and so skip the 10:05 slot.
        minute = wall.replace(second=0, microsecond=0)
        step = cron.get_next if forward else cron.get_prev
        candidate: datetime = step(datetime, minute if forward else minute + _MINUTE)
        while True:
            yield candidate
            candidate = step(datetime)


def _to_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def _every_floor(moment: datetime, interval: timedelta) -> datetime:
    # timedelta // timedelta is exact integer arithmetic on microseconds.
    return _EPOCH + (moment - _EPOCH) // interval * interval


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:  # a tzinfo whose fromutc() works but utcoffset() does not
        raise ValueError(f"time zone {moment.tzinfo!r} gives no UTC offset")
    return offset


def _offsets(wall: datetime, tz: tzinfo) -> tuple[timedelta, timedelta]:
    first = wall.replace(tzinfo=tz, fold=0)  # wall may carry fold=1 from astimezone()
    return _offset(first), _offset(first.replace(fold=1))


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _fire_instants(wall: datetime, tz: tzinfo, wildcard: bool) -> tuple[datetime, ...]:
    """Return the UTC instants, in order, at which a matching wall time fires.

    An instant is real if it shows ``wall`` again on the way back (a round trip
    through UTC); that tells skipped and repeated wall times apart for any tzinfo.
    """
    offsets = _offsets(wall, tz)
    real = sorted(
        instant
        for instant in {(wall - offset).replace(tzinfo=UTC) for offset in offsets}
        if _wall(instant, tz) == wall
    )
    if not real:  # skipped: fixed-time specs fire when the clock jumps past it
        return () if wildcard else (_gap_end(wall, tz, *offsets),)
    return tuple(real) if wildcard else (real[0],)


def _gap_end(wall: datetime, tz: tzinfo, *offsets: timedelta) -> datetime:
    """Return the instant the clock jumped over the skipped ``wall``."""
    low = (wall - max(offsets)).replace(tzinfo=UTC)  # shows an earlier time
    high = (wall - min(offsets)).replace(tzinfo=UTC)  # shows a later time
    if low == high:  # a tzinfo that ignores fold: bracket by a day instead
        low, high = low - _DAY, high + _DAY
    # Bisect to the microsecond: shifts need not be whole hours (Lord Howe's is
    # 30 minutes) and old transitions need not fall on whole minutes.
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if _wall(middle, tz) > wall:
            high = middle
        else:
            low = middle
    return high
