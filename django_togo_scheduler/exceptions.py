"""Exceptions raised by django-togo-scheduler."""

from __future__ import annotations


class TogoSchedulerError(Exception):
    """Base class of every error this app raises on purpose."""


class InvalidSpec(TogoSchedulerError, ValueError):
    """A schedule spec (cron expression, macro or ``@every``) that cannot be used.

    The message names the spec and says what is wrong, fit for a form field error.
    """


class InvalidTimezone(TogoSchedulerError, ValueError):
    """A time zone name that the zoneinfo database does not know."""


class InvalidDuration(TogoSchedulerError, ValueError):
    """A duration such as ``30s`` or ``1h30m`` that cannot be parsed."""


class UnknownJob(TogoSchedulerError, LookupError):
    """No handler is registered under the given job name."""


class AlreadyRegistered(TogoSchedulerError, ValueError):
    """Another function is already registered under the given job name."""


class ImproperlyConfiguredSchedule(TogoSchedulerError, ValueError):
    """An entry of the ``SCHEDULE`` setting has the wrong shape."""
