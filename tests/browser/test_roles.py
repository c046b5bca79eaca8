"""Each role's main path through the web app, end to end, against a real `hub serve`."""

from __future__ import annotations

import io
import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image

from hub.demo import portrait
from tests.browser.conftest import DESKTOP, PASSWORD, App, P, api, screenshot
from tests.support import Server

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or, in CI, fail) with the reason
    expect = None

pytestmark = pytest.mark.browser


def png(colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """A drawn head-and-shoulders (as the demo's), as PNG: no real person's likeness."""
    image = Image.open(io.BytesIO(portrait("JT", colour)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tag() -> str:
    return uuid.uuid4().hex[:8]


def images_loaded(page: Any, selector: str) -> None:
    page.wait_for_function(
        """(selector) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=selector,
    )


# What each demo member's nav shows, in order: the web app works it out from the
# capabilities `/v1/me` lists (`can`), with no copy of the role matrix of its own.
SECTIONS = {
    "door.redlion": ["live", "gallery", "report"],
    "shop.pharmacy": ["live", "gallery", "report"],
    "cctv": ["live", "gallery", "report", "sighting"],
    "pcso": ["live", "gallery", "report", "sighting"],
    "coordinator": ["live", "gallery", "report", "sighting", "subjects", "exclusions", "members", "timeline"],
    "auditor": ["timeline", "verify", "asof", "gallery"],
    "admin": ["partnerships", "members"],
}


def test_each_role_sees_the_sections_its_capabilities_open(app: App) -> None:
    for username, sections in SECTIONS.items():
        page = app.open(username, DESKTOP)
        links = page.locator("#nav a")
        expect(links).to_have_count(len(sections))
        assert links.evaluate_all("links => links.map((a) => a.dataset.section)") == sections, username
        expect(page.locator(f".view[data-view={sections[0]}]")).to_be_visible()
        page.context.close()


def test_door_staff_feed_ack_broadcast_gallery_report(app: App, demo: Server) -> None:
    page = app.open("door.redlion")
    expect(page.locator("#conn")).to_have_text("Live")
    expect(page.get_by_role("heading", name="Live feed")).to_be_visible()

    # The live feed: the demo's urgent alert, labelled in words as well as colour.
    urgent = page.locator("li.alert", has_text="Group of four refused entry")
    expect(urgent).to_have_attribute("data-priority", "urgent")
    expect(urgent.locator(".badge.prio")).to_have_text("Urgent")
    urgent.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(urgent.locator(".acks")).to_have_text("Acknowledged by door.redlion")
    expect(urgent.locator("button.ack")).to_have_text("Acknowledged ✓")
    alert_id = urgent.get_attribute("data-alert-id")
    coordinator = api(demo, "coordinator")
    alerts = coordinator.get(f"/v1/partnerships/{P}/alerts").json()
    acked = next(a for a in alerts if a["alert_id"] == alert_id)
    assert [a["user"] for a in acked["acknowledgements"]] == ["door.redlion"]

    # Broadcast an alert: it comes back on the socket into the feed, once.
    text = f"Man with a glass bottle outside, {tag()}"
    page.get_by_text("Broadcast an alert").click()
    page.get_by_label("Urgent").check()
    page.get_by_label("Message").fill(text)
    page.get_by_label("Location (optional)").fill("Bridge Street door")
    page.get_by_role("button", name="Send alert").click()
    mine = page.locator("li.alert", has_text=text)
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-priority", "urgent")
    expect(mine).to_contain_text("The Red Lion · Bridge Street door")

    # The gallery: those excluded from the Red Lion, with photos, searchable.
    page.get_by_role("link", name="Gallery").click()
    people = page.locator(".gallery li.person")
    expect(people).to_have_count(2)
    expect(people.filter(has_text="Dean Marsh")).to_contain_text("The Red Lion, Vault Nightclub")
    expect(people.filter(has_text="Sam Petrie")).to_contain_text("all member venues")
    images_loaded(page, ".gallery img.photo")
    page.get_by_label("Search by name or description").fill("grey beard")
    expect(people).to_have_count(1)
    expect(people).to_contain_text("Sam Petrie")
    page.get_by_label("Search by name or description").fill("deano")
    expect(people).to_have_count(1)
    expect(people).to_contain_text("Dean Marsh")

    # Report an incident (a refused entry).
    page.get_by_role("link", name="Report").click()
    details = f"Refused entry, drunk and abusive, {tag()}"
    page.get_by_label("What happened").select_option("refused_entry")
    page.get_by_label("Details").fill(details)
    page.get_by_role("button", name="Send report").click()
    expect(page.locator(".records li", has_text=details)).to_have_count(1)
    expect(page.locator(".outbox-item[data-status=sent]", has_text=details[:40])).to_have_count(1)
    incidents = coordinator.get(f"/v1/partnerships/{P}/incidents").json()
    found = [i for i in incidents if i["description"] == details]
    assert len(found) == 1 and found[0]["venue"] == "red-lion" and found[0]["category"] == "refused_entry"


def test_retail_staff_gallery_is_their_shops_scope(app: App) -> None:
    page = app.open("shop.pharmacy")
    page.get_by_role("link", name="Gallery").click()
    people = page.locator(".gallery li.person")
    expect(people).to_have_count(1)
    expect(people).to_contain_text("Sam Petrie")
    expect(page.locator("#gallery-count")).to_have_text("1 active exclusion")


def test_cctv_id_sought_sighting_with_still_and_an_alert_resolved(app: App, demo: Server) -> None:
    page = app.open("cctv", DESKTOP)
    page.get_by_role("link", name="Sighting").click()
    note = f"Tall, blue cap, grey holdall, {tag()}"
    expect(page.get_by_label("Who")).to_have_value("")  # unknown person: an ID-sought image
    page.get_by_label("Where").select_option("grocer")
    page.get_by_label("Camera or spotter").fill("Camera 7, Market Square")
    page.get_by_label("Note").fill(note)
    page.get_by_label("Still image (optional)").set_input_files(
        {"name": "still.png", "mimeType": "image/png", "buffer": png()}
    )
    expect(page.get_by_alt_text("Preview of the still image")).to_be_visible()
    page.get_by_role("button", name="Post sighting").click()
    posted = page.locator(".records li", has_text=note)
    expect(posted).to_have_count(1)
    expect(posted).to_contain_text("Market Square Grocer")
    images_loaded(page, ".records li img.thumb")
    sightings = api(demo, "cctv").get(f"/v1/partnerships/{P}/sightings").json()
    mine = [s for s in sightings if s["note"] == note]
    assert len(mine) == 1 and mine[0]["still_id"]

    # Broadcast an emergency on the net, then resolve it.
    page.get_by_role("link", name="Live").click()
    text = f"Fight in progress, Market Square, {tag()}"
    page.get_by_label("Emergency").check()
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send alert").click()
    card = page.locator("li.alert", has_text=text)
    expect(card).to_have_attribute("data-priority", "emergency")
    expect(card.locator(".badge.prio")).to_have_text("Emergency")
    card.get_by_role("button", name="Resolve").click()
    expect(card).to_have_count(0)  # closed alerts leave the feed…
    page.get_by_label("Show closed").check()
    expect(card).to_have_attribute("data-status", "resolved")  # …and show when asked
    expect(card.locator(".status")).to_have_text("Resolved")


def test_police_sighting_of_an_excluded_subject_and_a_crime_reference(app: App) -> None:
    page = app.open("pcso")
    expect(page.locator("#conn")).to_have_text("Live")
    before = page.locator("li.alert[data-breach=true]").count()
    page.get_by_role("link", name="Sighting").click()
    page.get_by_label("Who").select_option(label="Sam Petrie (Sammy P)")
    page.get_by_label("Where").select_option("grocer")
    page.get_by_label("Camera or spotter").fill("PCSO on foot")
    page.get_by_role("button", name="Post sighting").click()
    page.get_by_role("link", name="Live").click()
    # Sam is excluded from every member venue: the breach reaches police too.
    breaches = page.locator("li.alert[data-breach=true]", has_text="Market Square Grocer")
    expect(page.locator("li.alert[data-breach=true]")).to_have_count(before + 1)
    expect(breaches.first.locator(".badge.breach")).to_have_text("Exclusion breach")
    expect(breaches.first.locator(".alert-subject")).to_contain_text("Sam Petrie")

    page.get_by_role("link", name="Report").click()
    theft = page.locator(".records li", has_text="Two fragrance gift sets")
    reference = f"KB/{tag()}"
    theft.get_by_label("Crime reference").fill(reference)
    theft.get_by_role("button", name="Record").click()
    expect(page.locator(".records li", has_text="Two fragrance gift sets")).to_contain_text(
        f"crime ref {reference}"
    )


def test_coordinator_subjects_warnings_exclusions_members_venues(app: App, demo: Server) -> None:
    page = app.open("coordinator", DESKTOP)
    name = f"Jordan Test {tag()}"

    # A subject with a photo.
    page.get_by_role("link", name="Subjects").click()
    page.get_by_text("Register a subject").click()
    form = page.get_by_role("form", name="Register a subject")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Also known as").fill("JT, Jordy")
    form.get_by_label("Description").fill("Male, about 20, black puffer jacket")
    form.get_by_label("Photo").set_input_files({"name": "jt.png", "mimeType": "image/png", "buffer": png()})
    form.get_by_role("button", name="Register subject").click()
    card = page.locator("li.person", has_text=name)
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Also known as JT, Jordy")
    images_loaded(page, f"li.person[data-subject-id='{card.get_attribute('data-subject-id')}'] img.photo")

    # Two warnings within 12 months propose an exclusion; the coordinator confirms it.
    card.get_by_role("link", name="Warn or exclude").click()
    expect(page.get_by_role("heading", name="Warnings and exclusions")).to_be_visible()
    for n in (1, 2):
        page.get_by_label("Reason").fill(f"Shop theft, yellow card {n}")
        page.get_by_role("button", name="Issue", exact=True).click()
        expect(page.locator("ul[aria-label=Warnings] li", has_text=name)).to_have_count(n)
        if n == 1:
            page.get_by_label("Subject").select_option(label=name)
    item = page.locator("ul[aria-label=Exclusions] li", has_text=name)
    expect(item).to_have_attribute("data-status", "proposed")
    item.get_by_role("button", name="Confirm exclusion").click()
    expect(item).to_have_attribute("data-status", "active")
    item.get_by_role("button", name="Mark served").click()
    expect(item).to_contain_text("served")
    expect(item.get_by_role("button", name="Mark served")).to_have_count(0)
    expect(item).to_contain_text("Appeal possible from")  # six months after the start
    item.get_by_role("button", name="Revoke").click()
    expect(item).to_have_attribute("data-status", "revoked")

    # An exclusion issued directly, scoped to one venue, begun seven months ago: appealable.
    page.get_by_label("Subject").select_option(label=name)
    page.get_by_label("Exclusion notice (board decision)").check()
    page.get_by_label("The Red Lion").check()
    page.get_by_label("Starts").fill((date.today() - timedelta(days=213)).isoformat())
    page.get_by_label("Reason").fill("Assault on door staff; board decision")
    page.get_by_role("button", name="Issue", exact=True).click()
    scoped = page.locator("ul[aria-label=Exclusions] li[data-status=active]", has_text=name)
    expect(scoped).to_have_count(1)
    expect(scoped).to_contain_text("The Red Lion ·")
    scoped.get_by_role("button", name="Record appeal").click()
    expect(scoped).to_contain_text("appealed")
    expect(page.locator("#exclusion-error")).to_be_empty()
    page.goto("/#/subjects")
    page.goto("/#/exclusions")
    expect(page.locator("ul[aria-label=Exclusions] li", has_text=name)).to_have_count(2)
    images_loaded(page, "ul[aria-label=Exclusions] img.thumb")
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    screenshot(page, "coordinator.png")

    # Members and venues.
    page.get_by_role("link", name="Members & venues").click()
    venue = f"v-{tag()}"
    page.get_by_text("Add a venue").click()
    page.get_by_label("Venue id").fill(venue)
    page.get_by_label("Name", exact=True).fill(f"The Swan {venue}")
    page.get_by_label("Kind").select_option("night_time")
    page.get_by_role("button", name="Add venue").click()
    expect(page.locator("ul[aria-label=Venues] li", has_text=f"The Swan {venue}")).to_have_count(1)
    username = f"door.{tag()}"
    page.get_by_text("Enrol a member").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Role").select_option("door_staff")
    page.get_by_label("Venue", exact=True).select_option(venue)
    page.get_by_role("button", name="Enrol member").click()
    row = page.locator(f"tr[data-username='{username}']")
    expect(row).to_contain_text(f"The Swan {venue}")
    assert api(demo, username).get("/v1/me").json()["venue"] == venue
    row.get_by_role("button", name=f"Revoke access for {username}").click()
    expect(row).to_contain_text("Revoked")


def test_auditor_timeline_filters_verify_as_of_and_erasure(app: App, demo: Server) -> None:
    coordinator = api(demo, "coordinator")
    erased_name = f"Erin Erasable {tag()}"
    answer = coordinator.post(
        f"/v1/partnerships/{P}/subjects", json={"name": erased_name, "description": "to be erased"}
    )
    assert answer.status_code == 201, answer.text
    subject_id = answer.json()["id"]
    answer = coordinator.post(f"/v1/partnerships/{P}/subjects/{subject_id}/erase", json={"reason": "request"})
    assert answer.status_code == 201, answer.text

    page = app.open("auditor", DESKTOP)
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    status = page.locator("#timeline-status")
    expect(status).to_have_text(re.compile(r"^\d+ events$"))
    rows = page.locator("table.timeline tbody tr")

    page.get_by_label("Type").fill("alert.broadcast")
    page.get_by_role("button", name="Show events").click()
    expect(status).to_contain_text("matching the filters")
    assert rows.count() >= 2
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.type)")) == {"alert.broadcast"}

    page.get_by_label("Type").fill("")
    page.get_by_label("Actor").fill("shop.pharmacy")
    page.get_by_role("button", name="Show events").click()
    # the click sets "Loading…" at once: the rows below are the new query's, not the last one's
    expect(status).to_contain_text("matching the filters")
    expect(rows.first).to_contain_text("shop.pharmacy (retail staff)")
    assert all("shop.pharmacy" in t for t in rows.locator("td:nth-child(5)").all_inner_texts())

    page.get_by_label("Actor").fill("")
    page.get_by_label("Stream").fill(f"subject-{subject_id}")
    page.get_by_role("button", name="Show events").click()
    expect(status).to_have_text("2 events matching the filters")
    expect(rows).to_have_count(2)  # registered, erased: the events stay…
    expect(rows.nth(0)).to_contain_text("personal data erased")  # …the personal data does not
    expect(rows.nth(0).locator(".erased-badge")).to_have_text("Subject erased")
    expect(rows.nth(1)).to_have_attribute("data-type", "subject.erased")
    expect(page.locator("table.timeline")).not_to_contain_text(erased_name)

    page.get_by_label("Stream").fill("")
    page.get_by_label("From (time)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Show events").click()
    expect(status).to_have_text("0 events matching the filters")

    page.get_by_role("link", name="Verify").click()
    page.get_by_role("button", name="Verify the log").click()
    expect(page.locator("#verify-result .verdict")).to_have_text(
        re.compile(r"✓ Intact: all \d+ events verified")
    )

    page.get_by_role("link", name="As of").click()
    page.get_by_label("Or at position").fill("8")
    page.get_by_role("button", name="Show the state").click()
    result = page.locator("#asof-result")
    expect(result.locator(".asof-head")).to_contain_text("position 8")
    expect(result.get_by_role("heading", name="Venues (5)")).to_be_visible()
    expect(result.get_by_role("heading", name="Subjects (0)")).to_be_visible()
    page.get_by_label("Or at position").fill("")
    page.get_by_label("As of (your local time)").fill("")  # empty: now
    page.get_by_role("button", name="Show the state").click()
    expect(result.locator(".asof-head")).to_contain_text("as of now")
    erased = result.locator(f"li[data-subject-id='{subject_id}']")
    expect(erased).to_contain_text("Erased")
    expect(result).not_to_contain_text(erased_name)

    page.get_by_role("link", name="Gallery").click()
    expect(page.locator(".gallery li.person").first).to_be_visible()


def test_admin_registers_a_partnership_with_a_venue_and_a_coordinator(app: App, demo: Server) -> None:
    page = app.open("admin", DESKTOP)
    pid = f"t{tag()}"
    expect(page.get_by_role("heading", name="Partnerships")).to_be_visible()
    page.get_by_label("Partnership id").fill(pid)
    page.get_by_label("Name").fill(f"Harbour Town {pid}")
    page.get_by_role("button", name="Register partnership").click()
    listed = page.locator(f"li[data-partnership='{pid}']")
    expect(listed).to_contain_text(f"Harbour Town {pid}")
    listed.get_by_role("button", name=f"Members and venues of Harbour Town {pid}").click()
    expect(page.locator(".view-head")).to_contain_text(f"Harbour Town {pid}")

    page.get_by_text("Add a venue").click()
    page.get_by_label("Venue id").fill("quay")
    page.get_by_label("Name", exact=True).fill("The Quay Bar")
    page.get_by_role("button", name="Add venue").click()
    expect(page.locator("ul[aria-label=Venues] li", has_text="The Quay Bar")).to_have_count(1)

    username = f"coord.{pid}"
    page.get_by_text("Enrol a member").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Role").select_option("coordinator")
    page.get_by_role("button", name="Enrol member").click()
    expect(page.locator(f"tr[data-username='{username}']")).to_contain_text("Coordinator")
    me = api(demo, username).get("/v1/me").json()
    assert me["role"] == "coordinator" and [x["id"] for x in me["partnerships"]] == [pid]
