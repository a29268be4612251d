"""Timers and the statistics of what they measured."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Which element of the sorted values a percentile is, for n values and fraction
# q. Each benchmark keeps the rule its published figures were computed with.
RULES: dict[str, Callable[[float, int], int]] = {
    # round(q * (n - 1)): bench/tick.py, bench/perf.py and the peers
    "nearest": lambda q, n: round(q * (n - 1)),
    # int(q * n): bench/chaos.py
    "floor": lambda q, n: int(q * n),
    # round(q * n) - 1: bench/trigger_start.py
    "rank": lambda q, n: round(q * n) - 1,
}


def percentile(
    values: Iterable[float], fraction: float, rule: str = "nearest"
) -> float:
    """The ``fraction`` percentile of ``values``, one of them (see ``RULES``)."""
    ordered = sorted(values)
    index = RULES[rule](fraction, len(ordered))
    return ordered[min(len(ordered) - 1, max(0, index))]


def summary(times_ms: Sequence[float]) -> dict[str, float]:
    """Median, p95 and count of a list of durations in ms."""
    return {
        "median_ms": round(statistics.median(times_ms), 4),
        "p95_ms": round(percentile(times_ms, 0.95), 4),
        "samples": len(times_ms),
    }


def median_of(rows: Iterable[Mapping[str, Any]], key: str, digits: int = 3) -> float:
    """The median of ``row[key]`` over ``rows``, rounded."""
    return round(statistics.median(row[key] for row in rows), digits)


class Stopwatch:
    """``with Stopwatch() as watch: ...``; then ``watch.seconds`` and ``watch.ms``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.started

    @property
    def ms(self) -> float:
        return self.seconds * 1000


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``call()``'s result and the seconds it took."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def time_calls(
    call: Callable[[], Any],
    *,
    samples: int,
    warmup: int = 3,
    budget_s: float | None = None,
) -> list[float]:
    """Time ``call`` ``samples`` times (after ``warmup`` calls), in ms.

    With ``budget_s``, stops early once that much time was spent (at least 3
    samples), so a peer whose tick takes a second does not take minutes.
    """
    for _ in range(warmup):
        call()
    times: list[float] = []
    spent = 0.0
    for _ in range(samples):
        _, elapsed = timed(call)
        times.append(elapsed * 1000)
        spent += elapsed
        if budget_s is not None and spent > budget_s and len(times) >= 3:
            break
    return times
