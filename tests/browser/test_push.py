"""Web Push in Chromium: the live feed explains notifications before it offers to turn
them on (permission asked only from the tap), and the service worker's push handler
shows a pushed alert as a notification with its priority in the title, vibrating, one
per alert; a push is delivered through the DevTools protocol, as a push service would."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.browser.conftest import App, wait_until
from tests.support import Server

pytestmark = pytest.mark.browser

NOTIFICATIONS = (
    "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => ns.map((n) =>"
    " ({title: n.title, body: n.body, tag: n.tag, vibrate: Array.from(n.vibrate || []),"
    " data: n.data, requireInteraction: n.requireInteraction})))"
)


def _registration(cdp: Any, origin: str) -> str:
    found: dict[str, str] = {}

    def updated(params: dict[str, Any]) -> None:
        for registration in params.get("registrations", []):
            if registration["scopeURL"].startswith(origin) and not registration.get("isDeleted"):
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while "id" not in found and time.monotonic() < deadline:
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets the events arrive
        time.sleep(0.05)
    assert "id" in found, "no service worker registration for the app"
    return found["id"]


def test_the_feed_explains_notifications_and_asks_only_from_a_tap(app: App, demo: Server) -> None:
    context = app.context()
    page = app.open("door.redlion", context=context)
    page.wait_for_selector("#feed")
    panel = page.locator("#push-panel")
    panel.locator("summary").click()
    assert "even when the hub is closed" in panel.inner_text()
    assert "never show names" in panel.inner_text()
    assert page.evaluate("Notification.permission") == "default"  # nothing asked yet
    assert panel.get_by_role("button", name="Turn on notifications").is_visible()


def test_ios_outside_the_home_screen_is_told_to_add_the_app_first(app: App, demo: Server) -> None:
    agent = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    page = app.open("door.redlion", context=app.context(user_agent=agent))
    page.wait_for_selector("#feed")
    page.locator("#push-panel summary").click()
    assert "Add to Home Screen" in page.locator("#push-ios").inner_text()
    assert page.locator("#push-toggle").count() == 0


def test_a_push_shows_a_vibrating_notification_with_the_priority_in_its_title(app: App, demo: Server) -> None:
    context = app.context()
    context.grant_permissions(["notifications"], origin=demo.url)
    page = app.open("door.redlion", context=context)
    page.wait_for_function("navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)")
    cdp = context.new_cdp_session(page)
    registration = _registration(cdp, demo.url)
    message = {
        "partnership": "kingsbridge",
        "position": 4242,
        "type": "alert.broadcast",
        "title": "Emergency alert",
        "body": "The Red Lion · Main net",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": demo.url + "/", "registrationId": registration, "data": json.dumps(message)},
    )
    shown: list[dict[str, Any]] = []

    def arrived() -> bool:
        shown[:] = page.evaluate(NOTIFICATIONS)
        return bool(shown)

    wait_until(arrived, 10, "the notification")
    (notification,) = shown
    assert notification["title"] == "Emergency alert"
    assert notification["body"] == "The Red Lion · Main net"
    assert notification["tag"] == "kingsbridge:4242"
    assert notification["vibrate"] and notification["requireInteraction"] is True
    assert notification["data"] == {"partnership": "kingsbridge", "position": 4242}
