"""The admin in a real browser: Playwright for Python driving Debian's chromium, headless.

Playwright must not download a browser of its own: it is pointed at
``/usr/bin/chromium`` (``scripts/services.sh`` installs Debian's ``chromium``).
Without the ``playwright`` package or that binary these tests skip, saying why.

With ``TOGO_SCREENSHOTS=1`` the flow also writes ``docs/screenshots/*.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections

from django_togo_scheduler.models import Run, ScheduledJob
from django_togo_scheduler.specs import validate_spec
from tests.test_admin import error_of

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "browser-pass"  # noqa: S105 (a throwaway test user)
TIMEOUT = 15_000  # ms Playwright waits for an element or a navigation

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install -e '.[test]')",
)
if not shutil.which(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing: apt-get install chromium (scripts/services.sh does)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def static_files(tmp_path_factory):
    """The apps' static files in a STATIC_ROOT, set before the live server starts.

    The test settings have no staticfiles app and no STATIC_URL; the live
    server serves STATIC_ROOT at STATIC_URL as it found them when it started.
    """
    from django.contrib.staticfiles import finders
    from django.test import override_settings

    root = tmp_path_factory.mktemp("static")
    for finder in finders.get_finders():
        for name, storage in finder.list([]):
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copyfile(storage.path(name), target)
    override = override_settings(STATIC_URL="/static/", STATIC_ROOT=str(root))
    override.enable()
    yield root
    override.disable()


@pytest.fixture
def site(static_files, live_server, settings, monkeypatch):
    """The live server's address, for a browser in this thread."""
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls between browser steps are synchronous all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield live_server.url
    # The server serves each browser connection (kept alive) in a thread with
    # its own database connection, closed when the browser hangs up. Wait for
    # them: PostgreSQL refuses to drop a test database still in use.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.05)


@pytest.fixture
def browser_page(site):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            viewport={"width": 1600, "height": 1000}, locale="en-US"
        )
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The test's ORM calls in the browser's block went through a
            # connection of their own context; PostgreSQL would not drop a
            # test database it is still connected to.
            connections.close_all()


@pytest.fixture
def schedules(django_user_model):
    """A superuser, and schedules with some history to look at."""
    from django.utils import timezone

    # The live server reads the real clock: "in 3 minutes" must be true there.
    now = timezone.now().replace(second=0, microsecond=0)
    django_user_model.objects.create_superuser("ops", "", PASSWORD)
    specs = {
        "testapp.noop": ("*/5 * * * *", "Europe/Berlin"),
        "testapp.fails": ("0 9 * * 1-5", "America/New_York"),
        "testapp.slow": ("@every 1h30m", ""),
        "testapp.no_args": ("@daily", "Asia/Tokyo"),
        "reports.weekly": ("0 7 * * MON", "Europe/London"),
    }
    jobs = {}
    for name, (spec, zone) in specs.items():
        jobs[name] = ScheduledJob.objects.create(
            name=name, spec=spec, timezone=zone, next_run_at=now + timedelta(minutes=3)
        )
    ScheduledJob.objects.filter(name="testapp.no_args").update(
        paused=True, paused_by="ops", paused_at=now, paused_reason="until the migration"
    )
    history = {
        "testapp.noop": "DDDDDDDDSDDDDDDDDDDDDDR",
        "testapp.fails": "FFDFFFFDDFFFSF",
        "testapp.slow": "DDSSDDSSDQ",
        "reports.weekly": "DDDD",
    }
    codes = {"D": "done", "F": "failed", "S": "skipped", "R": "running", "Q": "queued"}
    for name, marks in history.items():
        for index, code in enumerate(marks):
            slot = now - timedelta(minutes=5 * (len(marks) - index))
            status = codes[code]
            Run.objects.create(
                job=name,
                status=status,
                scheduled_for=slot,
                started_at=slot + timedelta(seconds=1.2) if code in "DFR" else None,
                finished_at=slot + timedelta(seconds=4.7) if code in "DF" else None,
                error=(
                    "Traceback (most recent call last):\n"
                    '  File "tests/testapp/jobs.py", line 27, in fails\n'
                    '    raise RuntimeError("this job always fails")\n'
                    "RuntimeError: this job always fails"
                    if code == "F"
                    else "skipped: the previous run is still in flight"
                    if code == "S"
                    else ""
                ),
            )
    return jobs


def screenshot(page, name, full_page=False):
    if os.environ.get("TOGO_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def log_in(page, site):
    page.goto(f"{site}/admin/login/?next=/admin/django_togo_scheduler/scheduledjob/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/scheduledjob/$"))
    # The navigation sidebar folded away (remembered by the browser): room for
    # the columns, as a user on a laptop would do.
    page.click("#toggle-nav-sidebar")


def act(page, job, action):
    page.check(f"input[name=_selected_action][value='{job.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_browser__pause_resume_trigger_and_watch_the_run(browser_page, site, schedules):
    page, expect = browser_page, sync_api.expect
    noop = schedules["testapp.noop"]
    log_in(page, site)

    row = page.locator("tr", has=page.locator(f"input[value='{noop.pk}']"))
    expect(row).to_contain_text("Every 5 minutes")
    expect(row.locator(".togo-mark")).to_have_count(20)
    expect(row.locator(".togo-status-running")).to_have_count(2)  # badge + mark
    screenshot(page, "schedules")

    act(page, noop, "pause_jobs")
    expect(page.locator("h1")).to_have_text("Pause schedules")
    page.fill("textarea[name=reason]", "deploy window")
    page.click("input[type=submit][value=Pause]")
    expect(page.locator(".messagelist")).to_have_text(
        "Paused 1 schedule: testapp.noop."
    )
    expect(row.locator(".togo-paused")).to_have_attribute(
        "title", re.compile(r"^by ops at .*: deploy window$")
    )
    noop.refresh_from_db()
    assert (noop.paused, noop.paused_by, noop.paused_reason) == (
        True, "ops", "deploy window",
    )  # fmt: skip

    act(page, noop, "resume_jobs")
    expect(page.locator(".messagelist")).to_have_text(
        "Resumed 1 schedule: testapp.noop."
    )
    noop.refresh_from_db()
    assert noop.paused is False

    # Its last run is still running: the trigger is skipped, and says so.
    act(page, noop, "trigger_jobs")
    expect(page.locator(".messagelist")).to_contain_text(
        "Skipped: still running: testapp.noop (run #"
    )
    Run.objects.filter(job="testapp.noop", status="running").update(status="done")

    act(page, noop, "trigger_jobs")
    message = page.locator(".messagelist li")
    # No scheduler runs: the web process (the live server) runs it at once.
    expect(message).to_contain_text(
        "Running in this process (no scheduler is running): testapp.noop (run #"
    )
    run = Run.objects.filter(job="testapp.noop", trigger="manual").latest("id")
    deadline = time.monotonic() + 10
    while Run.objects.get(pk=run.pk).status != "done" and time.monotonic() < deadline:
        time.sleep(0.05)

    page.click(f"a[href$='/run/{run.pk}/change/']")  # the message links to the run
    expect(page.locator(".field-status_badge")).to_contain_text("done")
    page.goto(f"{site}/admin/django_togo_scheduler/run/?job=testapp.noop")
    first = page.locator("#result_list tbody tr").first
    expect(first.locator(".field-id")).to_have_text(str(run.pk))
    expect(first.locator(".field-status_badge")).to_have_text("done")
    expect(first.locator(".field-trigger")).to_have_text("manual")

    page.goto(f"{site}/admin/django_togo_scheduler/run/")
    screenshot(page, "runs")


def test_browser__bad_spec_is_a_field_error_good_spec_changes_the_preview(
    browser_page, site, schedules
):
    page, expect = browser_page, sync_api.expect
    job = schedules["testapp.fails"]
    log_in(page, site)
    page.goto(f"{site}/admin/django_togo_scheduler/scheduledjob/{job.pk}/change/")
    preview = page.locator("#togo-preview")
    times = preview.locator("ol.togo-times li")
    expect(preview.locator(".togo-description")).to_have_text(
        "At 09:00, Monday through Friday"
    )
    expect(times.first).to_contain_text("09:00 E")  # EST or EDT
    before = preview.locator("ol.togo-times").inner_text()

    # The preview follows the typing, zone included.
    page.fill("#id_spec", "30 17 * * FRI")
    expect(preview.locator(".togo-description")).to_have_text(
        "At 17:30, only on Friday"
    )
    expect(times).to_have_count(5)
    expect(times.first).to_contain_text("17:30 E")
    assert preview.locator("ol.togo-times").inner_text() != before
    page.fill("#id_timezone", "Asia/Kolkata")
    expect(times.first).to_contain_text("17:30 IST")
    screenshot(page, "change_form", full_page=True)

    # A bad spec: an error in the preview at once, a field error on saving.
    page.fill("#id_spec", "61 * * * *")
    message = error_of(validate_spec, "61 * * * *")
    expect(preview.locator(".togo-preview-error")).to_have_text(message)
    page.click("input[name=_save]")
    expect(page.locator(".field-spec .errorlist")).to_have_text(message)
    job.refresh_from_db()
    assert (job.spec, job.timezone) == ("0 9 * * 1-5", "America/New_York")

    # A good one again: the preview changes, and it saves.
    page.fill("#id_spec", "0 8 * * *")
    expect(preview.locator(".togo-description")).to_have_text("At 08:00")
    expect(times.first).to_contain_text("08:00 IST")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    job.refresh_from_db()
    assert (job.spec, job.timezone) == ("0 8 * * *", "Asia/Kolkata")
