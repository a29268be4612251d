"""What ``explain`` returns: an :class:`Explanation`, and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from django_togo_scheduler.models import Run
from django_togo_scheduler.text import error_line, iso_in


@dataclass(frozen=True)
class Explanation:
    """What happened (or will happen) at one slot of a schedule, and why."""

    name: str
    spec: str
    zone: str
    tz: tzinfo = field(repr=False)  # the zone times are shown in (UTC if broken)
    catchup: str
    paused: bool
    at: datetime  # the moment asked about
    slot: datetime | None  # the latest slot at or before ``at`` (None: no spec)
    decision: str  # a few words: "ran", "skipped (overlap)", "missed", ...
    reason: str  # one sentence
    run: Run | None
    next_times: list[datetime]  # the upcoming fire times, after now
    overdue_since: datetime | None = None
    orphaned_at: datetime | None = None
    # What the next tick does with the slots due now (empty when none is due).
    due: str = ""
    # Why nothing comes next, when ``next_times`` is empty.
    no_next: str = "none while paused"

    def lines(self) -> list[str]:
        """The explanation as the lines ``scheduler explain`` prints."""
        state = [self.zone, f"catchup={self.catchup}"]
        if self.paused:
            state.append("paused")
        if self.orphaned_at is not None:
            state.append(f"orphaned since {self._when(self.orphaned_at)}")
        if self.overdue_since is not None:
            state.append(f"overdue since {self._when(self.overdue_since)}")
        if self.next_times:
            upcoming = ", ".join(self._when(at) for at in self.next_times)
        else:
            upcoming = self.no_next
        lines = [
            f"Schedule: {self.name}  {self.spec}  ({', '.join(state)})",
            f"At:       {self._when(self.at)}",
            f"Slot:     {self._when(self.slot)}",
            f"Decision: {self.decision}",
            f"Reason:   {self.reason}",
            f"Run:      {self._run_text()}",
        ]
        if self.due:
            lines.append(f"Due:      {self.due}")
        lines.append(f"Next:     {upcoming}")
        return lines

    def _when(self, value: datetime | None) -> str:
        return iso_in(value, self.tz)

    def _run_text(self) -> str:
        run = self.run
        if run is None:
            return "none recorded for this slot"
        text = (
            f"#{run.pk} {run.status}, trigger {run.trigger}, "
            f"started {self._when(run.started_at)}, finished {self._when(run.finished_at)}"
        )
        summary = error_line(run.error)
        return f"{text}, error: {summary}" if summary else text
