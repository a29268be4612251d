"""Redis for a benchmark: a redis-server of its own, clients, RQ's floor."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .procs import free_port, start, stop
from .rows import log
from .timing import Stopwatch


class RedisServer:
    """redis-server on a spare port, no persistence: a restart starts empty.

    Its log is ``redis.log`` in ``workdir``; it dies with this process.
    """

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "redis.log"
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait (10 s at most) until it accepts connections."""
        assert self.binary
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        command += ["--loglevel", "warning"]
        self.proc = start(command, log=self.log, orphaned=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL it (what it held is gone)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        """SIGTERM it and wait."""
        if self.proc is not None:
            stop(self.proc, 10)
            self.proc = None


@contextmanager
def redis_server(url: str | None = None) -> Iterator[str]:
    """The URL of a private redis-server (stopped afterwards), or ``url`` itself."""
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="togo_redis") as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            log(f"redis-server {server.port} (pid {server.proc.pid})")
            yield server.url
        finally:
            server.stop()


def client(url: str) -> Any:
    """A Redis client of ``url``."""
    from redis import Redis

    return Redis.from_url(url)


def enqueue_many_floor(redis: Any, size: int, func: Any) -> float:
    """Seconds RQ's ``enqueue_many`` takes to put ``size`` jobs of ``func`` in Redis.

    One pipeline, queue ``floor``: the floor a burst is compared with. The
    Redis database is flushed before and after.
    """
    from rq import Queue

    redis.flushdb()
    queue = Queue("floor", connection=redis)
    with Stopwatch() as watch, redis.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(func, args=(i,)) for i in range(size)], pipeline=pipe
        )
        pipe.execute()
    assert queue.count == size
    redis.flushdb()
    return watch.seconds
