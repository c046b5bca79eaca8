"""The live feed in the browser: a breach reaches the door within a second, and a page that
loses its connection (or the device's), or is reloaded, shows every alert sent meanwhile, once."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, ROOT, App, P, api, offline, screenshot, sign_in
from tests.support import Server

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or, in CI, fail) with the reason
    expect = None

pytestmark = pytest.mark.browser

NEW_BREACH = """() => {
    const card = [...document.querySelectorAll('li.alert[data-breach=true]')]
        .find((e) => !window.__known.has(e.dataset.alertId));
    return card ? {id: card.dataset.alertId, receivedAt: Number(card.dataset.receivedAt)} : null;
}"""


def alert_ids(page: Any) -> list[str]:
    return list(page.locator("li.alert").evaluate_all("cards => cards.map((c) => c.dataset.alertId)"))


def broadcast(server: Server, username: str, texts: list[str], priorities: list[str]) -> None:
    client = api(server, username)
    for text, priority in zip(texts, priorities, strict=True):
        answer = client.post(
            f"/v1/partnerships/{P}/alerts", json={"channel": "main", "priority": priority, "text": text}
        )
        assert answer.status_code == 201, answer.text


def each_once(page: Any, texts: list[str]) -> None:
    for text in texts:
        expect(page.locator("li.alert", has_text=text)).to_have_count(1)
    ids = alert_ids(page)
    assert len(ids) == len(set(ids)), "an alert is shown twice"


def test_a_sighting_of_an_excluded_subject_reaches_the_door_within_a_second(
    app: App, demo: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    door = app.open("door.redlion", PHONE)
    expect(door.locator("#conn")).to_have_text("Live")
    cctv = app.open("cctv", DESKTOP)
    cctv.get_by_role("link", name="Sighting").click()
    cctv.get_by_label("Who").select_option(label="Dean Marsh (Deano)")
    cctv.get_by_label("Where").select_option("red-lion")
    cctv.get_by_label("Camera or spotter").fill("Camera 12, High St")
    door.evaluate("(ids) => { window.__known = new Set(ids); }", alert_ids(door))

    started = cctv.evaluate("Date.now()")
    cctv.get_by_role("button", name="Post sighting").click()
    # The page wait is generous; the delay itself is measured and reported below.
    shown = door.wait_for_function(NEW_BREACH, timeout=5000).json_value()
    delay_ms = shown["receivedAt"] - started
    with capsys.disabled():
        print(f"\nbreach: sighting posted → breach shown on the door's page in {delay_ms} ms")
    out = ROOT / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    (out / "breach-delay.json").write_text(json.dumps({"breach_delay_ms": delay_ms}) + "\n")

    card = door.locator(f"li.alert[data-alert-id='{shown['id']}']")
    expect(card).to_have_attribute("data-priority", "urgent")
    expect(card.locator(".badge.breach")).to_have_text("Exclusion breach")
    expect(card.locator(".alert-text")).to_contain_text("Exclusion breach at The Red Lion")
    expect(card.locator(".alert-subject")).to_contain_text("Dean Marsh")
    door.wait_for_function(
        "(id) => { const i = document.querySelector(`li.alert[data-alert-id='${id}'] .alert-subject img`);"
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=shown["id"],
    )
    assert door.evaluate("window.hub.alarm.played") >= 1  # sound and vibration for an urgent alert
    # Not for the Vault's door: Dean was seen at the Red Lion.
    vault = api(demo, "door.vault").get(f"/v1/partnerships/{P}/alerts").json()
    assert shown["id"] not in {a["alert_id"] for a in vault}

    door.evaluate("document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
    screenshot(door, "live-feed-phone.png")


def test_a_lost_connection_resumes_with_every_alert_sent_meanwhile_once(app: App, demo: Server) -> None:
    context = app.context(PHONE)
    link: dict[str, Any] = {"up": True, "open": []}

    def through(ws: Any) -> None:
        if not link["up"]:
            ws.close(code=1011, reason="network down")
            return
        link["open"].append(ws.connect_to_server())

    context.route_web_socket(re.compile(r".*/v1/live$"), through)
    page = app.open("door.redlion", context=context)
    conn = page.locator("#conn")
    expect(conn).to_have_text("Live")

    link["up"] = False  # the network between the phone and the hub goes
    for server_side in link["open"]:
        server_side.close()
    expect(conn).to_have_text(re.compile("Reconnecting…"))

    texts = [f"Sent while the door was cut off, {n}, {uuid.uuid4().hex[:6]}" for n in range(3)]
    broadcast(demo, "cctv", texts, ["routine", "urgent", "emergency"])
    for text in texts:
        expect(page.locator("li.alert", has_text=text)).to_have_count(0)

    link["up"] = True
    expect(conn).to_have_text("Live", timeout=20_000)
    each_once(page, texts)
    after = f"Sent after the resume, {uuid.uuid4().hex[:6]}"
    broadcast(demo, "pcso", [after], ["routine"])
    each_once(page, [*texts, after])


def test_a_device_that_goes_offline_and_back_shows_what_was_sent_meanwhile_once(
    app: App, demo: Server
) -> None:
    context = app.context(PHONE)
    page = app.open("door.vault", context=context)
    conn = page.locator("#conn")
    expect(conn).to_have_text("Live")
    context.set_offline(True)
    expect(conn).to_have_text(offline(0))
    texts = [f"While the phone was offline, {n}, {uuid.uuid4().hex[:6]}" for n in range(2)]
    broadcast(demo, "cctv", texts, ["urgent", "routine"])
    context.set_offline(False)
    expect(conn).to_have_text("Live")
    each_once(page, texts)


def test_a_reload_resumes_from_the_positions_kept_on_the_device(app: App, demo: Server) -> None:
    context = app.context(PHONE)
    page = app.open("door.redlion", context=context)
    expect(page.locator("#conn")).to_have_text("Live")
    seen = set(alert_ids(page))
    page.close()  # the app is closed…

    texts = [f"Sent while the app was closed, {n}, {uuid.uuid4().hex[:6]}" for n in range(2)]
    broadcast(demo, "cctv", texts, ["routine", "urgent"])

    page = app.page(context)  # …and opened again: no sign-in, the feed resumes
    page.goto("/")
    expect(page.locator("#conn")).to_have_text("Live")
    each_once(page, texts)
    assert seen <= set(alert_ids(page))
    head = api(demo, "door.redlion").get("/v1/me").json()["partnerships"][0]["position"]
    page.wait_for_function(f"() => window.hub.live.positions['{P}'] === {head}")
    stored = page.evaluate("JSON.parse(localStorage.getItem('hub.live.door.redlion'))")
    assert stored["positions"][P] == head


def test_the_app_keeps_its_token_fresh_and_hands_it_to_the_live_socket(app: App) -> None:
    """A shift outlasts the hour a token lives: before it ends the app gets a fresh one and
    sends it on the live socket, which the hub would otherwise close when the first expires."""
    page = app.page(app.context(PHONE))
    page.clock.install()
    sent: list[str] = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto("/")
    sign_in(page, "door.redlion")
    until(page, lambda: any('"op":"hello"' in frame for frame in sent), "the hello")
    first = page.evaluate("JSON.parse(localStorage.getItem('hub.session')).token")
    page.wait_for_timeout(1100)  # a token made in another second differs from the first
    page.clock.fast_forward("51:00")
    until(page, lambda: any('"op":"token"' in frame for frame in sent), "a fresh token on the socket")
    fresh = page.evaluate("JSON.parse(localStorage.getItem('hub.session')).token")
    assert fresh != first
    assert any(fresh in frame for frame in sent if '"op":"token"' in frame)
    expect(page.locator("#conn")).to_have_text("Live")


def until(page: Any, predicate: Any, what: str, timeout: float = 10) -> None:
    """Wait while Playwright delivers the page's events (a plain sleep would hold them)."""
    for _ in range(int(timeout * 10)):
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")
