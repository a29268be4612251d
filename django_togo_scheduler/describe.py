"""A schedule spec in plain words: "At 09:00, Monday through Friday".

cron-descriptor writes the words; it does not validate and knows neither our
macros nor ``@every``, so the spec is validated by :mod:`.specs` first, macros
are expanded here and ``@every`` is described here. Where cron-descriptor reads
the day fields differently from Vixie cron (a day field starting with ``*``
makes the two an AND, not an OR), the day-of-week words are built separately.
"""

from __future__ import annotations

import functools

from cron_descriptor import (  # type: ignore[import-untyped]
    ExpressionDescriptor,
    Options,
)

from .specs import parse_duration, parse_spec
from .specs.parse import _MACROS

DESCRIBE_CACHE_SIZE = 1024  # descriptions kept; a changelist page repeats specs

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@functools.lru_cache(maxsize=DESCRIBE_CACHE_SIZE)
def describe(spec: str) -> str:
    """Describe a valid spec in English; raise ``InvalidSpec`` for an invalid one."""
    text = parse_spec(spec).text
    keyword, _, argument = text.partition(" ")
    if keyword.lower() == "@every":
        return describe_interval(int(parse_duration(argument).total_seconds()))
    cron = _MACROS.get(keyword.lower(), text)
    return _describe_cron(cron.split(" "))


def describe_interval(seconds: int) -> str:
    """``3600`` -> "Every hour", ``5400`` -> "Every 1 hour and 30 minutes"."""
    parts = []
    for name, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {name}{'s' if amount != 1 else ''}")
    if len(parts) == 1 and parts[0].startswith("1 "):
        return f"Every {parts[0][2:]}"
    return "Every " + " and ".join(parts)


def _describe_cron(fields: list[str]) -> str:
    options = Options()
    options.use_24hour_time_format = True
    descriptor = ExpressionDescriptor(" ".join(fields), options)
    day_of_month, day_of_week = fields[2], fields[4]
    vixie_and = (
        day_of_month != "*"
        and day_of_week != "*"
        and (day_of_month.startswith("*") or day_of_week.startswith("*"))
    )
    if not vixie_and:
        return str(descriptor.get_description())
    # cron-descriptor says "or on Monday" whenever both day fields are set; with
    # a "*"-started day field Vixie cron wants both to match. The day-of-week
    # words of the same spec without its day-of-month read "only on Monday".
    alone = ExpressionDescriptor(" ".join([*fields[:2], "*", *fields[3:]]), options)
    description = (
        descriptor.get_time_of_day_description()
        + descriptor.get_day_of_month_description()
        + alone.get_day_of_week_description()
        + descriptor.get_month_description()
    )
    description = descriptor.transform_verbosity(description, use_verbose_format=False)
    return str(ExpressionDescriptor.transform_case(description, options.casing_type))
