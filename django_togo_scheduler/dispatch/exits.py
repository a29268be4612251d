"""What a process holding inline runs does when its interpreter exits.

A Django shell, a web process or a command that ran a manual run in its own
inline pool must not leave that run ``running`` for a scheduler to fail as a dead
worker, or not at all when none runs. At exit it first lets pending hand-overs
decide (a manual run left for a scheduler that turned out dead is taken here),
then waits for the runs its pools hold; Ctrl-C ends the wait. Runs still running
then are failed ("process exited: ..."), runs not started go back to the outbox.
Pool threads are daemons, so nothing else holds the exit: a handler past its
timeout dies with the process.

``runscheduler`` shuts its pool down itself (with its grace) before it exits,
so there is nothing left here for it to do.
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from collections.abc import Sequence
from typing import Protocol

from django_togo_scheduler import clock

PROCESS_EXITED = "process exited: {worker} exited before the run ended ({why})"


class HoldsRuns(Protocol):
    """What the exit needs of a pool (the inline dispatcher is one)."""

    def held(self) -> list[int]: ...

    def wait_held(self, timeout: float | None = None) -> bool: ...

    def fail_held(self, error: str, pks: Sequence[int] | None = None) -> list[int]: ...


_pools: weakref.WeakSet[HoldsRuns] = weakref.WeakSet()
_pending: set[threading.Thread] = set()
_lock = threading.Lock()
_registered = False


def watch(pool: HoldsRuns) -> None:
    """Look after ``pool``'s runs at interpreter exit."""
    with _lock:
        _pools.add(pool)
        _register()


def hold_exit(thread: threading.Thread) -> None:
    """Let the exit wait for ``thread`` (a pending hand-over) before the pools."""
    with _lock:
        _pending.add(thread)
        _register()


def release_exit(thread: threading.Thread) -> None:
    """``thread`` is done: the exit need not wait for it."""
    with _lock:
        _pending.discard(thread)


def _register() -> None:
    global _registered
    if not _registered:
        atexit.register(at_exit)
        _registered = True


def at_exit() -> None:
    """Wait for pending hand-overs and held runs; fail what still runs."""
    with _lock:
        pending, pools = list(_pending), list(_pools)
    why = "the interpreter exited"
    try:
        for thread in pending:
            while thread.is_alive():
                thread.join(0.1)
        busy = [pool for pool in pools if pool.held()]
        if busy:
            count = sum(len(pool.held()) for pool in busy)
            sys.stderr.write(
                f"Waiting for {count} inline run(s) of this process to end "
                "(Ctrl-C: stop waiting and mark them failed).\n"
            )
            sys.stderr.flush()
            for pool in busy:
                pool.wait_held()
    except KeyboardInterrupt:
        why = "interrupted while it waited for the run at exit"
    for pool in pools:
        if pool.held():
            pool.fail_held(PROCESS_EXITED.format(worker=clock.worker_name(), why=why))
