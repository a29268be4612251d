"""Build the wheel and sdist, check them, and run the example project on the wheel.

Run by ``nox -s package``: builds into a temporary folder, runs ``twine check``,
asserts that the wheel holds the package (with its migrations, templates and
``py.typed``) and no tests, installs the wheel into a fresh virtualenv and runs
the example project there, from a folder without the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str | Path, cwd: Path | None = None) -> str:
    print("$", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True
    )
    print(result.stdout + result.stderr, flush=True)
    if result.returncode:
        raise SystemExit(f"failed: {args}")
    return result.stdout + result.stderr


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="togo-package-"))
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)

    names = zipfile.ZipFile(wheels[0]).namelist()
    assert not [n for n in names if n.startswith("tests/")], "the wheel holds tests"
    for needed in (
        "django_togo_scheduler/py.typed",
        "django_togo_scheduler/migrations/0001_initial.py",
        "django_togo_scheduler/management/commands/runscheduler.py",
    ):
        assert needed in names, f"{needed} missing from the wheel"

    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheels[0])
    project = work / "project"
    shutil.copytree(
        ROOT / "example_project",
        project / "example_project",
        ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__"),
    )
    shutil.copy(ROOT / "manage.py", project / "manage.py")
    env_check = run(
        python,
        "-c",
        "import django_togo_scheduler, sys; print(django_togo_scheduler.__file__)",
        cwd=project,
    )
    assert str(venv) in env_check, f"not the installed wheel: {env_check}"
    run(python, "manage.py", "check", "--fail-level", "WARNING", cwd=project)
    run(python, "manage.py", "migrate", "-v", "0", cwd=project)
    run(python, "manage.py", "runscheduler", "--once", cwd=project)
    out = run(python, "manage.py", "scheduler", "list", cwd=project)
    assert "demo.cleanup" in out, out
    print(f"package OK: {wheels[0].name}, {sdists[0].name}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
