"""Result rows: printed as JSON lines, passed from child to parent, tabulated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

RESULT_PREFIX = "RESULT "  # the stdout lines of a child that its parent collects


def emit(record: dict[str, Any]) -> None:
    """Print one result for the parent (:func:`collect`) to collect."""
    print(RESULT_PREFIX + json.dumps(record, default=str), flush=True)


def print_json(record: dict[str, Any]) -> None:
    """Print one result as a JSON line (a benchmark that is its own parent)."""
    print(json.dumps(record), flush=True)


def log(message: str) -> None:
    """Progress on stderr (a parent passes its children's through)."""
    print(f"    {message}", file=sys.stderr, flush=True)


def collect(
    command: list[str],
    env: dict[str, str] | None = None,
    show: Callable[[dict[str, Any]], str] | None = None,
) -> list[dict[str, Any]]:
    """Run a child; pass its progress through; return the records it emitted.

    Each record is logged as ``show(record)`` as it comes. A child that fails
    keeps what it emitted before.
    """
    records = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(RESULT_PREFIX):
                record = json.loads(line[len(RESULT_PREFIX) :])
                records.append(record)
                if show is not None:
                    log(show(record))
    if child.returncode:
        log(f"!! {command[1]} exited {child.returncode}; its results so far are kept")
    return records


def write_jsonl(stream: IO[str], records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` to ``stream``, one JSON line each, and flush."""
    for record in records:
        stream.write(json.dumps(record, default=str) + "\n")
    stream.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON lines file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def aligned_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table, every column right-aligned to its widest cell."""
    table = [list(map(str, headers))] + [list(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    )


def markdown_row(cells: Iterable[Any]) -> str:
    """One row of a markdown table."""
    return "| " + " | ".join(map(str, cells)) + " |"
