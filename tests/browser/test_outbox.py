"""The offline outbox on a handheld: what is posted offline is queued on the device, shown
as queued, kept across a reload, and sent once, in order, when the connection returns;
a retry after a lost answer never writes twice (one Idempotency-Key per queued item)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.browser.conftest import PHONE, App, P, api, offline
from tests.support import Server

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or, in CI, fail) with the reason
    expect = None

pytestmark = pytest.mark.browser


def report(page: Any, text: str, category: str = "asb", venue: str = "red-lion") -> None:
    page.get_by_label("What happened").select_option(category)
    page.get_by_label("Venue").select_option(venue)
    page.get_by_label("Details").fill(text)
    page.get_by_role("button", name="Send report").click()


def logged(server: Server, texts: list[str]) -> list[dict[str, Any]]:
    """incident.reported events in the log whose description is one of `texts`, in log order."""
    answer = api(server, "auditor").get(
        f"/v1/partnerships/{P}/audit/events", params={"type": "incident.reported"}
    )
    assert answer.status_code == 200, answer.text
    events = [json.loads(line) for line in answer.text.splitlines() if line]
    return [e for e in events if e["data"]["description"] in texts]


def test_reports_made_offline_are_queued_and_sent_once_in_order(app: App, demo: Server) -> None:
    context = app.context(PHONE)
    page = app.open("pcso", context=context)
    conn = page.locator("#conn")
    expect(conn).to_have_text("Live")
    # The service worker holds the app shell, so the app opens again without a network.
    page.wait_for_function("navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)")
    page.get_by_role("link", name="Report").click()

    context.set_offline(True)
    expect(conn).to_have_text(offline(0))
    first = f"First, while offline: youths throwing bottles, {uuid.uuid4().hex[:6]}"
    second = f"Second, while offline: same group at the bus station, {uuid.uuid4().hex[:6]}"
    report(page, first)
    report(page, second)
    queued = page.locator(".outbox-item[data-status=queued]")
    expect(queued).to_have_count(2)
    expect(queued.nth(0)).to_contain_text(first[:40])
    expect(queued.nth(1)).to_contain_text(second[:40])
    expect(conn).to_have_text(offline(2))

    # Still offline: reloading the app keeps the queue (IndexedDB) and the session.
    page.reload()
    expect(page.locator(".view[data-view=report]")).to_be_visible()
    expect(page.locator(".outbox-item[data-status=queued]")).to_have_count(2)
    expect(conn).to_have_text(offline(2))
    assert logged(demo, [first, second]) == []

    context.set_offline(False)
    expect(page.locator(".outbox-item[data-status=queued]")).to_have_count(0)
    expect(page.locator(".outbox-item[data-status=sent]", has_text=first[:40])).to_have_count(1)
    expect(page.locator(".outbox-item[data-status=sent]", has_text=second[:40])).to_have_count(1)
    expect(conn).to_have_text("Live")

    events = logged(demo, [first, second])
    assert [e["data"]["description"] for e in events] == [first, second], "each once, in order"
    assert events[0]["position"] < events[1]["position"]
    assert {e["actor"]["user"] for e in events} == {"pcso"}
    assert all(e["command_id"].startswith("pcso:") for e in events)  # sent with an Idempotency-Key


def test_a_retry_after_a_lost_answer_does_not_write_twice(app: App, demo: Server) -> None:
    # Service workers off: page.route must see the app's own requests.
    context = app.context(PHONE, service_workers="block")
    page = app.open("door.vault", context=context)
    keys: list[str | None] = []

    def lose_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            answer = route.fetch()  # the hub gets it and writes the incident…
            assert answer.status == 201
            route.abort("connectionreset")  # …but the answer never reaches the phone
        else:
            route.continue_()

    page.route(f"**/v1/partnerships/{P}/incidents", lose_first_answer)
    page.get_by_role("link", name="Report").click()
    text = f"Glass thrown at the door, {uuid.uuid4().hex[:6]}"
    report(page, text, "violence", "vault")
    expect(page.locator(".outbox-item[data-status=sent]", has_text=text[:40])).to_have_count(1)
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    assert len(logged(demo, [text])) == 1
