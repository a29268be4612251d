"""Signals sent as runs move through their states.

Each is sent with ``sender`` the :class:`~django_togo_scheduler.models.Run` class
and ``run=`` the Run instance.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the worker right after a run moved from queued to running.
run_started = Signal()

# Sent when a run ended, done or failed (including a timeout or a dead worker).
run_finished = Signal()

# Sent when a slot was recorded as skipped because the job's previous run is in flight.
run_skipped = Signal()
