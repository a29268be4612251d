"""The admin in a real browser: Playwright for Python driving Debian's chromium, headless.

Playwright must not download a browser of its own: it is pointed at
``/usr/bin/chromium`` (``scripts/services.sh`` installs Debian's ``chromium``).
Without the ``playwright`` package or that binary these tests skip, saying why.

Every page is looked at on a 1366x768 laptop screen, the admin's navigation
sidebar open as a fresh user sees it. The tests are few and share one browser
(each gets a fresh context: no cookies, no remembered sidebar state).

With ``TOGO_SCREENSHOTS=1`` they also write ``docs/screenshots/*.png``.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections

from django_togo_scheduler.models import Run, ScheduledJob, SchedulerProcess
from django_togo_scheduler.specs import get_timezone, parse_spec, validate_spec
from tests.admin.test_jobs import error_of

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
LAPTOP = {"width": 1366, "height": 768}  # the screen every page must fit
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "browser-pass"  # noqa: S105 (a throwaway test user)
TIMEOUT = 15_000  # ms Playwright waits for an element or a navigation
ADMIN = "/admin/django_togo_scheduler"

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


@pytest.fixture(scope="module")
def browser():
    """One chromium for the module's tests (starting it is the slow part)."""
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API runs an event loop in this thread; the tests'
        # own ORM calls between browser steps are synchronous all the same.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            try:
                yield chromium
            finally:
                chromium.close()
    connections.close_all()


@pytest.fixture
def site(static_files, live_server, settings):
    """The live server's address, for a browser in this thread."""
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
def page(browser, site):
    """A fresh browser context on a laptop screen: a new user's first visit."""
    context = browser.new_context(viewport=LAPTOP, locale="en-US")
    context.set_default_timeout(TIMEOUT)
    try:
        yield context.new_page()
    finally:
        context.close()  # hangs up on the live server
        # The test's ORM calls went through connections of this thread that
        # PostgreSQL would otherwise still count as using the test database.
        connections.close_all()


# A realistic day: (spec, zone, seconds a run takes, runs oldest first) per
# job; D done, F failed, S skipped, R running, Q queued. The testapp jobs are
# the test app's handlers; legacy.ftp_export has none.
DEMO = {
    "billing.send_invoice_reminders": ("0 9 * * 1-5", "Europe/Berlin", 2.1, "D" * 22),
    "cleanup.expired_sessions": ("@daily", "", 0.4, "D" * 13),
    "crm.sync_contacts": ("*/15 * * * *", "America/New_York", 12.4, "DDDFFDDDFFFFFFFF"),
    "reports.weekly_digest": ("0 7 * * MON", "Europe/London", 48.0, "DDDD"),
    "search.reindex_products": ("@every 1h30m", "Asia/Tokyo", 251.0, "DDSSDDSSDQ"),
    "testapp.fails": ("0 9 * * 1-5", "America/New_York", 0.2, "FFDFFFFDDFFFSF"),
    "testapp.noop": ("*/5 * * * *", "Europe/Berlin", 0.05, "DDDDDDDDSDDDDDDDDDDDDDR"),
    "legacy.ftp_export": ("30 2 * * *", "", 7.5, "DDDDFFF"),
    "reports.daily_kpis": ("0 6 * * *", "Australia/Sydney", 3.3, "DDDDDD"),
}
LONG = [  # (name, spec, zone) that must wrap, not widen the page
    (
        "warehouse.inventory.reconcile_all_stock_levels_with_the_erp_nightly",
        "0 0,6,12,18 1-7,15-21 JAN-MAR,JUL-SEP MON-FRI",
        "America/Argentina/ComodRivadavia",
    ),
    ("averyveryverylongjobnamewithoutanydotsatallthatgoesonandon", "@hourly", ""),
]
STATUSES = {"D": "done", "F": "failed", "S": "skipped", "R": "running", "Q": "queued"}
CRM_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "crm/jobs.py", line 41, in sync_contacts\n'
    "    page = client.contacts(page=n)\n"
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='crm.example.com', "
    "port=443): Max retries exceeded with url: /api/v2/contacts?page=14&per_page=500 "
    "(Caused by NewConnectionError('Failed to establish a new connection: "
    "[Errno 111] Connection refused'))"
)
FAILS_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "tests/testapp/jobs.py", line 27, in fails\n'
    '    raise RuntimeError("this job always fails")\n'
    "RuntimeError: this job always fails"
)


def error_for(name, code):
    if code == "S":
        return "skipped: the previous run of this job is still in flight"
    if code != "F":
        return ""
    return CRM_ERROR if name.startswith("crm.") else FAILS_ERROR


def past_slots(spec, zone, now, count):
    """The last ``count`` fire times of ``spec`` up to ``now``, oldest first."""
    tz = get_timezone(zone or "UTC")
    span = timedelta(hours=1)
    while True:
        times = list(
            itertools.takewhile(
                lambda at: at <= now, parse_spec(spec).iter_after(now - span, tz)
            )
        )
        if len(times) >= count:
            return times[-count:]
        span *= 2


@pytest.fixture
def schedules(django_user_model, registry):
    """A superuser, schedules with some history, and two schedulers long gone."""
    from django.utils import timezone

    from django_togo_scheduler.schedules import first_slot

    # The live server reads the real clock: "in 3 minutes" must be true there.
    now = timezone.now().replace(second=0, microsecond=0)
    django_user_model.objects.create_superuser("ops", "", PASSWORD)
    for name in DEMO:
        if name.split(".")[0] not in ("testapp", "legacy"):
            registry.register(name, lambda: None)
    jobs, runs = {}, []
    for name, (spec, zone, seconds, marks) in DEMO.items():
        jobs[name] = ScheduledJob.objects.create(
            name=name, spec=spec, timezone=zone, next_run_at=first_slot(spec, zone, now)
        )
        took = timedelta(seconds=seconds)
        for slot, code in zip(
            past_slots(spec, zone, now, len(marks)), marks, strict=True
        ):
            start = slot + timedelta(seconds=1.2)
            runs.append(
                Run(
                    job=name,
                    status=STATUSES[code],
                    scheduled_for=slot,
                    started_at=start if code in "DFR" else None,
                    finished_at=start + took if code in "DF" else None,
                    error=error_for(name, code),
                )
            )
    # Recorded as a scheduler would: in the order of their slots.
    for run in sorted(runs, key=lambda run: run.scheduled_for):
        run.save()
    ScheduledJob.objects.update(created_at=now - timedelta(days=60))
    ScheduledJob.objects.filter(name="search.reindex_products").update(
        paused=True, paused_by="ops", paused_at=now, paused_reason="until the migration"
    )
    ScheduledJob.objects.filter(name="crm.sync_contacts").update(
        max_age="2h", overdue_since=now - timedelta(minutes=40)
    )
    ScheduledJob.objects.filter(name="reports.daily_kpis").update(
        declared=True,
        source="@job in reports.jobs",
        orphaned_at=now - timedelta(minutes=20),
    )
    SchedulerProcess.objects.create(
        host="web-7f9c4d-x2k8p",
        pid=1,
        started_at=now - timedelta(days=1),
        last_tick_at=now - timedelta(hours=2),
        stopped_at=now - timedelta(hours=2),
    )
    SchedulerProcess.objects.create(
        host="web-7f9c4d-m4q2z",
        pid=1,
        started_at=now - timedelta(hours=2),
        last_tick_at=now - timedelta(minutes=10),
    )
    return jobs


def screenshot(page, name, full_page=False):
    if os.environ.get("TOGO_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def log_in(page, site):
    page.goto(f"{site}/admin/login/?next={ADMIN}/scheduledjob/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/scheduledjob/$"))


def overflow(page):
    """How far the page, the results table or its last column pass the viewport."""
    return page.evaluate(
        """() => {
        const doc = document.documentElement, width = doc.clientWidth;
        const results = document.querySelector('#changelist-form .results');
        const last = [...document.querySelectorAll('#result_list tr > :last-child')];
        return {
            page: doc.scrollWidth - width,
            results: results ? results.scrollWidth - results.clientWidth : 0,
            lastColumn: Math.max(0, ...last.map(c => c.getBoundingClientRect().right)) - width,
            rows: document.querySelectorAll('#result_list tbody tr').length,
        };
    }"""
    )


def assert_fits(page):
    """Nothing needs a horizontal scroll, and the table's last column is in view."""
    seen = overflow(page)
    assert seen["page"] <= 0, seen
    assert seen["results"] <= 0, seen
    assert seen["lastColumn"] <= 0, seen
    return seen


def test_browser__every_page_fits_a_laptop_screen(page, site, schedules, registry):
    from django.utils import timezone

    expect = sync_api.expect
    banner = page.locator(".togo-banner")
    log_in(page, site)

    # The schedules, the navigation open: every column in view, no scroll.
    assert page.locator("#nav-sidebar").is_visible()
    assert assert_fits(page)["rows"] == len(DEMO)
    crm = page.locator("#result_list tr", has_text="crm.sync_contacts")
    expect(crm.locator(".togo-warning")).to_have_text("overdue")
    expect(crm.locator(".togo-mark")).to_have_count(16)
    expect(crm.locator(".togo-last .togo-badge")).to_have_text("failed")
    orphan = page.locator("#result_list tr", has_text="reports.daily_kpis")
    expect(orphan.locator(".togo-orphaned")).to_have_text("orphaned")
    # No scheduler ticked: the banner says so, and what to run.
    expect(banner).to_contain_text("No scheduler is running")
    expect(banner).to_contain_text("python manage.py runscheduler")
    screenshot(page, "schedules")
    # Long names, specs and zones wrap in their cells.
    for name, spec, zone in LONG:
        registry.register(name, lambda: None)
        ScheduledJob.objects.create(
            name=name, spec=spec, timezone=zone, paused=True, orphaned_at=timezone.now()
        )
    page.reload()
    assert assert_fits(page)["rows"] == len(DEMO) + len(LONG)
    page.click("#toggle-nav-sidebar")  # folded away: still fits
    expect(page.locator("#nav-sidebar")).to_be_hidden()
    assert_fits(page)
    page.click("#toggle-nav-sidebar")

    # The run log: the error's line in view, cut to its cell.
    page.goto(f"{site}{ADMIN}/run/")
    assert assert_fits(page)["rows"] == min(
        100, sum(len(demo[-1]) for demo in DEMO.values())
    )
    screenshot(page, "runs")
    page.goto(f"{site}{ADMIN}/run/?job=crm.sync_contacts")
    assert_fits(page)
    error = page.locator("#result_list .togo-error-line").first
    expect(error).to_contain_text("ConnectionError: HTTPSConnectionPool")
    assert error.evaluate("line => line.scrollWidth > line.clientWidth")  # cut

    # The schedulers: both rows, and no "no scheduler processes" under them.
    page.goto(f"{site}{ADMIN}/schedulerprocess/")
    assert assert_fits(page)["rows"] == 2
    expect(page.locator(".paginator")).to_contain_text("2 scheduler processes")
    expect(page.locator("#content")).not_to_contain_text("no scheduler processes")
    screenshot(page, "processes")

    # A change form: the banner, and the explained panel within the page.
    page.goto(f"{site}{ADMIN}/scheduledjob/{schedules['crm.sync_contacts'].pk}/change/")
    expect(banner).to_contain_text("No scheduler is running")
    panel = page.locator(".togo-explain")
    # Its latest slot at the time the page renders (the real clock: a slot's
    # run, or a slot just due): either way lines long enough to need wrapping.
    expect(panel).to_contain_text("Schedule: crm.sync_contacts")
    assert_fits(page)
    assert panel.evaluate(
        "box => box.getBoundingClientRect().right <= document.documentElement.clientWidth"
        " && box.scrollWidth <= box.clientWidth"
    )

    # A scheduler ticks: the banner goes.
    SchedulerProcess.objects.create(
        host="web-7f9c4d-live",
        pid=1,
        started_at=timezone.now(),
        last_tick_at=timezone.now(),
    )
    page.reload()
    expect(page.locator(".togo-explain")).to_be_visible()
    expect(banner).to_have_count(0)
    screenshot(page, "change_form", full_page=True)
    page.goto(f"{site}{ADMIN}/scheduledjob/")
    expect(page.locator("#result_list")).to_be_visible()
    expect(banner).to_have_count(0)


def act(page, job, action):
    page.check(f"input[name=_selected_action][value='{job.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_browser__pause_resume_trigger_and_follow_the_run(page, site, schedules):
    expect = sync_api.expect
    noop = schedules["testapp.noop"]
    messages = page.locator(".messagelist")
    log_in(page, site)

    row = page.locator("tr", has=page.locator(f"input[value='{noop.pk}']"))
    expect(row).to_contain_text("Every 5 minutes")
    expect(row.locator(".togo-mark")).to_have_count(20)
    expect(row.locator(".togo-status-running")).to_have_count(2)  # badge + mark

    act(page, noop, "pause_jobs")
    expect(page.locator("h1")).to_have_text("Pause schedules")
    page.fill("textarea[name=reason]", "deploy window")
    page.click("input[type=submit][value=Pause]")
    expect(messages).to_have_text("Paused 1 schedule: testapp.noop.")
    expect(row.locator(".togo-paused")).to_have_attribute(
        "title", re.compile(r"^by ops at .*: deploy window$")
    )
    noop.refresh_from_db()
    assert (noop.paused, noop.paused_by, noop.paused_reason) == (
        True, "ops", "deploy window",
    )  # fmt: skip

    act(page, noop, "resume_jobs")
    expect(messages).to_have_text("Resumed 1 schedule: testapp.noop.")
    expect(row.locator(".togo-paused")).to_have_count(0)
    noop.refresh_from_db()
    assert noop.paused is False

    # Its last run is done: the trigger records a manual run, and the
    # message links to it.
    Run.objects.filter(job="testapp.noop", status="running").update(status="done")
    act(page, noop, "trigger_jobs")
    # No scheduler runs: the web process (the live server) runs it at once.
    expect(messages).to_contain_text(
        "Running in this process (no scheduler is running): testapp.noop (run #"
    )
    run = Run.objects.filter(job="testapp.noop", trigger="manual").latest("id")
    deadline = time.monotonic() + 10
    while Run.objects.get(pk=run.pk).status != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    page.click(f".messagelist a[href$='/run/{run.pk}/change/']")
    expect(page.locator(".field-job_link")).to_contain_text("testapp.noop")
    expect(page.locator(".field-trigger")).to_contain_text("manual")
    expect(page.locator(".field-status_badge")).to_contain_text("done")

    page.goto(f"{site}{ADMIN}/run/?job=testapp.noop")
    first = page.locator("#result_list tbody tr").first
    expect(first.locator(".field-id")).to_have_text(str(run.pk))
    expect(first.locator(".togo-trigger")).to_have_text("manual")


def test_browser__bad_spec_is_a_field_error_good_spec_changes_the_preview(
    page, site, schedules
):
    expect = sync_api.expect
    job = schedules["testapp.fails"]
    log_in(page, site)

    # An empty form: a quiet hint, not an error.
    page.goto(f"{site}{ADMIN}/scheduledjob/add/")
    hint = page.locator("#togo-preview .togo-preview-hint")
    expect(hint).to_have_text("Type a spec to see its next fire times.")
    hint_color = hint.evaluate("p => getComputedStyle(p).color")
    assert_fits(page)

    page.goto(f"{site}{ADMIN}/scheduledjob/{job.pk}/change/")
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

    # A bad spec: an error in the preview at once, a field error on saving.
    page.fill("#id_spec", "61 * * * *")
    message = error_of(validate_spec, "61 * * * *")
    error = preview.locator(".togo-preview-error")
    expect(error).to_have_text(message)
    assert error.evaluate("p => getComputedStyle(p).color") != hint_color
    # Emptied: the quiet hint again.
    page.fill("#id_spec", "")
    expect(hint).to_have_text("Type a spec to see its next fire times.")
    page.fill("#id_spec", "61 * * * *")
    expect(error).to_have_text(message)
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
