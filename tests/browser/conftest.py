"""Browser journeys against the real stack: fixtures.

Run with `make test-browser` (or `pytest tests/browser`); `make test` leaves them out.
Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright for Python; never
`playwright install`. Screenshots and process logs go to test-artifacts/browser/ (emptied at
the start of a run; BROWSER_ARTIFACTS=DIR puts them elsewhere).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .checks import AXE_PATH, AXE_SOURCE, CSP_LISTENER, PageChecks, screenshot_to
from .stack import ROOT, Stack

ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "test-artifacts" / "browser"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-journey-pw-1"

expect.set_options(timeout=15_000)


@pytest.fixture(autouse=True)
def _isolate():
    """Replaces tests/conftest.py's in-process app and rolled-back transaction: browser tests
    talk to the stack's own processes, and each journey makes its own people."""
    yield


@pytest.fixture(scope="session")
def artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    for sub in ("screens", "failures", "logs"):
        (ARTIFACTS / sub).mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(artifacts):
    """Web (gunicorn), worker, cron, sandbox and Redis on free ports, a fresh database
    (TEST_DATABASE_URL's when set, else a temporary SQLite file) and the demo seed."""
    stack = Stack(artifacts, database=os.environ.get("TEST_DATABASE_URL")).start()
    try:
        stack.flask("seed-demo")
        yield stack
    finally:
        stack.stop()
    problems = stack.log_errors()
    assert not problems, "the process logs show errors:\n" + "\n".join(problems)


@pytest.fixture(autouse=True)
def logs_clean(stack):
    """Each test ends with no 5xx answer and no traceback in the web or worker log."""
    start = stack.log_sizes()
    yield
    problems = stack.log_errors(start)
    if problems:
        pytest.fail(
            f"the process logs show errors during this test (see {stack.logs}):\n" + "\n".join(problems), pytrace=False
        )


@pytest.fixture(scope="session")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Person:
    """Someone using the app in their own browser (own cookies), with the page checker on."""

    def __init__(self, name: str, context, stack: Stack, artifacts: Path):
        self.name = name
        self.slug = name.lower().replace(" ", "-")
        self.email = f"{self.slug}-{uuid.uuid4().hex[:8]}@example.com"
        self.password = PASSWORD
        self.context = context
        self.stack = stack
        context.expose_binding("__tpReportCsp", lambda source, report: self.checks.on_csp_violation(report))
        self.page = context.new_page()
        self.checks = PageChecks(self.page, base_url=stack.base_url, artifacts=artifacts, owner=self.slug)

    def url(self, path: str) -> str:
        return self.stack.base_url + path

    def visit(self, path: str, label: str | None = None, screenshot: str | None = None):
        __tracebackhide__ = True
        self.page.goto(self.url(path))
        self.check(label or path, screenshot)
        return self.page

    def check(self, label: str, screenshot: str | None = None, full_page: bool = True):
        __tracebackhide__ = True
        self.checks.check(f"{self.name}: {label}", screenshot, full_page)


@pytest.fixture
def people(browser, stack, artifacts, request):
    """people("Sam Seller") → a Person with a fresh browser context at 1280×800."""
    made: list[Person] = []

    def make(name: str) -> Person:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=stack.base_url)
        context.set_default_timeout(20_000)
        context.add_init_script(CSP_LISTENER)
        context.route(
            f"{stack.base_url}{AXE_PATH}", lambda route: route.fulfill(body=AXE_SOURCE, content_type="text/javascript")
        )
        person = Person(name, context, stack, artifacts)
        made.append(person)
        return person

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    try:
        for person in made:
            if failed and not person.page.is_closed():
                screenshot_to(person.page, artifacts / "failures" / f"{request.node.name}-{person.slug}.png")
        if not failed:
            for person in made:
                person.checks.assert_quiet(f"{person.name}: after the last check")
    finally:
        for person in made:
            person.context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
