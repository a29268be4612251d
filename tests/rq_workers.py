"""RQ worker classes for the outage tests: a 1-second job-monitoring interval.

RQ's default (30 s) is how often a worker sends a heartbeat while it watches a
work horse, which is when a Redis outage first hits it.
"""

from __future__ import annotations

from typing import Any

import rq

from django_togo_scheduler.worker import Worker


class QuickRQWorker(rq.Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", 1)
        super().__init__(*args, **kwargs)


class QuickWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", 1)
        super().__init__(*args, **kwargs)
