"""Test doubles the engine's tests share."""

from __future__ import annotations


class Recorder:
    """A dispatcher that only remembers what it was handed."""

    def __init__(self):
        self.handed = []

    def dispatch(self, runs):
        self.handed.extend(run.pk for run in runs)

    def check(self, now):
        pass
