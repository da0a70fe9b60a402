"""Fixtures of the browser tests: a ferryd per test (killed at the end), its API, Debian's chromium
driven by Playwright (one per session, headless), and a fresh browser context per test whose
page errors and console errors fail the test."""
from __future__ import annotations

import os
import pathlib
import shutil

import pytest
from playwright.sync_api import Browser, sync_playwright

from ferry_http import REPO, Ferryd, FerryAPI

VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def ferryd(tmp_path: pathlib.Path):
    """A ferryd of this test alone (its log is in pytest's temporary directory)."""
    broker = Ferryd(tmp_path / "ferryd").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def api(ferryd: Ferryd) -> FerryAPI:
    return FerryAPI(ferryd.url)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium (Playwright's own browser download is not used), headless."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: Tests/browser/run-tests.sh installs it (apt-get install chromium)")
    # Chromium's sandbox cannot start as root.
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=arguments)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, ferryd: Ferryd):
    """A page in a new context (no cookies) at ferryd's console URL, 1280x800, UTC. JavaScript
    errors, and console errors unless the test is marked ``allow_console_errors``, fail the test
    (except the browser's own request for /favicon.ico, which ferryd does not serve)."""
    context = browser.new_context(base_url=ferryd.url, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    if request.node.get_closest_marker("allow_console_errors") is None:
        tab.on("console", lambda message: problems.append(f"console {message.type}: {message.text} at {message.location}")
               if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico") else None)
    try:
        yield tab
    finally:
        context.close()
    if problems:
        report = "the page reported errors:\n" + "\n".join(problems)
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            print(report)  # the test failed already: shown with its report, not a second failure
        else:
            pytest.fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test (``rep_call``), for fixtures' teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def screenshot_dir() -> pathlib.Path:
    """Where the screenshots go: docs/screenshots, or $SCREENSHOT_DIR."""
    directory = pathlib.Path(os.environ.get("SCREENSHOT_DIR") or REPO / "docs" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
