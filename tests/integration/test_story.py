"""The whole story, through a real `hub serve`, httpx and the real websockets client.

A coordinator registers a subject with a photo and excludes them from a pub; CCTV sees
them there; the pub's door staff, the control room and police get the breach live and
acknowledge it; clients resume across disconnects and a restart; a reader that never
reads is cut off without slowing anyone; the subject is exported, then erased, and the
hash chain still verifies; warnings escalate; exclusions expire by themselves; retries
with an Idempotency-Key write nothing twice.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support import (
    Collector,
    Live,
    Server,
    create,
    event_frames,
    head_positions,
    hub_verify,
    make_admin,
    post_many,
    set_up_partnership,
)

P = "story"
V = f"{P}-pub"
CLUB = f"{P}-club"
BREACH_TYPES = ("exclusion.breached", "alert.broadcast")


@dataclass
class Story:
    data: Path
    server: Server
    users: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    def token(self, role: str) -> str:
        if role not in self.tokens:
            self.tokens[role] = self.server.token(self.users[role])
        return self.tokens[role]

    def client(self, role: str) -> httpx.Client:
        client = httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {self.token(role)}"}, timeout=30
        )
        self.clients.append(client)
        return client

    def live(self, role: str, since: dict[str, int] | None = None) -> Live:
        live = Live(self.server, self.token(role), since)
        assert live.welcome.get("op") == "welcome", live.welcome
        return live

    def head(self) -> int:
        return head_positions(self.server, self.token("coordinator"))[P]

    def alert(self, role: str, text: str, **more: Any) -> dict[str, Any]:
        return create(self.client(role), f"/v1/partnerships/{P}/alerts", {"text": text, **more})


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    data = tmp_path_factory.mktemp("story")
    make_admin(data)
    server = Server(data).start()
    try:
        admin = server.login("admin")
        users = set_up_partnership(admin, P)
        admin.close()
        story = Story(data, server, users)
        yield story
        for client in story.clients:
            client.close()
    finally:
        server.stop()


def jpeg_with_exif(size: tuple[int, int] = (900, 600)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0], 40):  # some structure, so it is a real picture
        for y in range(size[1]):
            image.putpixel((x, y), (10, 10, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Ltd"  # Make
    exif[0x0110] = "Model-GPS-9000"  # Model
    exif[0x0131] = "exif-marker-software"  # Software
    exif[0x010E] = "subject photographed at 12 High St"  # ImageDescription
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    raw = out.getvalue()
    assert Image.open(io.BytesIO(raw)).getexif().get(0x010F) == "SecretCam Ltd"
    return raw


@pytest.fixture(scope="module")
def excluded(story: Story) -> dict[str, Any]:
    """Step 1: a subject, with a photo carrying EXIF, excluded from the pub."""
    coordinator = story.client("coordinator")
    subject = create(
        coordinator,
        f"/v1/partnerships/{P}/subjects",
        {"name": "Dan Example", "aliases": ["Danny X"], "description": "tall, red cap, scar on chin"},
    )
    subject_id = subject["id"]
    assert subject["positions"], subject
    answer = coordinator.post(
        f"/v1/partnerships/{P}/subjects/{subject_id}/photos",
        files={"image": ("dan.jpg", jpeg_with_exif(), "image/jpeg")},
    )
    assert answer.status_code == 201, answer.text
    photo_id = answer.json()["id"]
    exclusion = create(
        coordinator,
        f"/v1/partnerships/{P}/exclusions",
        {"subject_id": subject_id, "kind": "exclusion", "venues": [V], "reason": "violence at the door"},
    )
    return {"subject_id": subject_id, "photo_id": photo_id, "exclusion_id": exclusion["id"]}


# -- 1. register, photo, exclude ---------------------------------------------------------------


def test_subject_registered_with_a_clean_photo_and_excluded(story: Story, excluded: dict[str, Any]) -> None:
    coordinator = story.client("coordinator")
    subject_id, photo_id = excluded["subject_id"], excluded["photo_id"]
    shown = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["name"] == "Dan Example"
    assert shown.json()["photos"] == [photo_id]

    full = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}/photos/{photo_id}?size=full")
    assert full.status_code == 200, full.text
    assert full.headers["content-type"].startswith("image/jpeg")
    image = Image.open(io.BytesIO(full.content))
    assert image.format == "JPEG"
    assert image.size == (900, 600)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    for marker in (b"Exif\x00", b"SecretCam", b"Model-GPS", b"exif-marker-software", b"High St"):
        assert marker not in full.content, marker

    thumb = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}/photos/{photo_id}?size=thumb")
    assert thumb.status_code == 200, thumb.text
    small = Image.open(io.BytesIO(thumb.content))
    assert max(small.size) <= 256
    assert dict(small.getexif()) == {}
    assert b"SecretCam" not in thumb.content

    # The door staff at the pub see the exclusion in their gallery; the club's do not.
    gallery = story.client("door_staff").get(f"/v1/partnerships/{P}/exclusions")
    assert gallery.status_code == 200, gallery.text
    mine = [x for x in gallery.json() if x["exclusion_id"] == excluded["exclusion_id"]]
    assert len(mine) == 1
    assert mine[0]["status"] == "active"
    assert mine[0]["venues"] == [V]
    assert mine[0]["subject"]["name"] == "Dan Example"
    club = story.client("door_staff_club").get(f"/v1/partnerships/{P}/exclusions")
    assert club.status_code == 200, club.text
    assert excluded["exclusion_id"] not in [x["exclusion_id"] for x in club.json()]


# -- 2. a sighting breaches the exclusion; the right people hear of it ------------------------


def _is_breach(frame: dict[str, Any], exclusion_id: str) -> bool:
    return (
        frame.get("op") == "event"
        and frame["type"] == "exclusion.breached"
        and (frame["data"].get("exclusion_id") == exclusion_id)
    )


def _is_breach_alert(frame: dict[str, Any], exclusion_id: str) -> bool:
    return (
        frame.get("op") == "event"
        and frame["type"] == "alert.broadcast"
        and (frame["data"].get("breach_of") == exclusion_id)
    )


@pytest.fixture(scope="module")
def breach(story: Story, excluded: dict[str, Any]) -> dict[str, Any]:
    """Step 2: live sockets open, CCTV posts a sighting at the pub, frames are collected."""
    since = {P: story.head()}
    door = story.live("door_staff", since)
    club = story.live("door_staff_club", since)
    police = story.live("police", since)
    cctv = story.live("cctv_operator", since)
    sighting = create(
        story.client("cctv_operator"),
        f"/v1/partnerships/{P}/sightings",
        {"subject_id": excluded["subject_id"], "venue": V, "camera": "cam 12, High St", "note": "red cap"},
    )
    x = excluded["exclusion_id"]
    got: dict[str, list[dict[str, Any]]] = {}
    for name, live in (("door", door), ("police", police), ("cctv", cctv)):
        got[name] = live.frames_until(lambda f: _is_breach_alert(f, x), timeout=10)
    got["club"] = club.drain(1.0)
    for live in (club, police, cctv):
        live.close()
    return {"sighting": sighting, "frames": got, "door": door}


def test_breach_reaches_the_venue_control_room_and_police_only(
    story: Story, excluded: dict[str, Any], breach: dict[str, Any]
) -> None:
    x = excluded["exclusion_id"]
    frames = breach["frames"]
    for name in ("door", "police", "cctv"):
        events = event_frames(frames[name])
        kinds = [f["type"] for f in events if _is_breach(f, x) or _is_breach_alert(f, x)]
        assert kinds == ["exclusion.breached", "alert.broadcast"], (name, kinds)
        positions = [f["position"] for f in events]
        assert positions == sorted(set(positions)), (name, positions)
        alert = next(f for f in events if _is_breach_alert(f, x))
        assert alert["data"]["venue"] == V
        assert alert["data"]["subject_id"] == excluded["subject_id"]
        assert alert["data"]["priority"] in ("urgent", "emergency")
        for f in events:  # frames never carry personal data
            assert "personal" not in f["data"]
            assert "Dan Example" not in json.dumps(f)
    club = event_frames(frames["club"])
    assert not [f for f in club if _is_breach(f, x) or _is_breach_alert(f, x)], club
    assert not [f for f in club if f["type"].startswith("sighting.")], club

    # The breach is on the exclusion, and the breach alert is in the radio log.
    coordinator = story.client("coordinator")
    listed = coordinator.get(f"/v1/partnerships/{P}/exclusions", params={"status": "all"}).json()
    record = next(e for e in listed if e["exclusion_id"] == x)
    assert [b["sighting_id"] for b in record["breaches"]] == [breach["sighting"]["id"]]


# -- 3. door staff acknowledge the breach alert over the socket --------------------------------


def _ack(live: Live, alert_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    live.connection.send(json.dumps({"op": "ack", "alert_id": alert_id}))
    frames = live.frames_until(lambda f: f.get("op") in ("acked", "error"), timeout=10)
    return frames[-1], frames[:-1]


def test_door_staff_acknowledge_the_breach_alert_once(
    story: Story, excluded: dict[str, Any], breach: dict[str, Any]
) -> None:
    x = excluded["exclusion_id"]
    door: Live = breach["door"]
    alert_id = next(f for f in breach["frames"]["door"] if _is_breach_alert(f, x))["data"]["alert_id"]
    try:
        reply, _ = _ack(door, alert_id)
        assert reply["op"] == "acked", reply
        assert reply["alert_id"] == alert_id
        assert reply["partnership"] == P
        assert len(reply["positions"]) == 1
        again, _ = _ack(door, alert_id)
        assert again["op"] == "acked", again
        assert again["positions"] == []
    finally:
        door.close()

    active = story.client("door_staff").get(f"/v1/partnerships/{P}/alerts", params={"active": "true"})
    assert active.status_code == 200, active.text
    mine = [a for a in active.json() if a["alert_id"] == alert_id]
    assert len(mine) == 1, active.json()
    acks = mine[0]["acknowledgements"]
    assert [a["user"] for a in acks] == [story.users["door_staff"]], acks
    assert mine[0]["breach_of"] == x
    # The club's door staff do not see the pub's breach alert at all.
    club = story.client("door_staff_club").get(f"/v1/partnerships/{P}/alerts", params={"active": "true"})
    assert alert_id not in [a["alert_id"] for a in club.json()]


# -- 4. resume after a disconnect ----------------------------------------------------------------


def _read_until_position(live: Live, position: int, timeout: float = 10) -> list[dict[str, Any]]:
    frames = live.frames_until(lambda f: f.get("op") == "event" and f["position"] >= position, timeout)
    return frames + live.drain(0.5)


def _positions(frames: list[dict[str, Any]]) -> list[int]:
    return [f["position"] for f in event_frames(frames) if f["partnership"] == P]


def test_resume_after_disconnect_has_no_gap_and_no_duplicate(story: Story) -> None:
    start = {P: story.head()}
    stayed = Collector(story.live("door_staff", start))
    mover = story.live("door_staff", start)
    try:
        first = [story.alert("cctv_operator", f"resume before {i}") for i in range(3)]
        seen = _read_until_position(mover, first[-1]["positions"][-1])
        last = _positions(seen)[-1]
        mover.close()
        meanwhile = [story.alert("police", f"resume meanwhile {i}", priority="urgent") for i in range(6)]
        back = story.live("door_staff", {P: last})
        assert back.welcome["positions"][P] >= meanwhile[-1]["positions"][-1]
        after = _read_until_position(back, meanwhile[-1]["positions"][-1])
        back.close()
        stayed.wait_for_position(P, meanwhile[-1]["positions"][-1])
        time.sleep(0.3)
    finally:
        stayed.stop()

    got = _positions(after)
    assert got == sorted(set(got)), got  # increasing, no duplicates
    assert all(p > last for p in got), (last, got)
    reference = stayed.positions(P)
    assert reference == sorted(set(reference)), reference
    assert got == [p for p in reference if p > last]
    assert _positions(seen) + got == reference  # before + after the disconnect: everything, once
    assert got == [a["positions"][0] for a in meanwhile]


# -- 5. resume across a server restart -----------------------------------------------------------


def test_resume_across_a_restart_has_no_gap_and_no_duplicate(story: Story) -> None:
    start = {P: story.head()}
    client = story.live("door_staff", start)
    before = [story.alert("cctv_operator", f"restart before {i}") for i in range(3)]
    seen = _read_until_position(client, before[-1]["positions"][-1])
    last = _positions(seen)[-1]
    client.close()
    missed = [story.alert("cctv_operator", f"restart missed {i}") for i in range(3)]

    # A phone that stays connected while the server stops: it is told, and the stop is clean.
    connected = story.live("door_staff", {P: story.head()})
    stopping = time.time()
    story.server.stop()  # SIGTERM (uvicorn re-raises it after a graceful shutdown: exit -15)
    try:
        assert story.server.process is not None
        assert story.server.process.returncode in (0, -15), (
            f"hub serve did not stop cleanly on SIGTERM with a live socket open "
            f"(exit {story.server.process.returncode}; -9 means it had to be killed)"
        )
        snapshot = story.data / "snapshot.json"
        assert snapshot.exists() and snapshot.stat().st_mtime >= stopping - 1, "no snapshot saved on stop"
        with pytest.raises(ConnectionClosed):
            connected.drain(2)
        connected.close()
    finally:
        story.server.start()  # same data folder, same port

    later = [story.alert("police", f"restart after {i}") for i in range(3)]
    back = story.live("door_staff", {P: last})
    after = _read_until_position(back, later[-1]["positions"][-1])
    back.close()
    got = _positions(after)
    expected = [a["positions"][0] for a in missed + later]
    assert got == expected, (last, got, expected)

    # A client that starts over from where this test began sees the same history, once.
    fresh = story.live("door_staff", start)
    everything = _positions(_read_until_position(fresh, later[-1]["positions"][-1]))
    fresh.close()
    assert everything == _positions(seen) + got
    assert everything == sorted(set(everything))


# -- 8. subject access export, before erasure ----------------------------------------------------


def test_subject_access_export_contains_the_personal_data(
    story: Story, excluded: dict[str, Any], breach: dict[str, Any]
) -> None:
    coordinator = story.client("coordinator")
    subject_id = excluded["subject_id"]
    answer = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}/export")
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["subject"]["name"] == "Dan Example"
    assert export["subject"]["aliases"] == ["Danny X"]
    assert export["subject"]["description"] == "tall, red cap, scar on chin"
    assert export["subject"]["photos"] == [excluded["photo_id"]]
    assert export["subject"]["erased"] is False
    assert [x["exclusion_id"] for x in export["exclusions"]] == [excluded["exclusion_id"]]
    assert [s["sighting_id"] for s in export["sightings"]] == [breach["sighting"]["id"]]
    assert any(a.get("breach_of") == excluded["exclusion_id"] for a in export["alerts"])
    types = [e["type"] for e in export["events"]]
    assert "subject.registered" in types and "exclusion.issued" in types and "exclusion.breached" in types
    # Only a coordinator may export.
    denied = story.client("police").get(f"/v1/partnerships/{P}/subjects/{subject_id}/export")
    assert denied.status_code == 403, denied.text


# -- 7. erasure -------------------------------------------------------------------------------------


def test_erasure_hides_the_subject_everywhere_and_the_chain_still_verifies(
    story: Story, excluded: dict[str, Any]
) -> None:
    coordinator = story.client("coordinator")
    subject_id, photo_id = excluded["subject_id"], excluded["photo_id"]
    erased = coordinator.post(f"/v1/partnerships/{P}/subjects/{subject_id}/erase", json={"reason": "request"})
    assert erased.status_code == 201, erased.text

    shown = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}")
    assert shown.status_code == 200, shown.text
    subject = shown.json()
    assert subject["erased"] is True
    assert subject["name"] is None and subject["aliases"] == [] and subject["description"] == ""
    assert subject["photos"] == []

    for size in ("full", "thumb"):
        photo = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}/photos/{photo_id}?size={size}")
        assert photo.status_code == 404, photo.text
    assert not list((story.data / "photos").glob(f"{photo_id}.*"))

    export = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}/export")
    assert export.status_code == 200, export.text
    assert export.json()["subject"]["erased"] is True
    assert "Dan Example" not in export.text
    assert "scar on chin" not in export.text

    gallery = coordinator.get(f"/v1/partnerships/{P}/exclusions", params={"status": "all"})
    assert gallery.status_code == 200, gallery.text
    entry = [x for x in gallery.json() if x["exclusion_id"] == excluded["exclusion_id"]]
    assert len(entry) == 1
    assert entry[0]["subject"]["erased"] is True
    assert entry[0]["subject"]["name"] is None
    assert "Dan Example" not in gallery.text

    listed = coordinator.get(f"/v1/partnerships/{P}/subjects")
    assert "Dan Example" not in listed.text

    auditor = story.client("auditor")
    verified = auditor.get(f"/v1/partnerships/{P}/audit/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()
    assert verified.json()["first_bad_position"] is None
    history = auditor.get(f"/v1/partnerships/{P}/audit/events")
    assert history.status_code == 200
    assert "Dan Example" not in history.text  # sealed in the log, and now unreadable

    # `hub verify` reads the same data folder while the server runs (SQLite WAL allows it).
    result = hub_verify(story.data)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{P}: ok" in result.stdout


# -- 9. a second warning proposes an exclusion; confirming it makes it active ----------------


def _register(story: Story, name: str) -> str:
    body = {"name": name, "aliases": [], "description": "test subject"}
    return str(create(story.client("coordinator"), f"/v1/partnerships/{P}/subjects", body)["id"])


def test_second_warning_within_twelve_months_proposes_an_exclusion(story: Story) -> None:
    coordinator = story.client("coordinator")
    subject_id = _register(story, "Wendy Warned")
    for reason in ("shouting at staff", "shoplifting attempt"):
        create(
            coordinator,
            f"/v1/partnerships/{P}/exclusions",
            {"subject_id": subject_id, "kind": "warning", "venues": [V], "reason": reason},
        )
    warnings = coordinator.get(f"/v1/partnerships/{P}/warnings")
    assert warnings.status_code == 200, warnings.text
    mine = [w for w in warnings.json() if w["subject_id"] == subject_id]
    assert len(mine) == 2 and all(w["live"] for w in mine), mine

    proposed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not proposed and time.monotonic() < deadline:
        answer = coordinator.get(f"/v1/partnerships/{P}/exclusions", params={"status": "proposed"})
        assert answer.status_code == 200, answer.text
        proposed = [x for x in answer.json() if x["subject_id"] == subject_id]
        if not proposed:
            time.sleep(0.1)
    assert len(proposed) == 1, "no exclusion proposed after a second warning"
    assert proposed[0]["status"] == "proposed"
    assert proposed[0]["venues"] == [V]
    exclusion_id = proposed[0]["exclusion_id"]
    # A proposal is not in force: the active gallery does not show it yet.
    active = coordinator.get(f"/v1/partnerships/{P}/exclusions").json()
    assert exclusion_id not in [x["exclusion_id"] for x in active]

    confirmed = coordinator.post(f"/v1/partnerships/{P}/exclusions/{exclusion_id}/confirm")
    assert confirmed.status_code == 201, confirmed.text
    active = coordinator.get(f"/v1/partnerships/{P}/exclusions").json()
    now_active = [x for x in active if x["exclusion_id"] == exclusion_id]
    assert len(now_active) == 1 and now_active[0]["status"] == "active", active
    door = story.client("door_staff").get(f"/v1/partnerships/{P}/exclusions").json()
    assert exclusion_id in [x["exclusion_id"] for x in door]
    again = coordinator.post(f"/v1/partnerships/{P}/exclusions/{exclusion_id}/confirm")
    assert again.status_code == 409, again.text


# -- 10. exclusions expire by themselves -------------------------------------------------------


def test_exclusion_expires_without_anyone_acting(story: Story) -> None:
    coordinator = story.client("coordinator")
    subject_id = _register(story, "Eddie Expiring")
    ends_at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    exclusion_id = create(
        coordinator,
        f"/v1/partnerships/{P}/exclusions",
        {"subject_id": subject_id, "kind": "exclusion", "venues": [], "ends_at": ends_at, "reason": "short"},
    )["id"]
    status = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = coordinator.get(f"/v1/partnerships/{P}/exclusions", params={"status": "all"})
        assert answer.status_code == 200, answer.text
        status = next(x for x in answer.json() if x["exclusion_id"] == exclusion_id)["status"]
        if status == "expired":
            break
        time.sleep(0.25)
    assert status == "expired", f"exclusion still {status} 15 s after it was issued with a 3 s term"
    active = coordinator.get(f"/v1/partnerships/{P}/exclusions").json()
    assert exclusion_id not in [x["exclusion_id"] for x in active]

    # An expired exclusion raises no breach: the subject may come back. (CCTV no longer
    # sees them in the gallery; the coordinator, who sees every subject, records it.)
    police = story.live("police", {P: story.head()})
    sighting = create(
        story.client("coordinator"),
        f"/v1/partnerships/{P}/sightings",
        {"subject_id": subject_id, "venue": V, "camera": "cam 3", "note": "back again"},
    )
    frames = _read_until_position(police, sighting["positions"][-1]) + police.drain(1.0)
    police.close()
    assert not [f for f in event_frames(frames) if f["type"] == "exclusion.breached"], frames
    assert not [f for f in event_frames(frames) if f["data"].get("breach_of") == exclusion_id], frames

    history = story.client("auditor").get(
        f"/v1/partnerships/{P}/audit/events", params={"type": "exclusion.expired"}
    )
    expiries = [json.loads(line) for line in history.text.splitlines() if line]
    mine = [e for e in expiries if e["data"]["exclusion_id"] == exclusion_id]
    assert len(mine) == 1, mine  # once, however many ticks saw it due
    assert mine[0]["actor"]["role"] == "system"


# -- 11. Idempotency-Key ---------------------------------------------------------------------------


def test_idempotency_key_makes_a_retry_write_nothing(story: Story) -> None:
    cctv = story.client("cctv_operator")
    body = {"text": "IDEMPOTENT white van, no plates, High St", "priority": "urgent"}
    headers = {"Idempotency-Key": "radio-42-retry"}
    first = cctv.post(f"/v1/partnerships/{P}/alerts", json=body, headers=headers)
    second = cctv.post(f"/v1/partnerships/{P}/alerts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["positions"] == first.json()["positions"]
    alerts = cctv.get(f"/v1/partnerships/{P}/alerts", params={"limit": 5000}).json()
    assert [a["alert_id"] for a in alerts if a["text"] == body["text"]] == [first.json()["id"]]
    history = story.client("auditor").get(
        f"/v1/partnerships/{P}/audit/events", params={"type": "alert.broadcast"}
    )
    texts = [json.loads(line)["data"]["text"] for line in history.text.splitlines() if line]
    assert texts.count(body["text"]) == 1


# -- 6. a client that does not read ------------------------------------------------------------

# 10,000 queued frames is the server's limit (api/live.py OUTBOX_LIMIT). Reaching it through
# HTTP takes 10,000+ posts on top of what the kernel buffers hold: about a minute at the
# ~300 alerts/s one 2-core machine manages here. So this test runs its own server with
# HUB_OUTBOX_LIMIT lowered: the product must read that variable.
OUTBOX_LIMIT = 300
TEXT_BYTES = 1494  # random, so permessage-deflate cannot shrink it: ~2 KB per frame


def _flood_size() -> int:
    """Enough frames to fill the server's socket send buffer and then the outbox."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 1024 * 1024
    return max(3_000, wmem_max // 2_000 + OUTBOX_LIMIT + 600)


def _non_reader(server: Server, token: str, since: dict[str, int]) -> Any:
    """A raw websockets client with a tiny receive buffer that sends hello and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    # No compression (frames keep their size), no keepalive pings of its own (it could not
    # read the pongs), and a small queue: it stops reading from the socket almost at once.
    connection = connect(
        server.ws_url, sock=sock, open_timeout=10, max_queue=4, compression=None, ping_interval=None
    )
    connection.send(json.dumps({"op": "hello", "token": token, "since": since}))
    return connection


def test_a_client_that_does_not_read_is_closed_and_slows_nobody(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("flood")
    make_admin(data)
    server = Server(data, env={"HUB_OUTBOX_LIMIT": str(OUTBOX_LIMIT)})
    server.start()
    collectors: list[Collector] = []
    try:
        admin = server.login("admin")
        users = set_up_partnership(admin, "flood")
        admin.close()
        tokens = {role: server.token(users[role]) for role in ("door_staff", "police", "cctv_operator")}
        since = {"flood": head_positions(server, tokens["police"])["flood"]}
        stuck = _non_reader(server, tokens["door_staff"], since)
        collectors = [Collector(Live(server, tokens[r], since)) for r in ("door_staff", "police")]

        flood = _flood_size()
        bodies = [
            {"text": f"{i:05d} " + base64.b64encode(os.urandom(TEXT_BYTES)).decode(), "priority": "routine"}
            for i in range(flood)
        ]
        answers = post_many(server, tokens["cctv_operator"], "/v1/partnerships/flood/alerts", bodies, 4)
        expected = sorted(a["positions"][0] for a in answers)
        assert len(expected) == flood
        for collector in collectors:
            collector.wait_for_position("flood", expected[-1], timeout=60)
            assert collector.closed is None, collector.closed
            got = collector.positions("flood")
            assert got == expected, f"a reading client missed or repeated frames: {len(got)} of {flood}"

        # Now the stuck client reads at last: whatever was already on its way, then a close.
        frames: list[dict[str, Any]] = []
        code = None
        try:
            while True:
                frames.append(json.loads(stuck.recv(timeout=5)))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            pass
        stuck.close()
        seen = [f["position"] for f in event_frames(frames)]
        print(f"non-reading client: {len(seen)} frames, then close code {code}")
        assert len(seen) < flood, (
            f"never cut off: it got every one of the {flood} frames, so its outbox never passed "
            f"{OUTBOX_LIMIT} frames (does the server read HUB_OUTBOX_LIMIT? api/live.py OUTBOX_LIMIT)"
        )
        assert code == 1013, f"expected close 1013 (try again later), got {code} after {len(seen)} frames"
        assert seen == expected[: len(seen)], "what it did get must be in order, with no gap"

        # It resumes from the last position it saw and gets the rest, exactly once.
        last = seen[-1] if seen else since["flood"]
        back = Collector(Live(server, tokens["door_staff"], {"flood": last}))
        collectors.append(back)
        back.wait_for_position("flood", expected[-1], timeout=60)
        assert back.positions("flood") == [p for p in expected if p > last]
    finally:
        for collector in collectors:
            collector.stop()
        server.stop()


def test_a_device_signs_in_once_with_an_enrolment_code(story: Story) -> None:
    """A coordinator issues a one-time code for a member's handheld: it signs in once."""
    server = story.server
    coordinator = server.login(story.users["coordinator"])
    username = story.users["police"]
    answer = coordinator.post(f"/v1/partnerships/{P}/members/{username}/enrolment-code", json={"hours": 2})
    assert answer.status_code == 201, answer.text
    code = answer.json()["code"]
    first = httpx.post(server.url + "/v1/auth/token", data={"username": username, "password": code})
    assert first.status_code == 200, first.text
    assert first.json()["token_type"] == "bearer"
    again = httpx.post(server.url + "/v1/auth/token", data={"username": username, "password": code})
    assert again.status_code == 401
    door = server.login(story.users["door_staff"])
    assert door.post(f"/v1/partnerships/{P}/members/{username}/enrolment-code").status_code == 403
    events = server.login(story.users["auditor"]).get(
        f"/v1/partnerships/{P}/audit/events", params={"type": "member"}
    )
    assert code not in events.text, "only a sealed hash of the code is kept"
