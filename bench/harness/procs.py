"""Processes: started, stopped, killed, looked at in /proc, timed to their start-up."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

READY = "READY"  # what a start-up child prints once it is ready for its first tick


def die_with_parent() -> None:
    """``preexec_fn``: the child dies with the process that started it (Linux).

    Work horses forked later by a child do not inherit this, as on a real machine.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    header: str = "",
    show_errors: bool = False,
    orphaned: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``command``; its output is appended to ``log`` (after ``header``), or dropped.

    ``show_errors`` (with no ``log``): its stderr is this process's. A plain
    child, or with ``orphaned`` one in a session of its own that dies with this
    process (:func:`die_with_parent`), so a harness can kill it and its children
    without touching itself.
    """
    options: dict[str, Any] = {"env": env, "cwd": cwd}
    if orphaned:
        options.update(preexec_fn=die_with_parent, start_new_session=True)
    if log is None:
        stderr = None if show_errors else subprocess.DEVNULL
        return subprocess.Popen(
            list(command), stdout=subprocess.DEVNULL, stderr=stderr, **options
        )
    with open(log, "ab") as out:
        out.write(header.encode())
        out.flush()
        return subprocess.Popen(list(command), stdout=out, stderr=out, **options)


def stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> int | None:
    """SIGTERM ``proc``, wait ``grace`` seconds; its exit code, or None if killed then."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return wait_or_kill(proc, grace)


def stop_all(procs: Iterable[subprocess.Popen[Any]], grace: float) -> list[int | None]:
    """SIGTERM every one of ``procs`` at once, then wait for each as :func:`stop` does."""
    procs = terminate(procs)
    return [wait_or_kill(proc, grace) for proc in procs]


def terminate(procs: Iterable[subprocess.Popen[Any]]) -> list[subprocess.Popen[Any]]:
    """SIGTERM each of ``procs`` still running (once: a second may mean "now"); them all."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return procs


def wait_or_kill(proc: subprocess.Popen[Any], grace: float) -> int | None:
    """``proc``'s exit code within ``grace`` seconds, or None: it was SIGKILLed then."""
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def kill(pid: int) -> bool:
    """SIGKILL ``pid``; whether it was there to kill."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def proc_state(pid: int) -> str | None:
    """The state letter of a process (None when gone; zombies count as gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return None if fields[0] in ("Z", "X") else fields[0]


def parent_of(pid: int) -> int | None:
    """The parent's pid (None when ``pid`` is gone)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def processes_with(token: str) -> list[int]:
    """Live processes (not this one) whose environment carries ``token``."""
    found = []
    needle = token.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ and proc_state(int(entry.name)):
            found.append(int(entry.name))
    return found


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB, from /proc/<pid>/status."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    return {"rss_mib": values["VmRSS"], "peak_rss_mib": values["VmHWM"]}


def measure_startup(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Start ``command``, wait for its READY line; time it and read its RSS.

    The child prints ``READY`` once it is ready for (or has done) its first tick,
    and may print ``PHASE name seconds`` lines (:func:`phase`) before that. It
    is then stopped with SIGTERM (SIGKILL after 10 s).
    """
    start_at = time.perf_counter()
    child = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        elapsed, phases = _read_until_ready(child, command, start_at, timeout)
        memory = proc_status(child.pid)
    finally:
        stop(child, 10)
    return {"seconds": round(elapsed, 3), **memory, "phases": phases}


def _read_until_ready(
    child: subprocess.Popen[str], command: Sequence[str], since: float, timeout: float
) -> tuple[float, dict[str, float]]:
    """The seconds from ``since`` to the child's READY, and the phases it printed."""
    assert child.stdout is not None
    phases: dict[str, float] = {}
    for line in child.stdout:
        if line.startswith("PHASE "):
            _, name, seconds = line.split()
            phases[name] = float(seconds)
        elif line.strip() == READY:
            return time.perf_counter() - since, phases
        if time.perf_counter() - since > timeout:
            raise TimeoutError(f"{command[0]} not ready after {timeout} s")
    raise RuntimeError(f"{' '.join(command)} exited ({child.wait()}) before READY")


def phase(name: str, since: float) -> float:
    """Print a start-up phase for :func:`measure_startup`; return the current time."""
    now = time.perf_counter()
    print(f"PHASE {name} {now - since:.4f}", flush=True)
    return now
