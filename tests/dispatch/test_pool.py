"""The inline pool's threads: order, the size bound, abandoned threads and their replacements."""

from __future__ import annotations

import threading
import time

import pytest

from django_togo_scheduler.dispatch import pool as pool_module
from django_togo_scheduler.dispatch.pool import REPLACED_PER_WORKER, WorkerPool
from tests.procs import wait_until

WAIT = 10  # seconds a test waits for a thread at most


class Tasks:
    """Tasks that block until released, recording which started."""

    def __init__(self):
        self.started = []
        self.gates = {}
        self.lock = threading.Lock()

    def task(self, key):
        gate = self.gates.setdefault(key, threading.Event())

        def run():
            with self.lock:
                self.started.append(key)
            assert gate.wait(WAIT)

        return run

    def release(self, *keys):
        for key in keys or list(self.gates):
            self.gates[key].set()


@pytest.fixture
def tasks():
    made = Tasks()
    yield made
    made.release()  # no thread outlives the test


def test_pool__runs_at_most_size_tasks_at_once_in_order(tasks):
    pool = WorkerPool(2)
    for key in range(4):
        pool.submit(key, tasks.task(key))

    assert wait_until(lambda: len(tasks.started) == 2)
    time.sleep(0.1)  # the third waits for a thread
    assert tasks.started == [0, 1]
    tasks.release(0)
    assert wait_until(lambda: tasks.started == [0, 1, 2])
    tasks.release(1)
    assert wait_until(lambda: tasks.started == [0, 1, 2, 3])
    pool.close()


def test_pool__an_abandoned_thread_is_replaced_and_ends_after_its_task(tasks):
    pool = WorkerPool(1)
    pool.submit(0, tasks.task(0))
    pool.submit(1, tasks.task(1))
    assert wait_until(lambda: tasks.started == [0])

    assert pool.abandon(0) == 1  # one abandoned thread alive

    assert wait_until(lambda: tasks.started == [0, 1])  # its replacement took 1
    assert pool.abandon(0) is None  # already abandoned
    tasks.release(0)
    assert wait_until(lambda: pool.abandoned() == 0)  # it ended with its task
    pool.submit(2, tasks.task(2))
    time.sleep(0.1)
    assert tasks.started == [0, 1]  # the ended thread took no new work
    tasks.release(1)
    assert wait_until(lambda: tasks.started == [0, 1, 2])
    pool.close()


def test_pool__abandon_of_a_task_that_ended_is_none(tasks):
    pool = WorkerPool(1)
    assert pool.abandon(7) is None
    after = threading.Event()
    pool.submit(7, tasks.task(7))
    pool.submit(8, after.set)  # one thread: 8 runs once 7 is over
    tasks.release(7)
    assert after.wait(WAIT)
    assert pool.abandon(7) is None
    assert pool.abandoned() == 0
    pool.close()


def test_pool__past_the_cap_each_abandoned_thread_shrinks_the_pool(tasks):
    pool = WorkerPool(2)
    cap = 2 * REPLACED_PER_WORKER
    for key in range(cap + 1):
        pool.submit(key, tasks.task(key))
        assert wait_until(lambda key=key: key in tasks.started)
        assert pool.abandon(key) == key + 1
    assert pool.capacity() == 1  # cap + 1 abandoned: one thread less
    pool.submit(100, tasks.task(100))
    pool.submit(101, tasks.task(101))
    assert wait_until(lambda: 100 in tasks.started)
    time.sleep(0.1)
    assert 101 not in tasks.started  # a single thread left
    assert pool.abandon(100) == cap + 2
    assert pool.capacity() == 0
    time.sleep(0.1)
    assert 101 not in tasks.started  # none left: the task waits

    tasks.release(0)  # an abandoned thread returns: room for one again
    assert wait_until(lambda: 101 in tasks.started)
    assert pool.capacity() == 1
    pool.close()


def test_pool__cancel_pending_returns_the_untaken_tasks(tasks):
    pool = WorkerPool(1)
    for key in range(3):
        pool.submit(key, tasks.task(key))
    assert wait_until(lambda: tasks.started == [0])

    assert pool.cancel_pending() == [1, 2]
    pool.close()
    tasks.release(0)
    time.sleep(0.1)
    assert tasks.started == [0]
    with pytest.raises(RuntimeError):
        pool.submit(3, tasks.task(3))


def test_pool__idle_threads_end_and_come_back_with_work(tasks, monkeypatch):
    monkeypatch.setattr(pool_module, "IDLE_EXIT", 0.05)
    name = "togo-idle-test"
    pool = WorkerPool(2, name=name)
    pool.submit(0, tasks.task(0))
    tasks.release(0)
    assert wait_until(lambda: tasks.started == [0])
    assert wait_until(
        lambda: not any(t.name.startswith(name) for t in threading.enumerate())
    )
    pool.submit(1, tasks.task(1))
    tasks.release(1)
    assert wait_until(lambda: tasks.started == [0, 1])
    pool.close()


def test_pool__a_raising_task_is_logged_and_the_thread_goes_on(caplog):
    pool = WorkerPool(1)
    done = threading.Event()

    def boom():
        raise SystemExit(3)

    pool.submit(0, boom)
    pool.submit(1, done.set)
    assert done.wait(WAIT)
    assert "Task 0 of the inline pool raised." in caplog.text
    pool.close()
