"""A view's memory is bounded: done records beyond `KEEP` of each kind leave it, what must
outlive them (each subject's records and stills, the statistics' counts, who may see what
follows) stays, and a fold with `bounded=False` (an auditor's view as of a moment) keeps all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.photos import PhotoStore
from hub.privacy.shredder import Shredder
from projections.audience import at_venues, audience
from projections.views import KEEP, VENUE_KEEP, fold
from tests.unit.test_views import DOOR, P, Script, alert, set_up, subject, who

CONTROL = {"cctv", "police", "coordinator"}


def report(s: Script, incident_id: str, venue: str = "pub", **extra: Any) -> dict[str, Any]:
    body = {
        "incident_id": incident_id,
        "category": "theft",
        "venue": venue,
        "occurred_at": "2026-03-01T20:00:00.000000Z",
        "description": "took a bottle",
        "loss_value": 2.5,
        "subject_ids": [],
        **extra,
    }
    return s("incident.reported", DOOR, **body)


def sighting(
    s: Script, sighting_id: str, subject_id: str | None = "s1", still: str | None = None, venue: str = "pub"
) -> None:
    s(
        "sighting.recorded",
        {"user": "cctv", "role": "cctv_operator"},
        sighting_id=sighting_id,
        subject_id=subject_id,
        venue=venue,
        seen_at="2026-03-01T20:00:00.000000Z",
        camera="12",
        note="",
        still_id=still,
    )


def test_done_records_beyond_keep_leave_memory_oldest_first_and_active_ones_stay() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    alert(s, "urgent-open")
    for n in range(KEEP + 10):
        alert(s, f"a{n}")
        s("alert.resolved", alert_id=f"a{n}", note=None, venue=None, breach_of=None)
        report(s, f"i{n}")
        s("incident.closed", incident_id=f"i{n}", outcome="done", venue="pub")
        sighting(s, f"g{n}")
    report(s, "open-incident")
    view = s.view()
    assert "urgent-open" in view.alerts and "open-incident" in view.incidents
    assert [k for k in view.alerts if k != "urgent-open"] == [f"a{n}" for n in range(10, KEEP + 10)]
    assert [k for k in view.incidents if k != "open-incident"] == [f"i{n}" for n in range(10, KEEP + 10)]
    assert list(view.sightings) == [f"g{n}" for n in range(10, KEEP + 10)]
    assert {window: len(done) for window, done in view.done.items()} == {
        "alerts": KEEP,
        "incidents": KEEP,
        "incidents@pub": VENUE_KEEP,
        "sightings": KEEP,
        "sightings@pub": VENUE_KEEP,
    }
    everything = fold(P, s.events, bounded=False)
    assert len(everything.alerts) == KEEP + 11 and len(everything.sightings) == KEEP + 10


def test_what_outlives_the_records_a_subjects_records_stills_and_the_counts() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    alert(s, "about-s1", subject_id="s1")
    s("alert.resolved", alert_id="about-s1", note=None, venue=None, breach_of=None)
    report(s, "i-s1", subject_ids=["s1"])
    s("incident.crime_reference_recorded", incident_id="i-s1", crime_reference="CR/1", venue="pub")
    s("incident.closed", incident_id="i-s1", outcome="done", venue="pub")
    sighting(s, "g-s1", still="still-1")
    for n in range(KEEP + 1):  # pushes all of the above out of memory (at the same venue)
        alert(s, f"a{n}")
        s("alert.cancelled", alert_id=f"a{n}", note=None, venue=None, breach_of=None)
        report(s, f"i{n}", category="asb")
        s("incident.closed", incident_id=f"i{n}", outcome="done", venue="pub")
        sighting(s, f"g{n}", subject_id=None)
    # a crime reference given after the incident left memory, then corrected
    s("incident.crime_reference_recorded", incident_id="i0", crime_reference="CR/2", venue="pub")
    s(
        "incident.crime_reference_recorded",
        incident_id="i0",
        crime_reference="CR/3",
        venue="pub",
        replaces="CR/2",
    )
    s("alert.acknowledged", alert_id="a0", user="late", venue=None, breach_of=None)  # changes nothing held
    view = s.view()
    assert "about-s1" not in view.alerts and "i-s1" not in view.incidents and "g-s1" not in view.sightings
    s1 = view.subjects["s1"]
    assert s1["involved"] == {"alerts": ["about-s1"], "incidents": ["i-s1"], "sightings": ["g-s1"]}
    assert s1["stills"] == ["still-1"]
    assert view.tally == {
        "by_category": {"theft": 1, "asb": KEEP + 1},
        "by_venue": {"pub": KEEP + 2},
        "loss_value_total": round(2.5 * (KEEP + 2), 2),
        "with_crime_reference": 2,
    }
    s("subject.erased", subject_id="s1", reason="request")
    erased = s.view().subjects["s1"]
    assert erased["involved"] == {"alerts": [], "incidents": [], "sightings": []}
    assert erased["stills"] == ["still-1"]  # ids only: a shredding after a restart deletes the files


def test_what_follows_an_alert_or_incident_out_of_memory_reaches_whom_it_did() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    alert(s, "b1", {"user": "hub", "role": "system"}, venue="pub", subject_id="s1", breach_of="x1")
    s("alert.resolved", alert_id="b1", note=None, venue="pub", breach_of="x1")
    report(s, "i1", venue="shop")
    s("incident.closed", incident_id="i1", outcome="done", venue="shop")
    for n in range(KEEP + 1):  # at the same venues, so they leave both windows
        alert(s, f"a{n}", venue="pub", breach_of="x1")
        s("alert.resolved", alert_id=f"a{n}", note=None, venue="pub", breach_of="x1")
        report(s, f"i{n}", venue="shop")
        s("incident.closed", incident_id=f"i{n}", outcome="done", venue="shop")
    ack = s("alert.acknowledged", alert_id="b1", user="cctv", venue="pub", breach_of="x1")
    reference = s("incident.crime_reference_recorded", incident_id="i1", crime_reference="CR/9", venue="shop")
    view = s.view()
    assert "b1" not in view.alerts and "i1" not in view.incidents
    assert who(view, ack) == CONTROL | {"door_pub", "retail_pub"}
    assert who(view, reference) == CONTROL | {"retail_shop"}
    # written before events carried their venue: no venue's staff, as where is not known
    old_ack = s("alert.acknowledged", alert_id="b1", user="police")
    old_reference = s("incident.crime_reference_recorded", incident_id="i1", crime_reference="CR/10")
    view = s.view()
    assert who(view, old_ack) == who(view, old_reference) == CONTROL
    assert audience(view, old_ack) != at_venues(None)


def test_a_view_of_a_busy_night_holds_no_more_than_keep_done_records_of_each_kind() -> None:
    """What bench/soak.py measures over 30 minutes, as counts: the memory held stops growing."""
    s = Script()
    set_up(s)
    sizes = []
    for n in range(4 * KEEP):
        alert(s, f"a{n}")
        s("alert.resolved", alert_id=f"a{n}", note=None, venue=None, breach_of=None)
        sighting(s, f"g{n}", subject_id=None)
        if n % KEEP == KEEP - 1:
            view = s.view()
            sizes.append((len(view.alerts), len(view.sightings), sum(map(len, view.done.values()))))
    assert sizes == [(KEEP, KEEP, 2 * KEEP + VENUE_KEEP)] * 4


def test_a_venue_keeps_its_own_last_records_however_busy_the_others_are() -> None:
    """Door staff see their own venue's records: 600 sightings at the shop and 600 breach
    alerts there do not push the pub's out of memory, and the pub's newest VENUE_KEEP stay."""
    s = Script()
    set_up(s)
    for n in range(VENUE_KEEP + 5):
        sighting(s, f"pub{n}", subject_id=None)
        alert(s, f"b-pub{n}", venue="pub", breach_of="x1")
        s("alert.resolved", alert_id=f"b-pub{n}", note=None, venue="pub", breach_of="x1")
    for n in range(KEEP + 100):
        sighting(s, f"shop{n}", subject_id=None, venue="shop")
        alert(s, f"b-shop{n}", venue="shop", breach_of="x2")
        s("alert.resolved", alert_id=f"b-shop{n}", note=None, venue="shop", breach_of="x2")
        alert(s, f"plain{n}")  # no venue decides who sees these: the partnership's window only
        s("alert.resolved", alert_id=f"plain{n}", note=None, venue=None, breach_of=None)
    view = s.view()
    pub = [k for k in view.sightings if k.startswith("pub")]
    assert pub == [f"pub{n}" for n in range(5, VENUE_KEEP + 5)]
    assert [k for k in view.alerts if k.startswith("b-pub")] == [
        f"b-pub{n}" for n in range(5, VENUE_KEEP + 5)
    ]
    shop = [k for k in view.sightings if k.startswith("shop")]
    assert shop == [f"shop{n}" for n in range(100, KEEP + 100)]  # the partnership's newest
    assert len([k for k in view.alerts if k.startswith("plain")]) <= KEEP


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (20, 20), "green").save(out, format="PNG")
    return out.getvalue()


def test_a_restart_between_an_erasure_and_its_shredding_deletes_the_photos_and_stills(tmp_path: Path) -> None:
    """Shredder.recover at start-up: the view shows the subject erased, its key is still
    here (the hub stopped before shredding): the key goes and so do the files of its photos
    and of the stills of its sightings, out of memory or not."""
    keys = KeyStore(tmp_path / "keys.db")
    cipher = Cipher(keys)
    photos = PhotoStore(tmp_path / "photos", cipher)
    s = Script()
    set_up(s)
    subject(s, "s1")
    s("subject.photo_added", subject_id="s1", photo_id="photo1")
    sighting(s, "g-first", still="still1")
    for n in range(KEEP + 1):
        sighting(s, f"g{n}", subject_id=None)
    s("subject.erased", subject_id="s1", reason="request")
    for photo_id in ("photo1", "still1"):
        photos.save("s1", photo_id, _png())
    view = s.view()
    assert "g-first" not in view.sightings and keys.get("s1") is not None
    Shredder(cipher, photos).recover({P: view})
    assert keys.get("s1") is None
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == []
    keys.close()
