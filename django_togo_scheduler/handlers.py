"""What a job handler may take: the RunContext as its one argument, or nothing.

``registry`` refuses a handler that cannot be called either way when it is
registered, instead of every run failing with a ``TypeError``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]

_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL,
)


def handler_shape(func: Handler) -> tuple[bool, bool]:
    """``(takes_context, callable)`` for a handler.

    ``takes_context``: it has a parameter that can take the RunContext by
    position; ``callable``: it can then be called as ``func(ctx)`` (when it
    takes the context) or ``func()`` (when not). A callable without a signature
    (some builtins) gives ``(True, True)``.
    """
    if (
        type(func) is types.FunctionType
        and "__wrapped__" not in func.__dict__
        and "__signature__" not in func.__dict__
    ):
        # A plain function: its code object says it all, 30 times faster than
        # inspect.signature (a project may register 100,000 handlers).
        code = func.__code__
        positional = code.co_argcount
        takes = positional > 0 or bool(code.co_flags & inspect.CO_VARARGS)
        required = positional - len(func.__defaults__ or ())
        keyword_only = code.co_varnames[
            positional : positional + code.co_kwonlyargcount
        ]
        defaults = func.__kwdefaults__ or {}
        return takes, required <= takes and all(k in defaults for k in keyword_only)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature
        return True, True
    takes = any(p.kind in _POSITIONAL for p in signature.parameters.values())
    try:
        signature.bind(*((None,) if takes else ()))
    except TypeError:
        return takes, False
    return takes, True


def check_handler(name: str, func: Handler) -> None:
    """``TypeError`` unless ``func`` can be called with the RunContext or with nothing."""
    if type(func) is types.FunctionType and not func.__dict__:
        code = func.__code__
        if code.co_argcount <= 1 and not code.co_kwonlyargcount:
            return  # f(ctx) or f(), the usual shapes: no more to check
    elif not callable(func):
        raise TypeError(f"Job {name!r}: handler {func!r} is not callable.")
    if not handler_shape(func)[1]:
        label = getattr(func, "__qualname__", None) or type(func).__qualname__
        raise TypeError(
            f"Job {name!r}: handler {label}{inspect.signature(func)} cannot be "
            "called with one argument (the RunContext) or none: a handler takes "
            "one required parameter, the context (def handler(ctx)), or none "
            "(def handler()); give its other parameters defaults."
        )
