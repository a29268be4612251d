"""The one entry point for tests, lint and the example project, locally and in CI.

``scripts/test`` starts the services and runs ``nox``; ``nox -l`` lists the
sessions (``tests-3.11``, ``tests-3.12``, ``tests-django6-3.12``,
``tests-django6.0-3.13``, ``lint``, ``mypy``, ``example``, ``docs``,
``package``) and ``nox -s tests-3.12 -- -k specs`` runs one cell with pytest
arguments.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = [
    "tests",
    "tests-django6",
    "tests-django6.0",
    "lint",
    "mypy",
    "example",
    "docs",
    "package",
]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

DATABASES = os.environ.get("TOGO_TEST_DATABASES", "sqlite,postgres").split(",")


# Django 6.x needs Python >= 3.12: there is no 3.11 + 6.x cell.
@nox.session(python=["3.11", "3.12"])
def tests(session: nox.Session) -> None:
    """The test suite with Django 5.2 LTS on SQLite and PostgreSQL, with coverage."""
    run_tests(session, "django~=5.2.0")


@nox.session(name="tests-django6", python=["3.12"])
def tests_django6(session: nox.Session) -> None:
    """The test suite with Django 6.1 on SQLite and PostgreSQL, with coverage."""
    run_tests(session, "django~=6.1.0")


# The chaos harness (tests/processes/test_chaos.py, about 2 of the 12 minutes of a cell)
# tries the scheduler's processes, Redis and PostgreSQL under crashes, not
# Django, and is not measured by coverage: the Django 6.0 cell leaves it to
# the other three, to keep the whole run well under an hour on two cores.
DJANGO_INDEPENDENT_SLOW_TESTS = ("tests/processes/test_chaos.py",)


@nox.session(name="tests-django6.0", python=["3.13"])
def tests_django60(session: nox.Session) -> None:
    """The test suite with Django 6.0 on Python 3.13, SQLite and PostgreSQL, with
    coverage; without the chaos harness (``DJANGO_INDEPENDENT_SLOW_TESTS``)."""
    run_tests(session, "django~=6.0.0", leave_out=DJANGO_INDEPENDENT_SLOW_TESTS)


def run_tests(
    session: nox.Session, django: str, leave_out: tuple[str, ...] = ()
) -> None:
    """Both databases under coverage, the subprocesses included; then the gate.

    Coverage counts the code the tests run in other processes too
    (``runscheduler``, ``rqworker`` and its work horses): see
    ``[tool.coverage.run]`` in pyproject.toml. The gate (``fail_under`` there)
    applies to a whole run only: with pytest arguments (``-- -k specs``) the
    report is printed without it, since a part of the suite covers a part of
    the code.
    """
    session.install("-e", ".[test]", django)
    session.run("python", "-m", "coverage", "erase")
    for database in DATABASES:
        session.log(f"--- database: {database}")
        session.run(
            "python",
            "-m",
            "coverage",
            "run",
            "-m",
            "pytest",
            *(f"--ignore={path}" for path in leave_out),
            *session.posargs,
            env={"TOGO_TEST_DB": database},
        )
    session.run("python", "-m", "coverage", "combine", "--quiet", success_codes=[0, 1])
    if session.posargs:
        session.log("pytest arguments given: coverage reported, not gated")
        session.run("python", "-m", "coverage", "report", "--fail-under=0")
    else:
        session.run("python", "-m", "coverage", "report")  # pyproject's fail_under


@nox.session(python="3.12")
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import layers (import-linter's
    contracts in pyproject.toml: docs/architecture.md draws them)."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python="3.12")
def mypy(session: nox.Session) -> None:
    """mypy --strict with django-stubs on the package."""
    session.install("-e", ".[lint]", "django~=6.1.0")
    session.run("mypy", "django_togo_scheduler")


@nox.session(python="3.11")
def example(session: nox.Session) -> None:
    """The example project: system checks and no missing migration."""
    session.install("-e", ".")
    session.run("python", "manage.py", "check", "--fail-level", "WARNING")
    session.run("python", "manage.py", "makemigrations", "--check", "--dry-run")


@nox.session(python="3.12")
def docs(session: nox.Session) -> None:
    """The Sphinx docs, warnings as errors (no network: no intersphinx fetch)."""
    session.install("-e", ".", "sphinx", "furo", "myst-parser")
    session.run(
        "sphinx-build",
        "-W",
        "-q",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        env={"TOGO_DOCS_OFFLINE": "1"},
    )


@nox.session(python="3.11")
def package(session: nox.Session) -> None:
    """Wheel and sdist: built, twine-checked, no tests inside, example runs on the wheel."""
    session.install("build", "twine")
    session.run("python", "scripts/check_package.py")
