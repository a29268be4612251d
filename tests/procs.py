"""Helpers for tests that start real processes: schedulers, RQ workers, redis-server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(side_effects: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child that uses the test database (and side-effect log)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOGO_TEST_DB": "postgres" if connection.vendor == "postgresql" else "sqlite",
        "TOGO_TEST_DB_NAME": connection.settings_dict["NAME"],
        **extra,
    }
    if side_effects is not None:
        env["TOGO_TEST_SIDE_EFFECTS"] = str(side_effects)
    return env


def django_command(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m django <args>`` with the test settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args, "--settings=tests.settings"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_for_other_sessions_to_end() -> None:
    """Wait until no other session uses the PostgreSQL test database.

    PostgreSQL ends the sessions of a process that was killed, or left with a
    thread still running, a moment later; the test database can only be dropped
    then.
    """
    if connection.vendor != "postgresql":
        return

    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return bool(cursor.fetchone()[0] == 0)

    assert wait_until(alone, timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real ``redis-server`` on a spare port, which tests may stop and start."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self.answers, timeout=10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A private ``redis-server`` for the test; skips where none is installed."""
    server = RedisServer()
    if not server.binary:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# RQ's own Worker can take up to 60 s to leave a burst: its pubsub thread may
# wait out its 60 s sleep for a subscription that just ended (redis-py 8). Ours
# (django_togo_scheduler.worker.Worker) bounds that wait; a test that needs
# another class passes --worker-class itself.
WORKER_CLASS = ("--worker-class", "django_togo_scheduler.worker.Worker")
