"""Job handlers by name, and the schedules declared in code.

The registry is filled in ``AppConfig.ready()`` by autodiscovery of each installed
app's jobs module; importing this module registers nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from django.utils.module_loading import autodiscover_modules

from .exceptions import AlreadyRegistered, UnknownJob
from .handlers import Handler, check_handler, handler_shape

F = TypeVar("F", bound=Handler)

MAX_NAME_LENGTH = 200  # characters, as ScheduledJob.name and Run.job store

# Options a schedule accepts besides its spec (API.md, Service.schedule).
SCHEDULE_OPTIONS = frozenset({"timezone", "queue", "timeout", "catchup", "max_age"})


@dataclass(frozen=True)
class JobSpec:
    """A registered handler, and the schedule its code declares (if any)."""

    name: str
    func: Handler
    schedule: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property  # read for every run a worker executes
    def takes_context(self) -> bool:
        """Whether the handler is called with the RunContext (else with nothing).

        It is when it has a parameter that can take an argument by position;
        a callable without a signature (some builtins) is assumed to.
        """
        return handler_shape(self.func)[0]


def _check_name(name: object) -> None:
    # Typed callers pass a str; this guards the others.
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"Job name must be a non-empty string, not {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"Job name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters."
        )


def _same_function(a: Handler, b: Handler) -> bool:
    # A module imported twice (e.g. as "jobs" and "app.jobs") defines new function
    # objects; treat the same definition (qualified name, file and line) as the
    # same function. Two lambdas of one module share a qualified name, not a line.
    if a is b:
        return True
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return (
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and code_a is not None
        and code_b is not None
        and code_a.co_filename == code_b.co_filename
        and code_a.co_firstlineno == code_b.co_firstlineno
    )


class Registry:
    """Maps job names to handlers; one instance, ``registry``, serves the process.

    A project may register 100,000 handlers, few of which declare a schedule: a
    plain handler costs one dict entry (no JobSpec is kept for it), and the
    declared ones are kept apart, so ``declared()`` never walks every handler.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}  # every registered name
        self._specs: dict[str, JobSpec] = {}  # registered with a schedule or options

    def register(
        self,
        name: str,
        func: Handler,
        *,
        schedule: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Register ``func`` under ``name``; the same function again is a no-op.

        Another function under a taken name raises ``AlreadyRegistered``; the
        same function registered again without a schedule keeps the schedule
        declared before. ``get(name)`` returns the resulting JobSpec. A
        ``func`` that cannot be called with one argument (the RunContext) or
        none raises ``TypeError``.
        """
        # The common case (a valid name) costs no call; _check_name says why not.
        if (
            name.__class__ is not str
            or not 0 < len(name) <= MAX_NAME_LENGTH
            or name.isspace()
        ):
            _check_name(name)
        check_handler(name, func)
        if schedule is None and not options:
            existing = self._handlers.get(name)
            if existing is None:
                self._handlers[name] = func
                return
            self._check_same(name, existing, func)
            if self._declares_schedule(name):
                return
            self._specs.pop(name, None)
            self._handlers[name] = func
            return
        self._register_spec(name, func, schedule, options or {})

    def _register_spec(
        self,
        name: str,
        func: Handler,
        schedule: str | None,
        options: dict[str, Any],
    ) -> None:
        if schedule is not None:
            from .exceptions import InvalidSpec
            from .specs import validate_spec

            # An invalid spec or option is kept as written, not raised: raised
            # here, at import in AppConfig.ready, it would be a traceback from
            # every manage.py command. check_schedule reports it (E002) and
            # runscheduler's sync refuses it, both saying where it is declared.
            with contextlib.suppress(InvalidSpec):
                schedule = validate_spec(schedule)
        existing = self._handlers.get(name)
        if existing is not None:
            self._check_same(name, existing, func)
            if schedule is None and self._declares_schedule(name):
                return
        self._handlers[name] = func
        self._specs[name] = JobSpec(name, func, schedule, dict(options))

    @staticmethod
    def _check_same(name: str, existing: Handler, func: Handler) -> None:
        if not _same_function(existing, func):
            raise AlreadyRegistered(
                f"Job name {name!r} is already registered to {existing!r}."
            )

    def _declares_schedule(self, name: str) -> bool:
        spec = self._specs.get(name)
        return spec is not None and spec.schedule is not None

    def unregister(self, name: str) -> None:
        """Forget a handler (tests use this); no-op when absent."""
        self._handlers.pop(name, None)
        self._specs.pop(name, None)

    def is_registered(self, name: str) -> bool:
        """Whether a handler is registered under ``name``."""
        return name in self._handlers

    def get(self, name: str) -> JobSpec:
        """The JobSpec for ``name``; ``UnknownJob`` when none is registered."""
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        try:
            return JobSpec(name, self._handlers[name])
        except KeyError:
            raise UnknownJob(
                f"No job handler is registered under the name {name!r}."
            ) from None

    def names(self) -> list[str]:
        """Registered job names, sorted."""
        return sorted(self._handlers)

    def declared(self) -> list[JobSpec]:
        """Jobs whose code declares a schedule, sorted by name.

        The schedule and options are as declared: ``check_schedule`` and the
        sync validate them.
        """
        return [
            spec for _, spec in sorted(self._specs.items()) if spec.schedule is not None
        ]

    def declarations(self) -> list[JobSpec]:
        """Jobs registered with a schedule or schedule options, sorted by name."""
        return [spec for _, spec in sorted(self._specs.items())]

    def clear(self) -> None:
        """Forget every handler."""
        self._handlers.clear()
        self._specs.clear()

    def snapshot(self) -> dict[str, JobSpec]:
        """A copy of the current contents, for tests that restore it."""
        return {name: self.get(name) for name in self._handlers}

    def restore(self, snapshot: dict[str, JobSpec]) -> None:
        """Replace the contents with a snapshot."""
        self._handlers = {name: spec.func for name, spec in snapshot.items()}
        self._specs = {
            name: spec
            for name, spec in snapshot.items()
            if spec.schedule is not None or spec.options
        }


registry = Registry()


def register(name: str, fn: Handler) -> None:
    """Register ``fn`` as the handler of job ``name``.

    Another function under a name already taken raises ``ValueError``
    (:class:`~django_togo_scheduler.exceptions.AlreadyRegistered`); the same
    function again is a no-op. ``fn`` is called with the RunContext, or with
    nothing if it has no positional parameter; one that cannot be called so
    (``def f(a, b)``, a required keyword-only parameter) raises ``TypeError``.
    """
    registry.register(name, fn)


def registered(name: str) -> bool:
    """Whether a handler is registered under ``name``."""
    return registry.is_registered(name)


@overload
def job(name: F, /) -> F: ...


@overload
def job(
    name: str | None = None, *, schedule: str | None = None, **options: Any
) -> Callable[[F], F]: ...


def job(
    name: str | F | None = None, *, schedule: str | None = None, **options: Any
) -> Callable[[F], F] | F:
    """Decorator form of :func:`register`; ``schedule`` declares a default schedule.

    ``name`` defaults to ``module.qualname``. The declared schedule (and options
    such as ``timezone``, ``queue``, ``timeout``, ``catchup``) is synced into the
    database when ``runscheduler`` starts. An invalid spec or option does not
    raise here: it is a system check error (``django_togo_scheduler.E002``),
    and ``runscheduler`` refuses to sync it. ``@job`` without parentheses works
    as ``@job()``.
    """
    if callable(name):
        # @job without parentheses: the function itself came in as the name.
        func: F = name
        return job()(func)

    def decorator(func: F) -> F:
        job_name = name or f"{func.__module__}.{func.__qualname__}"
        registry.register(job_name, func, schedule=schedule, options=options)
        return func

    return decorator


def autodiscover(module_name: str | None) -> None:
    """Import ``module_name`` from every installed app, registering its jobs."""
    if module_name:
        autodiscover_modules(module_name)
