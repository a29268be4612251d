"""Two things every message of the scheduler writes: a moment in a zone, and the
line of an error that says what went wrong (the admin, the commands, explain and
the loop's log all write them the same way)."""

from __future__ import annotations

from datetime import datetime, tzinfo


def iso_in(value: datetime | None, tz: tzinfo) -> str:
    """``value`` in ``tz``, ISO 8601 to the second with its offset; ``-`` for None."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value else "-"


def error_line(text: str, limit: int | None = None) -> str:
    """The line of an error that says what went wrong, cut at ``limit`` characters.

    The first non-empty line; for a Python traceback, whose first line is always
    "Traceback (most recent call last):", the exception line that ends it.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    if line.startswith("Traceback (most recent call last)"):
        line = lines[-1]
    if limit is None or len(line) <= limit:
        return line
    return line[: limit - 1] + "…"
