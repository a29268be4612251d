"""The job registry: register, look up, the ``job`` decorator, autodiscovery."""

from __future__ import annotations

import importlib
import sys

import pytest

from django_togo_scheduler import AlreadyRegistered, UnknownJob
from django_togo_scheduler.registry import (
    JobSpec,
    Registry,
    autodiscover,
    job,
    register,
    registered,
)


@pytest.fixture
def fresh():
    """An empty Registry of our own."""
    return Registry()


def handler(ctx):
    """A module-level handler, for default names."""


def other(ctx):
    """Another handler."""


def same_source_twice(source, filename="/project/app/jobs.py"):
    """The function ``handler`` as two imports of one file would define it."""
    made = []
    for _ in range(2):
        namespace: dict[str, object] = {}
        exec(compile(source, filename, "exec"), namespace)
        made.append(namespace["handler"])
    return made


# register, get, registered


def test_register__then_get_and_is_registered(fresh):
    assert fresh.register("reports.daily", handler) is None

    assert fresh.get("reports.daily") == JobSpec("reports.daily", handler, None, {})
    assert fresh.is_registered("reports.daily")
    assert not fresh.is_registered("reports.weekly")
    assert fresh.names() == ["reports.daily"]


def test_get__unknown_name_raises_unknown_job(fresh):
    with pytest.raises(UnknownJob) as excinfo:
        fresh.get("nope")

    assert str(excinfo.value) == "No job handler is registered under the name 'nope'."
    assert isinstance(excinfo.value, LookupError)


def test_register__another_function_under_a_taken_name_raises(fresh):
    fresh.register("reports.daily", handler)

    with pytest.raises(AlreadyRegistered) as excinfo:
        fresh.register("reports.daily", other)

    assert isinstance(excinfo.value, ValueError)
    assert (
        str(excinfo.value)
        == f"Job name 'reports.daily' is already registered to {handler!r}."
    )
    assert fresh.get("reports.daily").func is handler


def test_register__two_lambdas_of_one_module_are_different_functions(fresh):
    first = lambda ctx: 1  # noqa: E731
    second = lambda ctx: 2  # noqa: E731
    fresh.register("lambdas", first)

    with pytest.raises(AlreadyRegistered):
        fresh.register("lambdas", second)

    assert fresh.get("lambdas").func is first


def test_register__same_function_again_is_a_noop(fresh):
    fresh.register("reports.daily", handler)

    fresh.register("reports.daily", handler)

    assert fresh.get("reports.daily") == JobSpec("reports.daily", handler)
    assert fresh.names() == ["reports.daily"]


def test_register__same_definition_imported_twice_is_a_noop(fresh):
    first, second = same_source_twice("def handler(ctx):\n    pass\n")
    assert first is not second
    fresh.register("jobs.handler", first)

    fresh.register("jobs.handler", second)

    assert fresh.is_registered("jobs.handler")


def test_register__same_name_in_another_file_is_another_function(fresh):
    (first, _) = same_source_twice(
        "def handler(ctx):\n    pass\n", "/project/a/jobs.py"
    )
    (second, _) = same_source_twice(
        "def handler(ctx):\n    pass\n", "/project/b/jobs.py"
    )
    fresh.register("jobs.handler", first)

    with pytest.raises(AlreadyRegistered):
        fresh.register("jobs.handler", second)


def test_register__plain_reregistration_keeps_the_declared_schedule(fresh):
    fresh.register(
        "reports.daily", handler, schedule="@daily", options={"queue": "low"}
    )
    declared = fresh.get("reports.daily")

    fresh.register("reports.daily", handler)
    fresh.register("reports.daily", handler, options={"queue": "high"})

    assert fresh.get("reports.daily") is declared
    assert fresh.declared() == [
        JobSpec("reports.daily", handler, "@daily", {"queue": "low"})
    ]


@pytest.mark.parametrize("name", ["", "   ", None, 5])
def test_register__name_must_be_a_non_empty_string(fresh, name):
    with pytest.raises(ValueError, match="Job name must be a non-empty string"):
        fresh.register(name, handler)

    assert fresh.names() == []


def test_register__handler_must_be_callable(fresh):
    with pytest.raises(TypeError, match="is not callable"):
        fresh.register("reports.daily", "handler")


def test_register__schedule_is_validated_and_normalised(fresh):
    fresh.register("reports.daily", handler, schedule="  0  7 * * 1-5 ")

    assert fresh.get("reports.daily").schedule == "0 7 * * 1-5"


@pytest.mark.parametrize("schedule", ["0 25 * * *", "every day", "", " @reboot "])
def test_register__an_invalid_schedule_is_recorded_as_written(fresh, schedule):
    # Raised at import (AppConfig.ready), it would be a traceback from every
    # manage.py command: check_schedule (E002) and the sync report it instead.
    fresh.register("reports.daily", handler, schedule=schedule)

    assert fresh.declared() == [JobSpec("reports.daily", handler, schedule, {})]


def test_register__unknown_or_bad_options_are_recorded_as_written(fresh):
    options = {"retries": 3, "queue": "low", "timezone": "Moon/Base"}

    fresh.register("reports.daily", handler, schedule="@daily", options=options)
    fresh.register("reports.weekly", handler, options={"colour": "red"})

    assert fresh.declared() == [JobSpec("reports.daily", handler, "@daily", options)]
    assert fresh.declarations() == [
        JobSpec("reports.daily", handler, "@daily", options),
        JobSpec("reports.weekly", handler, None, {"colour": "red"}),
    ]


def test_registry__declared_lists_jobs_with_a_schedule_by_name(fresh):
    fresh.register("b.job", handler, schedule="@hourly")
    fresh.register(
        "a.job", other, schedule="@daily", options={"timezone": "Europe/Paris"}
    )
    fresh.register("c.job", lambda: None)

    assert [(spec.name, spec.schedule, spec.options) for spec in fresh.declared()] == [
        ("a.job", "@daily", {"timezone": "Europe/Paris"}),
        ("b.job", "@hourly", {}),
    ]


def test_registry__unregister_clear_snapshot_restore(fresh):
    fresh.register("a.job", handler)
    fresh.register("b.job", other)
    snapshot = fresh.snapshot()

    fresh.unregister("a.job")
    fresh.unregister("a.job")  # absent: no-op
    assert fresh.names() == ["b.job"]
    fresh.clear()
    assert fresh.names() == []
    fresh.restore(snapshot)
    assert fresh.names() == ["a.job", "b.job"]


def test_registry__declared_after_registering_and_unregistering(fresh):
    for i in range(50):
        fresh.register(f"plain.{i:02d}", handler)
    fresh.register("c.job", handler, schedule="@hourly")
    fresh.register("a.job", other, schedule="@daily", options={"queue": "low"})
    fresh.register("b.job", handler, schedule="*/5 * * * *")
    fresh.register("d.job", handler, options={"queue": "low"})  # no schedule

    fresh.unregister("b.job")
    fresh.unregister("plain.07")
    fresh.register("b.job", other, schedule="@weekly")

    assert fresh.declared() == [
        JobSpec("a.job", other, "@daily", {"queue": "low"}),
        JobSpec("b.job", other, "@weekly", {}),
        JobSpec("c.job", handler, "@hourly", {}),
    ]
    assert fresh.get("d.job") == JobSpec("d.job", handler, None, {"queue": "low"})
    assert fresh.get("plain.08") == JobSpec("plain.08", handler)
    assert not fresh.is_registered("plain.07")
    assert len(fresh.names()) == 49 + 4
    fresh.clear()
    assert fresh.declared() == []
    assert fresh.names() == []


def test_registry__declared_schedule_replaced_by_a_new_one(fresh):
    fresh.register("a.job", handler, schedule="@daily", options={"queue": "low"})

    fresh.register("a.job", handler, schedule="@hourly")

    assert fresh.declared() == [JobSpec("a.job", handler, "@hourly", {})]


def test_registry__plain_reregistration_drops_options_without_schedule(fresh):
    fresh.register("a.job", handler, options={"queue": "low"})

    fresh.register("a.job", handler)

    assert fresh.get("a.job") == JobSpec("a.job", handler)


def test_registry__reimported_definition_replaces_a_plain_handler(fresh):
    first, second = same_source_twice("def handler(ctx):\n    pass\n")
    fresh.register("jobs.plain", first)
    fresh.register("jobs.declared", first, schedule="@daily")

    fresh.register("jobs.plain", second)
    fresh.register("jobs.declared", second)

    assert fresh.get("jobs.plain").func is second
    assert fresh.get("jobs.declared") == JobSpec("jobs.declared", first, "@daily", {})


def test_registry__failed_registration_changes_nothing(fresh):
    fresh.register("a.job", handler, schedule="@daily")
    fresh.register("b.job", handler)

    with pytest.raises(AlreadyRegistered):
        fresh.register("a.job", other, schedule="@hourly")
    with pytest.raises(AlreadyRegistered):
        fresh.register("b.job", other, schedule="@hourly")
    with pytest.raises(TypeError):
        fresh.register("b.job", lambda a, b: None, schedule="@hourly")

    assert fresh.declared() == [JobSpec("a.job", handler, "@daily", {})]
    assert fresh.get("b.job") == JobSpec("b.job", handler)


def test_registry__plain_handlers_keep_no_jobspec(fresh, monkeypatch):
    # 100,000 plain handlers must cost a dict entry each, and declared() must
    # not walk them: neither builds a JobSpec for a plain handler.
    fresh.register("declared.job", handler, schedule="@daily")

    def no_jobspec(*args, **kwargs):
        raise AssertionError("a JobSpec was built")

    monkeypatch.setattr("django_togo_scheduler.registry.JobSpec", no_jobspec)
    for i in range(1_000):
        fresh.register(f"plain.{i:04d}", handler)
    fresh.register("plain.0001", handler)

    assert [spec.name for spec in fresh.declared()] == ["declared.job"]
    assert fresh.is_registered("plain.0999")


def test_registry__str_subclass_name_is_accepted(fresh):
    class Name(str):
        pass

    fresh.register(Name("a.job"), handler)

    assert fresh.is_registered("a.job")


def test_registry__snapshot_restore_keeps_declared_schedules(fresh):
    fresh.register("a.job", handler, schedule="@daily", options={"queue": "low"})
    fresh.register("b.job", other)
    fresh.register("c.job", other, options={"timeout": 5})
    snapshot = fresh.snapshot()
    fresh.clear()

    fresh.restore(snapshot)

    assert fresh.declared() == [JobSpec("a.job", handler, "@daily", {"queue": "low"})]
    assert fresh.get("b.job") == JobSpec("b.job", other)
    assert fresh.get("c.job") == JobSpec("c.job", other, None, {"timeout": 5})
    assert fresh.names() == ["a.job", "b.job", "c.job"]


# the module-level API (the global registry)


def test_register_and_registered__module_level(registry):
    register("togo.module_level", handler)
    assert registered("togo.module_level")
    assert not registered("togo.never")
    assert registry.get("togo.module_level").func is handler


def test_register__module_level_duplicate_raises_value_error(registry):
    register("togo.module_level", handler)

    with pytest.raises(ValueError, match="already registered"):
        register("togo.module_level", other)
    register("togo.module_level", handler)


# the job decorator


def test_job__name_defaults_to_module_and_qualname(registry):
    def nested(ctx):
        pass

    assert job()(handler) is handler
    assert job()(nested) is nested

    assert registered("tests.test_registry.handler")
    assert registered(
        "tests.test_registry.test_job__name_defaults_to_module_and_qualname.<locals>.nested"
    )


def test_job__without_parentheses(registry):
    @job
    def bare(ctx):
        pass

    assert bare.__name__ == "bare"
    spec = registry.get(
        "tests.test_registry.test_job__without_parentheses.<locals>.bare"
    )
    assert (spec.func, spec.schedule) == (bare, None)


def test_job__explicit_name_plain(registry):
    @job("togo.plain")
    def plain(ctx):
        return "result"

    assert plain(None) == "result"
    assert registry.get("togo.plain") == JobSpec("togo.plain", plain, None, {})
    assert "togo.plain" not in [spec.name for spec in registry.declared()]


def test_job__with_schedule_and_options(registry):
    @job(
        "togo.report",
        schedule="0 7 * * 1",
        timezone="Europe/Berlin",
        queue="low",
        timeout=60,
        catchup="none",
    )
    def report(ctx):
        pass

    spec = registry.get("togo.report")
    assert (spec.func, spec.schedule, spec.options) == (
        report,
        "0 7 * * 1",
        {"timezone": "Europe/Berlin", "queue": "low", "timeout": 60, "catchup": "none"},
    )
    assert spec in registry.declared()


def test_job__invalid_schedule_and_options_do_not_raise_at_import(registry):
    @job("togo.bad", schedule="every day", colour="red")
    def bad(ctx):
        pass

    assert registry.get("togo.bad") == JobSpec(
        "togo.bad", bad, "every day", {"colour": "red"}
    )
    assert registry.get("togo.bad") in registry.declared()


def test_job__same_name_on_another_function_raises(registry):
    job("togo.twice")(handler)

    with pytest.raises(AlreadyRegistered):
        job("togo.twice")(other)


# autodiscover


def test_autodiscover__imported_the_test_apps_jobs_module():
    assert "tests.testapp.jobs" in sys.modules
    assert registered("testapp.noop")
    from django_togo_scheduler.registry import registry

    spec = registry.get("testapp.no_args")
    assert (spec.func.__module__, spec.takes_context) == ("tests.testapp.jobs", False)


def test_autodiscover__again_and_after_a_reload_is_harmless(registry):
    before = registry.names()

    autodiscover("jobs")
    importlib.reload(sys.modules["tests.testapp.jobs"])

    assert registry.names() == before


def test_autodiscover__none_imports_nothing(registry, monkeypatch):
    imported: list[str] = []
    monkeypatch.setattr(
        "django_togo_scheduler.registry.autodiscover_modules", imported.append
    )

    autodiscover(None)
    autodiscover("")
    autodiscover("tasks")

    assert imported == ["tasks"]


def test_register__a_name_longer_than_the_database_holds_is_refused(registry):
    with pytest.raises(ValueError, match="longer than 200 characters"):
        registry.register("x" * 201, lambda: None)
    registry.register("x" * 200, lambda: None)
