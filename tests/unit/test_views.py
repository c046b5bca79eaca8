"""Projections folded from hand-made envelopes; snapshots; who sees which live frame."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from hub.bootstrap import Hub
from projections import snapshots
from projections.audience import Audience, Viewer, audience
from projections.live import Broadcaster, Subscription, frame, ws_frame
from projections.views import PartnershipView, active_exclusions, apply, fold

P = "north"
SEALED = {"key": "s1", "ct": "c2VhbGVk"}
COORD = {"user": "coord", "role": "coordinator"}
DOOR = {"user": "door.pub", "role": "door_staff"}


class Script:
    """Envelopes for one partnership, with positions and times in order."""

    def __init__(self, p: str = P) -> None:
        self.p = p
        self.events: list[dict[str, Any]] = []

    def __call__(self, type: str, actor: dict[str, str] | None = None, **data: Any) -> dict[str, Any]:
        n = len(self.events) + 1
        envelope = {
            "id": f"{n:032x}",
            "type": type,
            "schema_version": 1,
            "partnership": self.p,
            "stream": type.split(".")[0],
            "stream_version": n,
            "position": n,
            "occurred_at": f"2026-03-01T21:{n // 60:02d}:{n % 60:02d}.000000Z",
            "recorded_at": f"2026-03-01T21:{n // 60:02d}:{n % 60:02d}.500000Z",
            "actor": actor or COORD,
            "command_id": f"c{n}",
            "correlation_id": f"c{n}",
            "causation_id": None,
            "data": data,
            "hash": f"{n:064x}",
        }
        self.events.append(envelope)
        return envelope

    def at(self, position: int) -> str:
        return str(self.events[position - 1]["occurred_at"])

    def view(self) -> PartnershipView:
        return fold(self.p, self.events)


def set_up(s: Script) -> None:
    s("partnership.registered", id=P, name="North BCRP", retention_days=400)
    s("channel.opened", channel="main", name="Main net")
    s("venue.added", venue_id="pub", name="The Pub", kind="night_time")
    s("venue.added", venue_id="club", name="The Club", kind="night_time")
    s("venue.added", venue_id="shop", name="The Shop", kind="retail")
    s("member.enrolled", username="door.pub", role="door_staff", venue="pub", password_hash="$argon2$secret")
    s("member.enrolled", username="coord", role="coordinator", venue=None, password_hash="$argon2$secret")


def subject(s: Script, subject_id: str = "s1", id_sought: bool = False) -> None:
    s(
        "subject.registered",
        subject_id=subject_id,
        id_sought=id_sought,
        personal={**SEALED, "key": subject_id},
    )


# -- the partnership ------------------------------------------------------------------------------


def test_partnership_set_up() -> None:
    s = Script()
    set_up(s)
    s("venue.changed", venue_id="club", name="The Night Club", kind=None)
    s("venue.removed", venue_id="shop")
    s("channel.opened", channel="night", name="Night net")
    s("member.access_revoked", username="door.pub")
    view = s.view()
    assert view.name == "North BCRP" and view.retention_days == 400
    assert view.venues == {
        "pub": {"id": "pub", "name": "The Pub", "kind": "night_time"},
        "club": {"id": "club", "name": "The Night Club", "kind": "night_time"},
    }
    assert view.channels == {"main": "Main net", "night": "Night net"}
    assert view.members["door.pub"]["active"] is False
    assert view.members["coord"] == {
        "username": "coord",
        "role": "coordinator",
        "venue": None,
        "active": True,
        "password_hash": "$argon2$secret",
        "enrolled_at": s.at(7),
    }
    assert view.position == len(s.events)
    assert view.counts["venue.added"] == 3


def test_apply_sets_the_position_and_counts_unknown_types_without_failing() -> None:
    view = PartnershipView(P)
    s = Script()
    returned = apply(view, s("something.new", x=1))
    assert returned is view
    assert view.position == 1
    assert view.counts == {"something.new": 1}


# -- alerts and the radio log ----------------------------------------------------------------------


def alert(s: Script, alert_id: str, actor: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "alert_id": alert_id,
        "channel": "main",
        "priority": "urgent",
        "text": f"alert {alert_id}",
        "venue": None,
        "location": None,
        "subject_id": None,
        "breach_of": None,
        **extra,
    }
    return s("alert.broadcast", actor or DOOR, **body)


def test_alerts_with_acknowledgements_and_their_end() -> None:
    s = Script()
    set_up(s)
    alert(s, "a1", venue="pub", location="door")
    alert(s, "a2")
    alert(s, "a3")
    s("alert.acknowledged", alert_id="a1", user="cctv")
    s("alert.acknowledged", alert_id="a1", user="pcso")
    s("alert.resolved", alert_id="a1", note="dealt with")
    s("alert.cancelled", alert_id="a2", note=None)
    view = s.view()
    a1 = view.alerts["a1"]
    assert a1["status"] == "resolved"
    assert a1["closed_note"] == "dealt with"
    assert a1["acknowledgements"] == [{"user": "cctv", "at": s.at(11)}, {"user": "pcso", "at": s.at(12)}]
    assert a1["posted_by"] == "door.pub"
    assert a1["posted_at"] == s.at(8)
    assert a1["position"] == 8
    assert a1["venue"] == "pub" and a1["location"] == "door" and a1["priority"] == "urgent"
    assert view.alerts["a2"]["status"] == "cancelled"
    assert view.alerts["a2"]["acknowledgements"] == []
    assert view.alerts["a3"]["status"] == "active"


def test_the_radio_log_keeps_broadcast_order() -> None:
    s = Script()
    set_up(s)
    ids = ["z", "a", "m", "b", "y"]
    for i, alert_id in enumerate(ids):
        alert(s, alert_id)
        if i % 2:
            s("alert.acknowledged", alert_id=ids[0], user=f"u{i}")
    view = s.view()
    assert list(view.alerts) == ids
    positions = [a["position"] for a in view.alerts.values()]
    assert positions == sorted(positions)


def test_an_alert_about_a_subject_counts_as_their_activity() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    alert(s, "a1", subject_id="s1")
    view = s.view()
    assert view.subjects["s1"]["last_activity_at"] == s.at(9)


# -- incidents and sightings --------------------------------------------------------------------------


def test_incidents() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    subject(s, "s2")
    s(
        "incident.reported",
        DOOR,
        incident_id="i1",
        category="theft",
        venue="pub",
        occurred_at="2026-03-01T20:00:00.000000Z",
        description="took a bottle",
        loss_value=12.5,
        subject_ids=["s1"],
    )
    s(
        "incident.subject_linked",
        incident_id="i1",
        subject_id="s2",
        venue="pub",
        occurred_at="2026-03-01T20:00Z",
    )
    s("incident.crime_reference_recorded", incident_id="i1", crime_reference="CR/123/26")
    s("incident.closed", incident_id="i1", outcome="banned")
    view = s.view()
    incident = view.incidents["i1"]
    assert incident["subject_ids"] == ["s1", "s2"]
    assert incident["reported_by"] == "door.pub"
    assert incident["reported_at"] == s.at(10)
    assert incident["crime_reference"] == "CR/123/26"
    assert incident["status"] == "closed" and incident["outcome"] == "banned"
    assert incident["loss_value"] == 12.5 and incident["category"] == "theft"
    assert view.subjects["s1"]["last_activity_at"] == s.at(10)
    assert view.subjects["s2"]["last_activity_at"] == s.at(11)


def test_an_incident_report_does_not_share_its_subject_list_with_the_event() -> None:
    s = Script()
    set_up(s)
    e = s(
        "incident.reported",
        incident_id="i1",
        category="asb",
        venue="pub",
        occurred_at="2026-03-01T20:00:00.000000Z",
        description="noise",
        loss_value=0,
        subject_ids=[],
    )
    s("incident.subject_linked", incident_id="i1", subject_id="s9", venue="pub", occurred_at="x")
    s.view()
    assert e["data"]["subject_ids"] == []


def test_sightings() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s(
        "sighting.recorded",
        {"user": "cctv", "role": "cctv_operator"},
        sighting_id="g1",
        subject_id="s1",
        venue="pub",
        seen_at="2026-03-01T20:00:00.000000Z",
        camera="12",
        note="by the door",
        still_id="st1",
    )
    view = s.view()
    assert view.sightings["g1"]["recorded_by"] == "cctv"
    assert view.sightings["g1"]["still_id"] == "st1"
    assert view.subjects["s1"]["last_activity_at"] == s.at(9)


# -- subjects ------------------------------------------------------------------------------------------


def test_subjects_photos_identification_and_erasure() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1", id_sought=True)
    s("subject.photo_added", subject_id="s1", photo_id="p1")
    s("subject.photo_added", subject_id="s1", photo_id="p2")
    identified = {"key": "s1", "ct": "bmV3"}
    s("subject.identified", subject_id="s1", personal=identified)
    view = s.view()
    record = view.subjects["s1"]
    assert record["id_sought"] is False
    assert record["personal"] == identified
    assert record["photos"] == ["p1", "p2"]
    assert record["erased"] is False
    assert record["registered_at"] == s.at(8)
    assert record["last_activity_at"] == s.at(11)
    s("subject.erased", subject_id="s1", reason="retention period ended")
    erased = s.view().subjects["s1"]
    assert erased["erased"] is True
    assert erased["personal"] is None
    assert erased["photos"] == ["p1", "p2"]  # ids only, so a late shredding finds their files
    assert erased["erased_at"] == s.at(12)


def test_activity_only_moves_forward() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    view = s.view()
    late = view.subjects["s1"]["last_activity_at"]
    early = Script()
    event = early("subject.photo_added", subject_id="s1", photo_id="p1")
    event["position"] = 99
    apply(view, event)  # occurred before the last activity
    assert view.subjects["s1"]["last_activity_at"] == late


# -- warnings and exclusions ---------------------------------------------------------------------------


def test_warnings() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("warning.issued", warning_id="w1", subject_id="s1", venues=["pub"], reason="r", issued_at="2026-03-01Z")
    s("warning.issued", warning_id="w2", subject_id="s1", venues=[], reason="r", issued_at="2026-03-02Z")
    s("warning.lapsed", warning_id="w1", subject_id="s1")
    view = s.view()
    assert view.warnings["w1"]["lapsed"] is True
    assert view.warnings["w2"]["lapsed"] is False
    assert view.warnings["w2"]["issued_by"] == "coord"
    assert view.subjects["s1"]["last_activity_at"] == s.at(10)


def terms(exclusion_id: str = "x1", venues: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "exclusion_id": exclusion_id,
        "subject_id": "s1",
        "venues": venues if venues is not None else ["pub"],
        "starts_at": "2026-03-01T00:00:00.000000Z",
        "ends_at": "2027-03-01T00:00:00.000000Z",
        "reason": "board decision",
        **extra,
    }


def test_the_exclusions_register_from_proposal_to_revocation() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("exclusion.proposed", {"user": "hub", "role": "system"}, **terms(warnings=["w1", "w2"]))
    assert s.view().exclusions["x1"]["status"] == "proposed"
    assert active_exclusions(s.view(), "2026-06-01T00:00:00.000000Z") == []
    s("exclusion.issued", **terms())
    s("exclusion.served", exclusion_id="x1", subject_id="s1", note="in person")
    s(
        "exclusion.breached",
        DOOR,
        exclusion_id="x1",
        subject_id="s1",
        venue="pub",
        seen_at="2026-04-01T22:00:00.000000Z",
        sighting_id="g1",
        incident_id=None,
    )
    s(
        "exclusion.breached",
        exclusion_id="x1",
        subject_id="s1",
        venue="pub",
        seen_at="2026-04-02T22:00:00.000000Z",
        sighting_id=None,
        incident_id="i1",
    )
    s("exclusion.appealed", exclusion_id="x1", subject_id="s1", note=None)
    view = s.view()
    x1 = view.exclusions["x1"]
    assert x1["status"] == "active"
    assert x1["warnings"] == ["w1", "w2"]  # kept from the proposal
    assert x1["decided_by"] == "coord"
    assert x1["served"] is True and x1["appealed"] is True
    assert x1["breaches"] == [
        {
            "venue": "pub",
            "seen_at": "2026-04-01T22:00:00.000000Z",
            "sighting_id": "g1",
            "incident_id": None,
            "position": 12,
        },
        {
            "venue": "pub",
            "seen_at": "2026-04-02T22:00:00.000000Z",
            "sighting_id": None,
            "incident_id": "i1",
            "position": 13,
        },
    ]
    assert view.subjects["s1"]["last_activity_at"] == s.at(13)
    assert [x["exclusion_id"] for x in active_exclusions(view, "2026-06-01T00:00:00.000000Z")] == ["x1"]
    assert active_exclusions(view, "2026-02-28T00:00:00.000000Z") == []  # not yet begun
    assert active_exclusions(view, "2027-03-01T00:00:00.000000Z") == []  # ended
    s("exclusion.revoked", exclusion_id="x1", subject_id="s1", note="appeal upheld")
    view = s.view()
    assert view.exclusions["x1"]["status"] == "revoked"
    assert len(view.exclusions["x1"]["breaches"]) == 2
    assert active_exclusions(view, "2026-06-01T00:00:00.000000Z") == []


def test_an_exclusion_expires() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("exclusion.issued", **terms(venues=[]))
    s("exclusion.expired", {"user": "hub", "role": "system"}, exclusion_id="x1", subject_id="s1", note=None)
    view = s.view()
    assert view.exclusions["x1"]["status"] == "expired"
    assert view.exclusions["x1"]["venues"] == []
    assert active_exclusions(view, "2026-06-01T00:00:00.000000Z") == []


# -- snapshots ------------------------------------------------------------------------------------------


def rich() -> Script:
    s = Script()
    set_up(s)
    subject(s, "s1")
    subject(s, "s2", id_sought=True)
    s("subject.photo_added", subject_id="s1", photo_id="p1")
    alert(s, "a1", venue="pub")
    s("alert.acknowledged", alert_id="a1", user="coord")
    s("exclusion.issued", **terms())
    s(
        "exclusion.breached",
        exclusion_id="x1",
        subject_id="s1",
        venue="pub",
        seen_at="2026-04-01T22:00:00.000000Z",
        sighting_id="g1",
        incident_id=None,
    )
    s("warning.issued", warning_id="w1", subject_id="s2", venues=[], reason="r", issued_at="2026-03-01Z")
    s(
        "incident.reported",
        incident_id="i1",
        category="fraud",
        venue="shop",
        occurred_at="2026-03-01T20:00:00.000000Z",
        description="d",
        loss_value=3.25,
        subject_ids=["s1"],
    )
    s("subject.erased", subject_id="s2", reason="asked")
    return s


def test_a_snapshot_round_trip_gives_equal_views(tmp_path: Path) -> None:
    north = rich().view()
    south = Script("south")
    set_up(south)
    views = {"north": north, "south": south.view()}
    path = tmp_path / "snapshot.json"
    snapshots.save(path, views)
    loaded = snapshots.load(path)
    assert set(loaded) == {"north", "south"}
    for p, view in views.items():
        assert loaded[p].to_dict() == view.to_dict()
        assert loaded[p].position == view.position
    assert type(loaded["north"].counts).__name__ == "Counter"
    loaded["north"].counts["x"] += 1  # still a Counter
    assert not path.with_suffix(".tmp").exists()


def test_a_snapshot_is_encoded_in_small_pieces_that_make_one_document(tmp_path: Path) -> None:
    """A long history is not encoded in one body as large as itself each time it is saved
    (found by bench/soak.py: the hub grew by a step at every minute's save); the pieces,
    a few records each for the big collections, join into the document `load` reads."""
    s = rich()
    for k in range(1_000):
        alert(s, f"a{k}")
    views = {P: s.view(), "south": PartnershipView("south")}
    pieces = snapshots.pieces(views)
    assert sum(map(len, pieces)) > 200_000
    assert max(len(piece) for piece in pieces) < 50_000
    whole = {"format": snapshots.FORMAT, "views": {p: v.to_dict() for p, v in views.items()}}
    assert orjson.loads(b"".join(pieces)) == orjson.loads(orjson.dumps(whole))
    path = tmp_path / "snapshot.json"
    snapshots.save(path, views)
    assert snapshots.load(path)[P].to_dict() == views[P].to_dict()


def test_a_snapshot_saved_aside_while_serving_loads_as_the_views_were(tmp_path: Path) -> None:
    """The API's and the worker's minute saves: encoded on the loop, written in a thread."""
    s = rich()
    views = {P: s.view()}
    serving = cast(Any, SimpleNamespace(snapshot_path=tmp_path / "snapshot.json", views=views))
    asyncio.run(Hub.save_snapshot_aside(serving))
    assert snapshots.load(tmp_path / "snapshot.json")[P].to_dict() == views[P].to_dict()


def test_a_loaded_snapshot_folds_on_like_the_original(tmp_path: Path) -> None:
    s = rich()
    half = len(s.events) // 2
    path = tmp_path / "snapshot.json"
    snapshots.save(path, {P: fold(P, s.events[:half])})
    view = snapshots.load(path)[P]
    for e in s.events[half:]:
        apply(view, e)
    assert view.to_dict() == s.view().to_dict()


@pytest.mark.parametrize(
    "content",
    [None, b"", b"{not json", orjson.dumps({"format": 999, "views": {}}), orjson.dumps({"views": {}})],
)
def test_an_unusable_snapshot_loads_as_nothing(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "snapshot.json"
    if content is not None:
        path.write_bytes(content)
    assert snapshots.load(path) == {}


@pytest.mark.parametrize(
    "content",
    [
        {"format": 1},
        {"format": 1, "views": {"north": {"id": "north", "field_from_a_newer_version": 1}}},
        {"format": 1, "views": {"north": {}}},
        [1, 2, 3],
    ],
)
def test_a_snapshot_of_the_wrong_shape_loads_as_nothing(tmp_path: Path, content: Any) -> None:
    """Start-up must fall back to a full replay, not crash, on a snapshot it cannot read."""
    path = tmp_path / "snapshot.json"
    path.write_bytes(orjson.dumps(content))
    assert snapshots.load(path) == {}


# -- live frames: who sees what ------------------------------------------------------------------------


def viewer(role: str, venue: str | None = None, partnerships: tuple[str, ...] = (P,)) -> Viewer:
    return Viewer(f"{role}@{venue}", role, frozenset(partnerships), venue)


EVERYONE = {
    "door_pub": viewer("door_staff", "pub"),
    "door_club": viewer("door_staff", "club"),
    "retail_shop": viewer("retail_staff", "shop"),
    "retail_pub": viewer("retail_staff", "pub"),
    "cctv": viewer("cctv_operator", "control"),
    "police": viewer("police"),
    "coordinator": viewer("coordinator"),
    "auditor": viewer("auditor"),
    "admin": viewer("admin"),
}


def who(view: PartnershipView, event: dict[str, Any]) -> set[str]:
    seen_by: Audience = audience(view, event)
    return {name for name, v in EVERYONE.items() if seen_by.admits(v)}


def applied(s: Script) -> PartnershipView:
    return s.view()


def test_a_breach_alert_goes_to_that_venues_staff_and_the_control_room_only() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    e = alert(s, "b1", {"user": "hub", "role": "system"}, venue="pub", subject_id="s1", breach_of="x1")
    view = applied(s)
    assert who(view, e) == {"door_pub", "retail_pub", "cctv", "police", "coordinator"}
    ack = s("alert.acknowledged", alert_id="b1", user="door.pub")
    resolved = s("alert.resolved", alert_id="b1", note=None)
    view = applied(s)
    assert (
        who(view, ack) == who(view, resolved) == {"door_pub", "retail_pub", "cctv", "police", "coordinator"}
    )


def test_a_plain_alert_goes_to_every_receiver_and_never_to_auditors_or_admins() -> None:
    s = Script()
    set_up(s)
    e = alert(s, "a1", venue="club")
    assert who(applied(s), e) == set(EVERYONE) - {"auditor", "admin"}


def test_breaches_incidents_and_sightings_go_to_their_venue_and_the_control_room() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("exclusion.issued", **terms(venues=[]))
    breach = s(
        "exclusion.breached",
        exclusion_id="x1",
        subject_id="s1",
        venue="club",
        seen_at="2026-04-01T22:00:00.000000Z",
        sighting_id="g1",
        incident_id=None,
    )
    incident = s(
        "incident.reported",
        incident_id="i1",
        category="theft",
        venue="shop",
        occurred_at="2026-03-01T20:00:00.000000Z",
        description="d",
        loss_value=0,
        subject_ids=[],
    )
    closed = s("incident.closed", incident_id="i1", outcome="done")
    sighting = s(
        "sighting.recorded",
        sighting_id="g2",
        subject_id="s1",
        venue="pub",
        seen_at="2026-03-01T20:00:00.000000Z",
        camera=None,
        note="",
        still_id=None,
    )
    view = applied(s)
    control = {"cctv", "police", "coordinator"}
    assert who(view, breach) == control | {"door_club"}
    assert who(view, incident) == who(view, closed) == control | {"retail_shop"}
    assert who(view, sighting) == control | {"door_pub", "retail_pub"}


def test_exclusion_notices_go_to_the_venues_in_scope() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    narrow = s("exclusion.issued", **terms("x1", venues=["club"]))
    wide = s("exclusion.issued", **terms("x2", venues=[]))
    revoked = s("exclusion.revoked", exclusion_id="x1", subject_id="s1", note=None)
    appealed = s("exclusion.appealed", exclusion_id="x2", subject_id="s1", note=None)
    view = applied(s)
    control = {"cctv", "police", "coordinator"}
    assert who(view, narrow) == who(view, revoked) == control | {"door_club"}
    assert who(view, wide) == control | {"door_pub", "door_club", "retail_shop", "retail_pub"}
    assert who(view, appealed) == {"coordinator"}


def test_subject_warning_and_set_up_events_go_to_the_coordinator_only() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("warning.issued", warning_id="w1", subject_id="s1", venues=["pub"], reason="r", issued_at="2026-03-01Z")
    s("subject.erased", subject_id="s1", reason="asked")
    view = applied(s)
    for e in s.events:
        assert who(view, e) == {"coordinator"}, e["type"]


def rendered(s: Script) -> list[str]:
    return [frame(e) for e in s.events]


def test_frames_never_carry_personal_data_or_password_hashes() -> None:
    s = rich()
    s("subject.identified", subject_id="s1", personal={"key": "s1", "ct": "c2VjcmV0"})
    for text, e in zip(rendered(s), s.events, strict=True):
        assert "personal" not in text
        assert "password_hash" not in text
        assert "argon2" not in text
        assert "c2VhbGVk" not in text and "c2VjcmV0" not in text
        message = orjson.loads(text)
        assert message["op"] == "event"
        assert message["partnership"] == P
        assert message["position"] == e["position"]
        assert message["type"] == e["type"]
        assert message["actor"] == e["actor"]["user"]


def test_broadcasting_reaches_only_the_partnerships_subscribers_allowed_to_see() -> None:
    s = Script()
    set_up(s)
    live = Broadcaster()
    subs = {name: Subscription(v, limit=10) for name, v in EVERYONE.items()}
    elsewhere = Subscription(viewer("coordinator", partnerships=("south",)), limit=10)
    for sub in [*subs.values(), elsewhere]:
        live.add(sub)
    e = alert(s, "b1", venue="pub", breach_of="x1")
    live.publish(applied(s), e)
    got = {name for name, sub in subs.items() if sub.frames}
    assert got == {"door_pub", "retail_pub", "cctv", "police", "coordinator"}
    assert not elsewhere.frames
    partnership, position, text = subs["police"].frames[0]
    assert (partnership, position) == (P, e["position"])
    assert text is subs["cctv"].frames[0][2]  # encoded once, shared
    live.remove(subs["police"])
    assert live.count() == len(subs)


def test_a_subscriber_that_falls_behind_is_marked_and_others_are_not() -> None:
    s = Script()
    set_up(s)
    live = Broadcaster()
    slow = Subscription(viewer("police"), limit=2)
    quick = Subscription(viewer("cctv_operator"), limit=100)
    live.add(slow)
    live.add(quick)
    for i in range(5):
        live.publish(applied(s), alert(s, f"a{i}"))
    assert slow.overflowed and slow.fell_behind.is_set()
    assert len(slow.frames) == 2
    assert not quick.overflowed and len(quick.frames) == 5


def test_events_flushed_together_reach_an_idle_socket_in_one_write_and_others_by_outbox() -> None:
    s = Script()
    set_up(s)
    live = Broadcaster()
    writes: list[bytes] = []
    idle = Subscription(viewer("police"), limit=10, direct=lambda data: writes.append(data) is None)
    idle.live = True
    busy = Subscription(viewer("cctv_operator"), limit=10, direct=lambda data: False)
    busy.live = True
    for sub in (idle, busy):
        live.add(sub)
    first, second = alert(s, "a1"), alert(s, "a2")
    live.queue(applied(s), first)
    live.queue(applied(s), second)
    assert not writes and not busy.frames  # nothing leaves before the flush
    live.flush()
    assert writes == [ws_frame(frame(first)) + ws_frame(frame(second))]
    assert idle.last[P] == second["position"] and not idle.frames
    assert [position for _, position, _ in busy.frames] == [first["position"], second["position"]]
    live.flush()  # nothing queued: nothing sent again
    assert len(writes) == 1


def test_a_revoked_members_socket_gets_nothing_flushed_with_its_revocation() -> None:
    """Kafka API nodes and group commits publish several events at once: a revocation and
    the alert after it reach the Broadcaster in one flush."""
    s = Script()
    set_up(s)
    live = Broadcaster()
    writes: dict[str, list[bytes]] = {"leaving": [], "staying": []}
    door = Viewer("door.pub", "door_staff", frozenset({P}), "pub")
    viewers = {"leaving": door, "staying": viewer("police")}
    subs = {
        name: Subscription(v, limit=10, direct=lambda data, name=name: writes[name].append(data) is None)
        for name, v in viewers.items()
    }
    for sub in subs.values():
        sub.live = True
        live.add(sub)
    for event in (s("member.access_revoked", username="door.pub"), alert(s, "after")):
        live(applied(s), event)  # the reaction, as the publisher runs it before queueing
        live.queue(applied(s), event)
    live.flush()
    assert subs["leaving"].ended == "access revoked"
    assert writes["leaving"] == [] and not subs["leaving"].frames
    assert len(writes["staying"]) == 1 and b"alert after" in writes["staying"][0]


def test_after_a_long_flush_of_several_events_the_next_waits_and_takes_all_that_came_meanwhile() -> None:
    s = Script()
    set_up(s)

    async def scenario() -> None:
        live = Broadcaster()
        writes: list[bytes] = []
        idle = Subscription(viewer("police"), limit=10, direct=lambda data: writes.append(data) is None)
        idle.live = True
        live.add(idle)
        live.resting_until = time.monotonic() + 0.1  # as after a long flush of several events
        first, second = alert(s, "r1"), alert(s, "r2")
        live.queue(applied(s), first)
        live.flush()
        live.queue(applied(s), second)
        live.flush()
        assert not writes  # resting: both wait
        await asyncio.sleep(0.3)
        assert writes == [ws_frame(frame(first)) + ws_frame(frame(second))]
        third = alert(s, "r3")
        live.queue(applied(s), third)
        live.flush()  # a quick flush of one event: no rest after it, nothing waits
        assert writes[-1] == ws_frame(frame(third))

    asyncio.run(scenario())
