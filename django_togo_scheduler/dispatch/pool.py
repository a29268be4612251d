"""A pool of threads whose busy threads can be abandoned and replaced.

``concurrent.futures.ThreadPoolExecutor`` cannot do what the inline dispatcher
needs: a run past its timeout keeps its thread (a thread cannot be stopped), so a
few hung handlers would hold every thread of the pool and nothing else would
start; and its threads are joined when the interpreter exits, so a hung handler
keeps the process alive. Here a busy thread can be *abandoned*: it is left to
finish its task alone, and ends when the task returns instead of taking new
work, while a replacement thread keeps ``size`` tasks able to run. Threads are
daemons: a process never waits for them at exit (the inline dispatcher decides
what to wait for).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Abandoned threads still alive that are replaced, per thread of the pool: past
# INLINE_WORKERS x 4 of them (16 by default) the pool shrinks by one thread for
# each further abandoned one, so a handler that hangs for ever cannot grow the
# process's threads without limit. An abandoned thread that returns frees room.
REPLACED_PER_WORKER = 4
IDLE_EXIT = 30.0  # seconds a thread waits for work before it ends (a new one comes with the next task)


class _Worker:
    """One thread of the pool and the task it runs (None while idle)."""

    def __init__(self) -> None:
        self.key: int | None = None
        self.abandoned = False
        self.thread: threading.Thread | None = None


class WorkerPool:
    """Runs submitted callables in at most ``size`` live threads, in order."""

    def __init__(self, size: int, name: str = "togo-run") -> None:
        self.size = size
        self.max_replaced = size * REPLACED_PER_WORKER
        self._name = name
        self._cond = threading.Condition()
        self._tasks: deque[tuple[int, Callable[[], object]]] = deque()
        self._live: set[_Worker] = set()
        self._abandoned: set[_Worker] = set()
        self._running: dict[int, _Worker] = {}
        self._closed = False
        self._started = 0  # threads started, for their names

    def submit(self, key: int, task: Callable[[], object]) -> None:
        """Queue ``task``; ``key`` names it for :meth:`abandon` and :meth:`cancel_pending`."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the pool is closed")
            self._tasks.append((key, task))
            self._grow()
            self._cond.notify()

    def cancel_pending(self) -> list[int]:
        """Drop the tasks no thread has taken yet; return their keys, in order."""
        with self._cond:
            keys = [key for key, _task in self._tasks]
            self._tasks.clear()
            return keys

    def abandon(self, key: int) -> int | None:
        """Leave the thread running ``key`` to finish alone and replace it.

        Returns how many abandoned threads are alive now, or None when no thread
        runs ``key`` (it ended meanwhile).
        """
        with self._cond:
            worker = self._running.get(key)
            if worker is None or worker.abandoned:
                return None
            worker.abandoned = True
            self._live.discard(worker)
            self._abandoned.add(worker)
            self._grow()
            return len(self._abandoned)

    def abandoned(self) -> int:
        """How many abandoned threads are still alive (their handler has not returned)."""
        with self._cond:
            return len(self._abandoned)

    def capacity(self) -> int:
        """How many tasks the pool can run at once now: ``size`` until the cap is passed."""
        with self._cond:
            return self._capacity()

    def close(self) -> None:
        """Take no new tasks; idle threads end, busy ones after their task."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _capacity(self) -> int:
        return max(0, self.size - max(0, len(self._abandoned) - self.max_replaced))

    def _grow(self) -> None:
        # Called with the lock held: start threads while tasks wait for one.
        idle = sum(1 for worker in self._live if worker.key is None)
        waiting = len(self._tasks) - idle
        while waiting > 0 and len(self._live) < self._capacity() and not self._closed:
            self._start()
            waiting -= 1

    def _start(self) -> None:
        worker = _Worker()
        self._started += 1
        worker.thread = threading.Thread(
            target=self._work,
            args=(worker,),
            name=f"{self._name}-{self._started}",
            daemon=True,
        )
        # Started first: from Python 3.12 on no thread starts while the
        # interpreter exits (RuntimeError), and a worker without one must not
        # count as live. (The lock is held: it cannot take a task before this.)
        worker.thread.start()
        self._live.add(worker)

    def _work(self, worker: _Worker) -> None:
        while True:
            taken = self._take(worker)
            if taken is None:
                return
            key, task = taken
            try:
                task()
            except BaseException:  # a handler's SystemExit must not end in silence
                logger.exception("Task %s of the inline pool raised.", key)
            if self._done(worker, key):
                return

    def _take(self, worker: _Worker) -> tuple[int, Callable[[], object]] | None:
        with self._cond:
            while not self._tasks:
                if self._closed or (not self._cond.wait(IDLE_EXIT) and not self._tasks):
                    self._live.discard(worker)
                    return None
            key, task = self._tasks.popleft()
            worker.key = key
            self._running[key] = worker
            return key, task

    def _done(self, worker: _Worker, key: int) -> bool:
        """Record the end of a task; True when the thread must end (abandoned)."""
        with self._cond:
            self._running.pop(key, None)
            worker.key = None
            if worker.abandoned:
                self._abandoned.discard(worker)
                self._grow()  # it may have kept the pool under its capacity
                return True
            return False
