"""What a handler may take, checked when it is registered; ``takes_context`` agrees."""

from __future__ import annotations

import functools

import pytest

from django_togo_scheduler.handlers import handler_shape
from django_togo_scheduler.registry import JobSpec, Registry, job, registered


@pytest.fixture
def fresh():
    """An empty Registry of our own."""
    return Registry()


def handler(ctx):
    pass


def two(first, ctx):
    pass


class CallableHandler:
    def __call__(self, ctx):
        pass

    def method(self, ctx):
        pass

    def no_params(self):
        pass


def two_required(a, b):
    pass


def context_and_keyword_only(ctx, *, region):
    pass


def keyword_only(*, region):
    pass


def three(a, b, c=1):
    pass


class TwoArguments:
    def __call__(self, ctx, extra):
        pass


def ctx_with_defaults(ctx, retries=3, *, region="eu", **kwargs):
    pass


def only_defaults(a=1, /, b=2, *args, c=3, **kwargs):
    pass


def var_positional(*args):
    pass


def var_keyword(**kwargs):
    pass


def positional_only(ctx, /):
    pass


def nothing():
    pass


ACCEPTED = [
    handler,
    nothing,
    ctx_with_defaults,
    only_defaults,
    var_positional,
    var_keyword,
    positional_only,
    lambda ctx=None: None,
    lambda *, option=1: None,
    CallableHandler(),
    CallableHandler().method,
    CallableHandler().no_params,
    functools.partial(two, 1),
    functools.partial(two_required, b=1),
    functools.partial(three, 1, 2),
    functools.partial(three, 1),
    len,
    max,  # a builtin without a signature: accepted, called with the context
]
REFUSED = [
    two_required,
    context_and_keyword_only,
    keyword_only,
    three,
    lambda a, b: None,
    TwoArguments(),
    functools.partial(three, c=2),
    functools.partial(context_and_keyword_only),
]


def wrapped(func):
    """``func`` behind a functools.wraps decorator (inspect.signature follows it)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("func", REFUSED)
def test_register__a_handler_not_callable_with_the_context_or_nothing_is_refused(
    fresh, func
):
    with pytest.raises(TypeError, match="cannot be called with one argument"):
        fresh.register("reports.daily", func)
    with pytest.raises(TypeError, match="cannot be called with one argument"):
        fresh.register("reports.daily", func, schedule="@daily")

    assert not fresh.is_registered("reports.daily")


def test_register__the_refusal_names_the_job_the_signature_and_what_is_accepted(
    fresh,
):
    with pytest.raises(TypeError) as excinfo:
        fresh.register("reports.daily", two_required)

    assert str(excinfo.value) == (
        "Job 'reports.daily': handler two_required(a, b) cannot be called with one "
        "argument (the RunContext) or none: a handler takes one required parameter, "
        "the context (def handler(ctx)), or none (def handler()); give its other "
        "parameters defaults."
    )
    with pytest.raises(TypeError, match=r"handler TwoArguments\(ctx, extra\) cannot"):
        fresh.register("reports.other", TwoArguments())
    with pytest.raises(TypeError, match=r"handler keyword_only\(\*, region\) cannot"):
        fresh.register("reports.third", keyword_only)


def test_job__a_two_argument_handler_raises_at_decoration(registry):
    with pytest.raises(TypeError, match="Job 'togo.two': handler"):

        @job("togo.two", schedule="@daily")
        def two_args(a, b):
            pass

    assert not registered("togo.two")


@pytest.mark.parametrize("func", ACCEPTED)
def test_register__accepted_handlers_are_called_as_takes_context_says(fresh, func):
    fresh.register("reports.daily", func)
    spec = fresh.get("reports.daily")

    # What execution does for every run: it must not raise TypeError.
    if spec.takes_context:
        spec.func([0])  # a context len() and max() accept too
    else:
        spec.func()


@pytest.mark.parametrize("func", ACCEPTED[:9] + REFUSED[:5])
def test_handler_shape__a_plain_functions_code_agrees_with_inspect(func):
    # Plain functions are read from their code object; a wrapper makes
    # handler_shape go through inspect.signature, which follows __wrapped__.
    assert handler_shape(func) == handler_shape(wrapped(func))


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (handler, True),
        (lambda: None, False),
        (lambda ctx=None: None, True),
        (lambda *args: None, True),
        (lambda **kwargs: None, False),
        (lambda *, option=1: None, False),
        (CallableHandler(), True),
        (CallableHandler().method, True),
        (CallableHandler().no_params, False),
        (functools.partial(two, 1), True),
        (functools.partial(two, 1, 2), False),
        (len, True),
        (max, True),  # a builtin without a signature: assume it takes the context
    ],
)
def test_takes_context(func, expected):
    assert JobSpec("x", func).takes_context is expected
