"""Accessibility and fit: axe-core finds no serious or critical violations on any view,
nothing is wider than a 360 px phone, the feed works by keyboard, and the app is an
installable PWA (manifest, icons, a service worker with scope /)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import AXE, PHONE, App
from tests.support import Server

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or, in CI, fail) with the reason
    expect = None

pytestmark = pytest.mark.browser

# What each view shows once it has loaded, to check it filled in.
VIEWS = {
    "door.redlion": {"live": "li.alert", "gallery": "li.person", "report": "#recent-title"},
    "cctv": {"sighting": "select[name=subject_id]"},
    "coordinator": {
        "subjects": "li.person",
        "exclusions": "ul[aria-label=Exclusions] li",
        "members": "tr[data-username]",
        "timeline": "table.timeline tbody tr",
    },
    "auditor": {"timeline": "table.timeline tbody tr", "verify": "#verify", "asof": "#asof-result"},
    "admin": {"partnerships": "li[data-partnership]"},
}
RUN_AXE = """async () => {
    const result = await axe.run(document, {
        runOnly: {
            type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'],
        },
    });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
}"""


def problems(page: Any, where: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = [
        f"{where}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        for v in page.evaluate(RUN_AXE)
        if v["impact"] in ("serious", "critical")
    ]
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        found.append(f"{where}: the page is {width} px wide at a {PHONE['width']} px viewport")
    return found


def test_no_serious_or_critical_violations_and_no_overflow_at_360_px(app: App) -> None:
    found: list[str] = []
    # axe is injected as a script, which the app's Content-Security-Policy would refuse.
    page = app.page(app.context(PHONE, bypass_csp=True))
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    found += problems(page, "sign-in")
    for username, views in VIEWS.items():
        page = app.open(username, PHONE, bypass_csp=True)
        for view, ready in views.items():
            page.goto(f"/#/{view}")
            page.locator(f".view[data-view={view}]").wait_for()
            page.locator(ready).first.wait_for(state="attached")
            if view == "verify":
                page.get_by_role("button", name="Verify the log").click()
                expect(page.locator("#verify-result .verdict")).to_be_visible()
            if view == "asof":
                page.get_by_role("button", name="Show the state").click()
                expect(page.locator("#asof-result .asof-head")).to_be_visible()
            # The forms folded away are checked too (the timeline's per-event details aside).
            page.evaluate(
                "document.querySelectorAll('main details:not(.timeline details)')"
                ".forEach((d) => { d.open = true; })"
            )
            found += problems(page, f"{username} #/{view}")
    assert not found, "\n".join(found)


def test_the_feed_works_by_keyboard(app: App) -> None:
    page = app.open("door.vault")
    card = page.locator("li.alert", has_text="Town CCTV online")
    ack = card.get_by_role("button", name="Acknowledge", exact=True)
    expect(ack).to_be_visible()
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if ack.evaluate("(button) => button === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Acknowledge button")
    page.keyboard.press("Enter")
    expect(card.locator(".acks")).to_contain_text("door.vault")
    # The skip link is the first stop, and it leads to the content.
    page.locator("body").focus()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_installable_as_a_pwa(app: App, demo: Server) -> None:
    manifest = httpx.get(demo.url + "/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"].startswith("/") and data["name"]
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        answer = httpx.get(demo.url + icon["src"])
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    worker = httpx.get(demo.url + "/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
    assert httpx.get(demo.url + "/healthz").json()["ok"]  # the API's own paths are not shadowed

    page = app.page(app.context(PHONE))
    page.goto("/")
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == demo.url + "/"
    assert (
        page.evaluate("document.querySelector('link[rel=manifest]').href")
        == demo.url + "/manifest.webmanifest"
    )
