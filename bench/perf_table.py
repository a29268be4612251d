"""The table of bench/perf.py: one row per figure, us on SQLite and PostgreSQL, the peers.

A row picks a figure of each tool and database from the records, shows our
advantage over each peer as a ratio (> 1: we win) and whether we met the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness.rows import markdown_row

Pick = Callable[[str, "str | None"], Any]  # (tool, db) -> the figure, or None

HEADER = (
    "| workload | togo SQLite | togo PG | celery-beat SQLite | celery-beat PG | RQ cron "
    "| rq-scheduler | togo vs celery-beat (SQLite / PG) | vs RQ cron (SQLite / PG) "
    "| vs rq-scheduler (SQLite / PG) | target | met |"
)
DBS = ("sqlite", "postgres")


def find(
    records: list[dict[str, Any]],
    tool: str,
    workload: str,
    db: str | None = None,
    **match: Any,
) -> dict[str, Any] | None:
    """The first record of ``tool``'s ``workload`` (on ``db``) with the ``match`` values."""
    for record in records:
        if record.get("tool") != tool or record.get("workload") != workload:
            continue
        if db is not None and record.get("db") != db:
            continue
        if all(record.get(k) == v for k, v in match.items()):
            return record
    return None


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def ratio(peer: float | None, ours: float | None, lower_is_better: bool) -> str:
    """How many times better we are than the peer (> 1: we win)."""
    if not peer or not ours:
        return "-"
    value = peer / ours if lower_is_better else ours / peer
    return (
        f"{value:,.0f}x"
        if value >= 100
        else f"{value:.1f}x"
        if value >= 1
        else f"{value:.2f}x"
    )


class Table:
    """The markdown table, a row at a time."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.lines = [HEADER, "|" + " --- |" * 12]

    def text(self) -> str:
        return "\n".join(self.lines)

    def find(
        self, tool: str, workload: str, db: str | None = None, **match: Any
    ) -> Any:
        return find(self.records, tool, workload, db, **match)

    def value(self, workload: str, key: str, **match: Any) -> Pick:
        """A pick of ``key`` (``a.b``: nested) in each tool's ``workload`` record."""

        def pick(tool: str, db: str | None) -> Any:
            record = self.find(tool, workload, db, **match)
            if record is None:
                return None
            result: Any = record
            for part in key.split("."):
                result = result.get(part) if isinstance(result, dict) else None
            return result

        return pick

    def row(
        self,
        label: str,
        pick: Pick,
        *,
        lower: bool = True,
        target: str = "",
        check: Callable[[float], bool] | None = None,
        digits: int = 2,
    ) -> None:
        """One figure: ``lower`` is better unless False; ``check``: the target met."""
        ours = {db: pick("togo", db) for db in DBS}
        beat = {db: pick("celery-beat", db) for db in DBS}
        rqcron, rqs = pick("rq-cron", "redis"), pick("rq-scheduler", "redis")
        cells = [label, fmt(ours["sqlite"], digits), fmt(ours["postgres"], digits)]
        cells += [fmt(beat["sqlite"], digits), fmt(beat["postgres"], digits)]
        cells += [fmt(rqcron, digits), fmt(rqs, digits)]
        cells += [" / ".join(ratio(beat[db], ours[db], lower) for db in ours)]
        cells += [" / ".join(ratio(rqcron, ours[db], lower) for db in ours)]
        cells += [" / ".join(ratio(rqs, ours[db], lower) for db in ours)]
        cells += [target, met(ours, check)]
        self.lines.append(markdown_row(cells))


def met(ours: dict[str, Any], check: Callable[[float], bool] | None) -> str:
    """Whether each of our figures met the target: yes, **no**, or - (none)."""
    if check is None:
        return ""
    return " / ".join(
        "-" if ours[db] is None else ("yes" if check(ours[db]) else "**no**")
        for db in ours
    )


def ours_only(pick: Pick) -> Pick:
    """``pick`` for us, nothing for the peers."""
    return lambda tool, db: pick(tool, db) if tool == "togo" else None
