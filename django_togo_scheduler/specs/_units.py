"""The spec limits and the duration parser that ``parse`` and the package share.

A module of its own so that ``parse`` never imports the package's ``__init__``
(which imports ``parse``); ``__init__`` re-exports all of it.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django_togo_scheduler.exceptions import InvalidDuration

MAX_SPEC_LENGTH = 200  # characters, as ScheduledJob.spec stores
SPEC_CACHE_SIZE = 8192  # parsed specs kept by parse_spec; many schedules share one

_DURATION = re.compile("".join(f"(?:([0-9]{{1,12}}){unit})?" for unit in "dhms"))
_DURATION_UNITS = (86400, 3600, 60, 1)  # seconds in a d, h, m, s


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``30s``, ``5m``, ``1h30m`` or ``1d2h`` (whole seconds)."""
    if not isinstance(text, str):
        raise InvalidDuration(f"a duration must be a string, not {type(text).__name__}")
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        raise InvalidDuration(
            f"{text!r} is not a duration such as 30s, 5m, 1h30m, 1d2h"
        )
    units = zip(_DURATION_UNITS, match.groups(), strict=True)
    given = [(unit, int(amount)) for unit, amount in units if amount]
    if any(amount == 0 for _, amount in given):
        raise InvalidDuration(f"{text!r}: each amount must be a positive integer")
    seconds = sum(unit * amount for unit, amount in given)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidDuration(f"{text!r} is too long a duration") from None
