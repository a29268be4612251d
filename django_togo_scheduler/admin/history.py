"""The recent runs of the schedules on a changelist page, in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from django_togo_scheduler.models import Run

STRIP_LENGTH = 20  # runs shown per schedule in the changelist's strip

# What a mark of the strip needs; the error text and the rest stay in the table.
_FIELDS = ("id", "job", "status", "trigger", "scheduled_for", "created_at")


def recent_runs(
    names: Iterable[str], limit: int = STRIP_LENGTH
) -> dict[str, list[Run]]:
    """The last ``limit`` runs of each job in ``names``, newest first.

    One query: ``ROW_NUMBER() OVER (PARTITION BY job ORDER BY id DESC)`` over the
    runs of these jobs, kept where it is at most ``limit``.
    """
    names = sorted(set(names))
    if not names:
        return {}
    position = Window(RowNumber(), partition_by=[F("job")], order_by=F("id").desc())
    rows = (
        Run.objects.filter(job__in=names)
        .annotate(position=position)
        .filter(position__lte=limit)
        .only(*_FIELDS)
        .order_by("job", "-id")
    )
    found: dict[str, list[Run]] = defaultdict(list)
    for run in rows:
        found[run.job].append(run)
    return dict(found)
