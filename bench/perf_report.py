"""bench/perf.py's report: the table (printed and beside the JSON lines) and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness.rows import log
from bench.perf_table import DBS, Table, ours_only


def report(records: list[dict[str, Any]], out: Path, plot: Path) -> None:
    """Print the table, write it beside the JSON lines, draw the plot."""
    table = render_table(records, records[0]["config"])
    print("\n" + table)
    out.with_suffix(".md").write_text(table + "\n")
    draw_plot(records, plot)
    print(f"\nResults: {out}, {out.with_suffix('.md').name}; plot: {plot}")


def render_table(records: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """One markdown table: us on SQLite and PostgreSQL, the peers, our advantage."""
    table = Table(records)
    for rows in (
        idle_rows,
        startup_rows,
        burst_rows,
        lateness_rows,
        worker_rows,
        growth_rows,
        history_rows,
    ):
        rows(table, config)
    return table.text()


def idle_rows(table: Table, config: dict[str, Any]) -> None:
    for size in config["idle_sizes"]:
        table.row(
            f"idle tick, {size:,} schedules (ms)",
            table.value("idle_tick", "median_ms", schedules=size),
            target="<= 1 ms",
            check=lambda v: v <= 1.0,
            digits=3,
        )
    largest = config["idle_sizes"][-1]
    rqs_idle = table.find("rq-scheduler", "idle_tick", "redis", schedules=largest)
    table.row(
        f"idle tick, {largest:,}: togo / rq-scheduler, same run",
        lambda tool, db: (
            record["median_ms"] / rqs_idle["median_ms"]
            if tool == "togo"
            and rqs_idle
            and (record := table.find("togo", "idle_tick", db, schedules=largest))
            else None
        ),
        target="<= 1",
        check=lambda v: v <= 1,
    )
    table.row(
        f"SQL statements per idle tick ({largest:,})",
        table.value("idle_tick", "queries", schedules=largest),
        target="1",
        check=lambda v: v <= 1,
        digits=0,
    )


def startup_rows(table: Table, config: dict[str, Any]) -> None:
    startup = config["startup"]
    table.row(
        f"start-up, {startup:,} schedules (s)",
        table.value("startup", "seconds", schedules=startup),
        target="< 0.5 s",
        check=lambda v: v < 0.5,
    )
    table.row(
        f"start-up RSS, {startup:,} schedules (MiB)",
        table.value("startup", "rss_mib", schedules=startup),
        target="< 80 MiB",
        check=lambda v: v < 80,
        digits=0,
    )
    table.row(
        f"start-up peak RSS (VmHWM), {startup:,} schedules (MiB)",
        table.value("startup", "peak_rss_mib", schedules=startup),
        digits=0,
    )


def burst_rows(table: Table, config: dict[str, Any]) -> None:
    burst = config["burst"]
    table.row(
        f"burst, {burst:,} due: claimed, recorded, in Redis (jobs/s)",
        table.value("burst", "jobs_per_s", due=burst),
        lower=False,
        target=">= 5,000/s",
        check=lambda v: v >= 5000,
    )
    floor_pick = table.value("enqueue_many", "jobs_per_s", due=burst)
    table.row(
        f"RQ enqueue_many floor, {burst:,} jobs, same run (jobs/s)",
        lambda tool, db: floor_pick("rq", db) if tool == "togo" else None,
        lower=False,
    )
    ratios = {}
    for db in DBS:
        ours_burst = table.find("togo", "burst", db, due=burst)
        floor = table.find("rq", "enqueue_many", db, due=burst)
        if ours_burst and floor:
            ratios[db] = floor["jobs_per_s"] / ours_burst["jobs_per_s"]
    table.row(
        "burst time / enqueue_many time",
        lambda tool, db: ratios.get(db or "") if tool == "togo" else None,
        target="<= 2",
        check=lambda v: v <= 2,
    )


def lateness_rows(table: Table, config: dict[str, Any]) -> None:
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        table.row(
            f"lateness {label}, {config['lateness_schedules']:,} schedules, slot -> Redis (ms)",
            table.value("lateness", key),
            target="<= 5 ms" if key == "p50_ms" else "<= 20 ms",
            check=(lambda v: v <= 5) if key == "p50_ms" else (lambda v: v <= 20),
        )
    for key in ("p50_ms", "p99_ms"):
        table.row(
            f"lateness {key[:3]} of the last run of each slot (ms)",
            table.value("lateness", f"slot_last_job.{key}"),
        )
    table.row(
        "lateness: runs due per slot, mean",
        table.value("lateness", "due_per_slot_mean"),
    )
    table.row(
        "lateness: runs due per slot, max", table.value("lateness", "due_per_slot_max")
    )
    table.row(
        "lateness: runs skipped (previous run still in flight) / enqueued",
        lambda tool, db: (
            record["skipped"] / record["runs"]
            if tool == "togo"
            and (record := table.find("togo", "lateness", db))
            and record.get("runs")
            else None
        ),
    )


def worker_rows(table: Table, config: dict[str, Any]) -> None:
    for age in (0, 60):
        table.row(
            f"worker: execute_run per job, CONN_MAX_AGE={age} (ms)",
            table.value("worker", "per_job_ms", conn_max_age=age),
        )
        table.row(
            f"worker: bare RQ job per job, CONN_MAX_AGE={age} (ms)",
            table.value("worker", "bare_per_job_ms", conn_max_age=age),
        )
        table.row(
            f"worker overhead per run, CONN_MAX_AGE={age} (ms)",
            table.value("worker", "overhead_ms", conn_max_age=age),
            target="<= 2 ms",
            check=lambda v: v <= 2,
        )


def growth_rows(table: Table, config: dict[str, Any]) -> None:
    smallest = min(config["growth"])
    for size in sorted({*config["growth"], config["burst"]}):
        table.row(
            f"growth: burst of {size:,} (s)",
            ours_only(table.value("burst", "seconds", due=size)),
            target="linear" if size != smallest else "",
        )
    per_job = {
        db: [
            (r["due"], r["seconds"] / r["due"])
            for r in table.records
            if r.get("tool") == "togo"
            and r.get("workload") == "burst"
            and r["db"] == db
        ]
        for db in DBS
    }
    growth = {
        db: max(v for _, v in pairs) / min(v for _, v in pairs)
        for db, pairs in per_job.items()
        if pairs
    }
    table.row(
        "growth: max / min time per job over the bursts",
        lambda tool, db: growth.get(db or "") if tool == "togo" else None,
        target="<= 1.5 (linear)",
        check=lambda v: v <= 1.5,
    )


def history_rows(table: Table, config: dict[str, Any]) -> None:
    runs, schedules = config["history_runs"], config["history_schedules"]
    table.row(
        f"idle tick, {schedules:,} schedules, no history (ms)",
        table.value("idle_tick_history", "without.median_ms"),
        digits=3,
    )
    table.row(
        f"idle tick, {schedules:,} schedules, {runs:,} runs (ms)",
        table.value("idle_tick_history", "median_ms"),
        target="<= 1 ms",
        check=lambda v: v <= 1.0,
        digits=3,
    )


SERIES = {
    ("togo", "sqlite"): ("django-togo-scheduler, SQLite", "C0", "o-"),
    ("togo", "postgres"): ("django-togo-scheduler, PostgreSQL", "C0", "s--"),
    ("celery-beat", "sqlite"): ("django-celery-beat 2.9, SQLite", "C3", "o-"),
    ("celery-beat", "postgres"): ("django-celery-beat 2.9, PostgreSQL", "C3", "s--"),
    ("rq-cron", "redis"): ("RQ 2.12 CronScheduler (memory)", "C2", "^-"),
    ("rq-scheduler", "redis"): ("rq-scheduler 0.14 (Redis)", "C1", "v-"),
}


def draw_plot(records: list[dict[str, Any]], path: Path) -> None:
    """Idle tick cost against schedules, log-log, for us and the peers."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for (tool, db), (label, color, style) in SERIES.items():
        points = sorted(
            (r["schedules"], r["median_ms"])
            for r in records
            if r.get("tool") == tool
            and r.get("workload") == "idle_tick"
            and r.get("db") == db
        )
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, style, color=color, label=label)
    axes.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="target: 1 ms")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("schedules")
    axes.set_ylabel("one idle tick, median (ms)")
    axes.set_title("Idle tick cost against the number of schedules (nothing due)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
