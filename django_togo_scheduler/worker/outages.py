"""What a worker does when Redis is unreachable: note it once, retry or go on.

:class:`OutageAware` gives :class:`~django_togo_scheduler.worker.Worker` its two
ways to call Redis during an outage: :meth:`~OutageAware._retry` (nothing else
to do: wait for Redis) and :meth:`~OutageAware._tolerate` (a work horse runs:
skip the call). Both log the outage's first failure and its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import rq
from redis.exceptions import ConnectionError, TimeoutError
from rq.exceptions import StopRequested
from rq.worker_registration import register

REDIS_DOWN = (ConnectionError, TimeoutError)  # a refused, dropped or silent Redis
FIRST_RETRY = 1.0  # seconds; doubled after each failed attempt
MAX_RETRY = 30.0  # seconds

T = TypeVar("T")


class OutageAware(rq.Worker):
    """An ``rq.Worker`` that knows whether Redis answers, and since when not."""

    _redis_down_since: float | None = None

    def _redis_down(self, doing: str, exc: Exception) -> None:
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
            self.log.warning(
                "Worker %s: Redis unreachable while %s (%s); retrying every 1 to %d s "
                "until it is back%s.",
                self.name,
                doing,
                exc,
                MAX_RETRY,
                "; the work horse goes on" if self.horse_pid else "",
            )
        else:
            self.log.debug(
                "Worker %s: Redis still unreachable while %s (%s).",
                self.name,
                doing,
                exc,
            )

    def _redis_back(self) -> None:
        # Called by the main thread and the command listener's: one logs.
        since, self._redis_down_since = self._redis_down_since, None
        if since is None:
            return
        down = time.monotonic() - since
        self.log.warning(
            "Worker %s: Redis reachable again after %.0f s.", self.name, down
        )
        try:
            self._register_again()
        except REDIS_DOWN as exc:
            self._redis_down("registering again", exc)

    def _register_again(self) -> None:
        # A Redis restarted empty has forgotten the worker: list it again.
        if self.birth_date is None or self.connection.sismember(
            self.redis_workers_keys, self.key
        ):
            return
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()
        self.log.info("Worker %s: registered again.", self.name)

    def _tolerate(self, doing: str, call: Callable[[], T]) -> T | None:
        """Call ``call``; if Redis is unreachable, note it and go on without it."""
        try:
            result = call()
        except REDIS_DOWN as exc:
            self._redis_down(doing, exc)
            return None
        self._redis_back()
        return result

    def _retry(self, doing: str, call: Callable[[], T]) -> T:
        """Call ``call`` until Redis answers, backing off; give up on a stop request.

        Only for moments when the worker has nothing else to do: no work horse to
        watch. Outside them (a horse runs, or this is the horse) it tolerates.
        """
        if self.is_horse or self.horse_pid:
            return self._tolerate(doing, call)  # type: ignore[return-value]
        delay = FIRST_RETRY
        while True:
            try:
                result = call()
            except REDIS_DOWN as exc:
                self._redis_down(doing, exc)
                if self._stop_requested:
                    raise StopRequested() from exc
                time.sleep(delay)  # a SIGTERM's StopRequested ends it
                delay = min(delay * 2, MAX_RETRY)
                continue
            self._redis_back()
            return result
