"""Signals sent as runs move through their states, and when a schedule is overdue.

The run signals are sent with ``sender`` the
:class:`~django_togo_scheduler.models.Run` class and ``run=`` the Run instance.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the worker right after a run moved from queued to running.
run_started = Signal()

# Sent when a run ended, done or failed (including a timeout or a dead worker).
run_finished = Signal()

# Sent when a slot was recorded as skipped because the job's previous run is in flight.
run_skipped = Signal()

# Sent once per overdue episode, by the one scheduler that marked it: a schedule
# with ``max_age`` has had no successful run for longer than that. Sender: the
# ScheduledJob class; keyword arguments: ``schedule=`` the ScheduledJob (its
# ``overdue_since`` set), ``last_success_at=`` when its last done run finished
# (None if it never succeeded). Receivers run in the scheduler process: an
# exception they raise is logged, and the scheduler goes on.
schedule_overdue = Signal()
