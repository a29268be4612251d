"""An RQ worker class that rides out Redis outages.

RQ's own worker retries with back-off only while it waits for a job. Redis going
away at any other moment ends it: while it watches a work horse (the heartbeat it
sends every ``job_monitoring_interval`` raises ``ConnectionError``), right after a
job, at start-up, or when it stops. Its work horse finishes the run, but the
worker process exits (status 1, or 0) and nothing takes jobs until a supervisor
restarts it.

:class:`Worker` keeps going instead (its rooms: ``outages``, how it calls Redis
that may be away; ``listener``, its command listener). Use it with::

    python manage.py rqworker --worker-class django_togo_scheduler.worker.Worker togo

or, for every ``rqworker``, django-rq's setting
``RQ = {"WORKER_CLASS": "django_togo_scheduler.worker.Worker"}``.
"""

from __future__ import annotations

import functools
import signal
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import TimeoutError
from rq.exceptions import StopRequested

from .listener import CommandListener
from .outages import MAX_RETRY, REDIS_DOWN

if TYPE_CHECKING:
    from rq.executions import Execution
    from rq.job import Job
    from rq.queue import Queue

__all__ = ["Worker"]


class Worker(CommandListener):
    """An ``rq.Worker`` that survives Redis going away, at any moment, for any time.

    - **Watching a work horse**, a heartbeat or a state update that fails is
      skipped and the worker goes on waiting for the horse; the next attempt comes
      with the next heartbeat (``job_monitoring_interval``, 30 s by default). The
      horse runs its job to the end; if RQ cannot record that end, the run's own
      record (in the database) is what counts.
    - **Idle, or between two jobs**, the worker waits for Redis, retrying after
      1, 2, 4 ... up to 30 s, then takes jobs again. RQ's own wait for a job gets
      the same cap (``max_connection_wait_time``).
    - **At start-up** it waits for Redis the same way, before registering itself.
    - When Redis is back, the worker registers itself again if Redis lost it
      (restarted empty), so ``rq info`` and the django-rq admin list it.

    The first failure of an outage is logged at WARNING, the retries at DEBUG,
    and the recovery at WARNING with the outage's length, on RQ's ``rq.worker``
    logger. SIGTERM still stops the worker: at once when it waits for Redis with
    no horse, else when the horse has finished (RQ's warm shutdown).
    """

    max_connection_wait_time = MAX_RETRY

    # -- start-up and stop ------------------------------------------------------

    def _set_ip_address(self, connection: Redis) -> None:
        # Called by RQ's __init__: with Redis down, start anyway; bootstrap waits.
        try:
            super()._set_ip_address(connection)
        except REDIS_DOWN as exc:
            self.ip_address = "unknown"
            self._redis_down("starting", exc)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        # RQ installs its signal handlers after bootstrap; a worker waiting for
        # Redis at start-up must stop on SIGTERM too.
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        try:
            super().bootstrap(*args, **kwargs)
        except StopRequested:
            self._stop_requested = True  # work() stops before taking a job

    def register_birth(self) -> None:
        self._retry("registering the worker", super().register_birth)

    def register_death(self) -> None:
        self._tolerate("registering the worker's end", super().register_death)

    def set_shutdown_requested_date(self) -> None:
        self._tolerate(
            "recording a shutdown request", super().set_shutdown_requested_date
        )

    # -- the work loop ----------------------------------------------------------

    def check_for_suspension(self, burst: bool) -> None:
        if self._stop_requested:  # RQ's check would not ask Redis
            return
        self._retry(
            "checking for suspension",
            functools.partial(super().check_for_suspension, burst),
        )

    def run_maintenance_tasks(self) -> None:
        # Skipped while Redis is away; it runs again at the next chance.
        self._tolerate("cleaning registries", super().run_maintenance_tasks)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        # RQ retries a refused connection here, but quits on a timeout.
        while True:
            try:
                result: tuple[Job, Queue] | None = super().dequeue_job_and_maintain_ttl(
                    timeout, max_idle_time
                )
            except TimeoutError as exc:
                self._redis_down("waiting for a job", exc)
                continue
            return result

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:  # queued in a pipeline: nothing is sent yet
            super().heartbeat(timeout, pipeline)
            return
        self._retry(
            "sending a heartbeat", functools.partial(super().heartbeat, timeout)
        )

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        self._tolerate(
            "recording its state", functools.partial(super().set_state, state)
        )

    def prepare_execution(self, job: Job) -> Execution:
        execution: Execution = self._retry(
            f"preparing job {job.id}", functools.partial(super().prepare_execution, job)
        )
        return execution

    # -- watching the work horse ------------------------------------------------

    def set_current_job_working_time(
        self, current_job_working_time: float, pipeline: Any = None
    ) -> None:
        if pipeline is not None:
            super().set_current_job_working_time(current_job_working_time, pipeline)
            return
        self._tolerate(
            "watching its work horse",
            functools.partial(
                super().set_current_job_working_time, current_job_working_time
            ),
        )

    def maintain_heartbeats(self, job: Job) -> None:
        self._tolerate(
            "watching its work horse",
            functools.partial(super().maintain_heartbeats, job),
        )

    def monitor_work_horse(self, job: Job, queue: Queue) -> None:
        while True:
            try:
                super().monitor_work_horse(job, queue)
            except REDIS_DOWN as exc:
                self._redis_down(f"watching the work horse of job {job.id}", exc)
                if self.horse_pid:
                    continue  # the horse still runs: keep watching it
                # The horse has ended; RQ could not record how. The run's end is
                # in the database; RQ's job is cleaned up by its own maintenance.
            return
