"""ScheduledJob (a schedule) and Run (one execution, or one recorded slot)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .exceptions import InvalidDuration, InvalidSpec, InvalidTimezone


class Catchup(models.TextChoices):
    """What a schedule does with the slots it missed while no scheduler ran."""

    LATEST = "latest", _("fire the most recent missed slot")
    NONE = "none", _("fire nothing until the next slot")
    ALL = "all", _("fire every missed slot, oldest first")


# Schedules the overdue check reads: active ones with a max_age, and any still
# marked overdue (a pause or a removed max_age ends their episode).
OVERDUE_CANDIDATES = (Q(paused=False) & ~Q(max_age="")) | Q(overdue_since__isnull=False)


class ScheduledJobQuerySet(models.QuerySet["ScheduledJob"]):
    """Filters the tick and the commands use."""

    def enabled(self) -> ScheduledJobQuerySet:
        """Schedules that are not paused."""
        return self.filter(paused=False)

    def due(self, now: datetime) -> ScheduledJobQuerySet:
        """Active schedules whose next slot is at or before ``now``."""
        return self.enabled().filter(next_run_at__lte=now)

    def overdue_candidates(self) -> ScheduledJobQuerySet:
        """Schedules the overdue check reads (index ``togo_job_overdue_candidates``)."""
        return self.filter(OVERDUE_CANDIDATES)


class ScheduledJob(models.Model):
    """The schedule of one registered job: when it fires and how."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    spec = models.CharField(_("spec"), max_length=200)
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, default="")
    paused = models.BooleanField(_("paused"), default=False)
    paused_reason = models.TextField(_("pause reason"), blank=True, default="")
    paused_by = models.CharField(_("paused by"), max_length=150, blank=True, default="")
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=100, blank=True, default="")
    timeout = models.PositiveIntegerField(
        _("timeout (seconds)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    catchup = models.CharField(
        _("catch-up"), max_length=10, choices=Catchup.choices, default=Catchup.LATEST
    )
    max_age = models.CharField(_("max age"), max_length=32, blank=True, default="")
    # Declared in code (@job(schedule=...)) or the SCHEDULE setting: runscheduler
    # keeps it in step with the declaration, and removes it with the declaration.
    declared = models.BooleanField(_("declared in code or settings"), default=False)
    # Where a declared schedule comes from ("@job in myapp.jobs", "SCHEDULE setting").
    source = models.CharField(_("source"), max_length=255, blank=True, default="")
    # A declared schedule that the code of the process that last synced does not
    # declare (a rolling deploy, a removed declaration): kept with its state, and
    # removed by ``scheduler prune --orphans`` or after ORPHAN_GRACE. Null: not
    # orphaned.
    orphaned_at = models.DateTimeField(_("orphaned at"), null=True, blank=True)
    # Start of the current overdue episode (max_age exceeded); null when not overdue.
    overdue_since = models.DateTimeField(_("overdue since"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("next run at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScheduledJobQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")
        permissions = [("trigger_scheduledjob", _("Can trigger a scheduled job now"))]
        indexes = [
            # The tick's one query: active schedules by next slot.
            models.Index(
                fields=["next_run_at"],
                name="togo_job_next_run_active",
                condition=Q(paused=False),
            ),
            # The start's sync reads the declared names: few, even among
            # 100,000 schedules.
            models.Index(
                fields=["name"],
                name="togo_job_declared_name",
                condition=Q(declared=True),
            ),
            # The overdue check's candidates, in name order. The condition is
            # the very Q of overdue_candidates(): SQLite uses a partial index
            # only for a query whose WHERE repeats its condition.
            models.Index(
                fields=["name"],
                name="togo_job_overdue_candidates",
                condition=OVERDUE_CANDIDATES,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.spec})"

    def clean(self) -> None:
        from .specs import get_timezone, parse_duration, validate_spec

        errors: dict[str, str] = {}
        try:
            self.spec = validate_spec(self.spec)
        except InvalidSpec as exc:
            errors["spec"] = str(exc)
        if self.timezone:
            try:
                get_timezone(self.timezone)
            except InvalidTimezone as exc:
                errors["timezone"] = str(exc)
        if self.max_age:
            try:
                parse_duration(self.max_age)
            except InvalidDuration as exc:
                errors["max_age"] = str(exc)
        if errors:
            raise ValidationError(errors)


# A run in the outbox: recorded and queued, not handed to a dispatcher yet (the
# partial index togo_run_outbox holds exactly these rows).
IN_OUTBOX = Q(status="queued", dispatched_at__isnull=True)


class RunQuerySet(models.QuerySet["Run"]):
    """Filters over run history."""

    def in_outbox(self) -> RunQuerySet:
        """Runs in the outbox: queued and not handed to a dispatcher yet."""
        return self.filter(IN_OUTBOX)

    def in_flight(self) -> RunQuerySet:
        """Runs that are queued or running."""
        return self.filter(status__in=(Run.Status.QUEUED, Run.Status.RUNNING))

    def finished(self) -> RunQuerySet:
        """Runs that ended: done, failed or skipped."""
        return self.exclude(status__in=(Run.Status.QUEUED, Run.Status.RUNNING))


class Run(models.Model):
    """One slot of a schedule (or one manual trigger), and how it went."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("schedule")
        MANUAL = "manual", _("manual")
        CATCHUP = "catchup", _("catch-up")

    job = models.CharField(_("job"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    trigger = models.CharField(
        _("trigger"), max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE
    )
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When the run was handed to a dispatcher; null means "not yet" (the outbox).
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    # How often the run was handed to a dispatcher (a lost queue message adds one).
    dispatch_count = models.PositiveSmallIntegerField(_("dispatch count"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Last sign of life of the process running it; the reconciler reads it.
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    timeout = models.PositiveIntegerField(_("timeout (seconds)"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=100, blank=True, default="")
    error = models.TextField(_("error"), blank=True, default="")
    worker = models.CharField(_("worker"), max_length=255, blank=True, default="")

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        constraints = [
            # A slot is claimed once: the last line of defence against a second
            # scheduler recording the same slot.
            models.UniqueConstraint(
                fields=["job", "scheduled_for"], name="togo_run_unique_slot"
            ),
        ]
        indexes = [
            models.Index(fields=["job", "-id"], name="togo_run_job"),
            models.Index(fields=["status", "job"], name="togo_run_status_job"),
            models.Index(fields=["finished_at"], name="togo_run_finished"),
            # The outbox: queued runs not yet handed to a dispatcher.
            models.Index(
                fields=["id"],
                name="togo_run_outbox",
                condition=IN_OUTBOX,
            ),
        ]

    def __str__(self) -> str:
        slot = self.scheduled_for.isoformat() if self.scheduled_for else self.trigger
        return f"{self.job} @ {slot}: {self.status}"

    @property
    def duration(self) -> timedelta | None:
        """How long the run took; None until it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def is_in_flight(self) -> bool:
        """Whether the run is queued or running."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class SchedulerProcess(models.Model):
    """A running ``runscheduler`` process and its heartbeat (its last tick)."""

    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("pid"))
    started_at = models.DateTimeField(_("started at"))
    last_tick_at = models.DateTimeField(_("last tick at"))
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    # Threads of its inline pool still running a handler that timed out: they
    # cannot be stopped and no longer count towards INLINE_WORKERS.
    abandoned_threads = models.PositiveIntegerField(_("abandoned threads"), default=0)

    class Meta:
        ordering = ["-last_tick_at"]
        verbose_name = _("scheduler process")
        verbose_name_plural = _("scheduler processes")
        indexes = [models.Index(fields=["last_tick_at"], name="togo_process_last_tick")]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"
