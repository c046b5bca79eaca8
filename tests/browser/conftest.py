"""Browser tests: Debian's Chromium driven by Playwright (sync API) against a real `hub serve`.

Playwright's own browser download does not work here: the tests use /usr/bin/chromium.
`scripts/browser-deps` installs what is missing (chromium, the playwright package, axe-core).
With CI set the tests never skip: missing parts are installed, or the run fails.
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, in_ci, seed_demo, skip_unless_ci

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DOCS = ROOT / "docs"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "demo-password"
P = "kingsbridge"


def offline(queued: int) -> str:
    """The connection indicator of a device without a network."""
    return f"Offline \u2013 {queued} queued"


def _missing() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append("chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (Python package)")
    if not AXE.exists():
        missing.append(f"axe-core ({AXE.relative_to(ROOT)})")
    return missing


def _install_in_ci() -> None:
    """In CI the browser tests never skip: what is missing is installed before the test
    modules (which import playwright) are collected."""
    if in_ci() and _missing():
        subprocess.run(["bash", str(ROOT / "scripts" / "browser-deps")], check=True, timeout=900)
        importlib.invalidate_caches()


_install_in_ci()


@pytest.fixture(scope="session")
def browser_deps() -> None:
    missing = _missing()
    if missing:
        skip_unless_ci(f"browser tests need {', '.join(missing)}: run scripts/browser-deps")


# Package scope: Playwright's sync API keeps an event loop running in this thread until
# it stops, which would break every later test that calls asyncio.run.
@pytest.fixture(scope="package")
def browser(browser_deps: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory, browser_deps: None) -> Iterator[Server]:
    """A real `hub serve` over the demo partnership 'kingsbridge'."""
    data = tmp_path_factory.mktemp("web")
    seed_demo(data)
    server = Server(data).start()
    try:
        yield server
    finally:
        server.stop()


def api(server: Server, username: str) -> httpx.Client:
    return server.login(username, PASSWORD)


class App:
    """Opens the web app as a user in a browser context of its own."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def context(self, viewport: dict[str, int] = PHONE, **options: Any) -> Any:
        context = self.browser.new_context(
            viewport=viewport,
            locale="en-GB",
            timezone_id="Europe/London",
            base_url=self.server.url,
            **options,
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context

    def page(self, context: Any) -> Any:
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    def open(
        self, username: str, viewport: dict[str, int] = PHONE, context: Any = None, **options: Any
    ) -> Any:
        """A page signed in as `username`, showing its first section."""
        page = self.page(context or self.context(viewport, **options))
        page.goto("/")
        sign_in(page, username)
        return page


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#nav:not([hidden])")


@pytest.fixture
def app(browser: Any, demo: Server) -> Iterator[App]:
    opened = App(browser, demo)
    try:
        yield opened
    finally:
        for context in opened.contexts:
            context.close()
    assert not opened.errors, f"uncaught errors in the page: {opened.errors}"


def screenshot(page: Any, name: str, **options: Any) -> Path:
    DOCS.mkdir(exist_ok=True)
    path = DOCS / name
    page.screenshot(path=str(path), **options)
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
