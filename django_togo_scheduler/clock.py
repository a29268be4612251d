"""The one place that reads the clock, so tests and ``tick(now=...)`` control time."""

from __future__ import annotations

import os
import socket
from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return timezone.now()


def worker_name() -> str:
    """This process as ``host:pid``, recorded on the runs it executes."""
    return f"{socket.gethostname()}:{os.getpid()}"
