"""How long an inline ``trigger()`` takes to start, run by hand (not by the tests).

    python bench/trigger_start.py --db sqlite --samples 30
    python bench/trigger_start.py --db postgres --samples 30

The contract (API.md, ``trigger``): an inline run starts within a second whether
or not a ``runscheduler`` runs. For each case the script records ``--samples``
manual runs of a job that does nothing and reports, per run, the time from its
``created_at`` (recorded by ``trigger()``) to its ``started_at`` (the guarded
start in the thread that runs it): median, p95 and max, in ms.

here       no scheduler: the calling process runs it in its own inline pool;
scheduler  a real ``runscheduler`` process (``MAX_SLEEP`` 1 s, the default) is
           live: the run waits in the outbox for that scheduler's next tick;
wait       no scheduler, ``trigger(name, wait=True)``: also the time until the
           call returned with the ended run.

It uses ``bench/settings.py``'s throwaway database (``TOGO_BENCH_DB``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.db import recreate_database  # noqa: E402
from bench.harness.procs import start, stop  # noqa: E402
from bench.harness.rows import print_json  # noqa: E402
from bench.harness.timing import percentile  # noqa: E402

# The scheduler process: bench.settings, with the job registered.
SCHEDULER = """
import os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
django.setup()
from django.core.management import call_command
from django_togo_scheduler.registry import registry
registry.register("bench.noop", lambda: None)
call_command("runscheduler")
"""


def setup(db: str) -> None:
    os.environ["TOGO_BENCH_DB"] = db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    recreate_database()


def summary(name: str, values: list[float], **extra: object) -> dict[str, object]:
    return {
        "case": name,
        "samples": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 0.95, rule="rank"), 1),
        "max_ms": round(max(values), 1),
        **extra,
    }


def start_latency(run) -> float:
    return (run.started_at - run.created_at).total_seconds() * 1000


def wait_ended(pk: int, timeout: float = 10.0):
    from django_togo_scheduler.models import Run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=pk)
        if run.status in ("done", "failed", "skipped"):
            return run
        time.sleep(0.01)
    raise SystemExit(f"run {pk} did not end within {timeout} s")


def case_here(service, samples: int) -> dict[str, object]:
    values = []
    for _ in range(samples):
        run = service.trigger("bench.noop")
        values.append(start_latency(wait_ended(run.pk)))
    return summary("here", values)


def case_wait(service, samples: int) -> dict[str, object]:
    starts, returns = [], []
    for _ in range(samples):
        began = time.monotonic()
        run = service.trigger("bench.noop", wait=True)
        returns.append((time.monotonic() - began) * 1000)
        starts.append(start_latency(run))
    out = summary("wait", starts)
    out["call_returned_median_ms"] = round(statistics.median(returns), 1)
    return out


def case_scheduler(service, samples: int, db: str) -> dict[str, object]:
    from django_togo_scheduler.models import Run, SchedulerProcess

    env = {**os.environ, "TOGO_BENCH_DB": db, "PYTHONPATH": str(ROOT)}
    proc = start([sys.executable, "-c", SCHEDULER], env=env)
    try:
        deadline = time.monotonic() + 30
        while not SchedulerProcess.objects.filter(pid=proc.pid).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the scheduler did not start within 30 s")
            time.sleep(0.1)
        time.sleep(1.5)  # a tick or two: it is live
        values, theirs = [], 0
        for i in range(samples):
            time.sleep(0.137 * (i % 7))  # spread over the scheduler's sleep
            run = service.trigger("bench.noop")
            ended = wait_ended(run.pk)
            values.append(start_latency(ended))
            theirs += ended.worker.endswith(f":{proc.pid}")
        return summary("scheduler", values, started_by_the_scheduler=theirs)
    finally:
        stop(proc, 30)
        Run.objects.all().delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    setup(args.db)
    from django_togo_scheduler.registry import registry
    from django_togo_scheduler.service import Service

    registry.register("bench.noop", lambda: None)
    service = Service()
    results = [
        case_here(service, args.samples),
        case_wait(service, args.samples),
        case_scheduler(service, args.samples, args.db),
    ]
    for result in results:
        print_json({"db": args.db, **result})


if __name__ == "__main__":
    main()
