"""A view's memory is bounded: done records beyond `KEEP` of each kind leave it, what must
outlive them (each subject's records and stills, the statistics' counts, who may see what
follows) stays, and a fold with `keep=None` (an auditor's view as of a moment) keeps all."""

from __future__ import annotations

from typing import Any

from projections.audience import at_venues, audience
from projections.views import KEEP, fold
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


def sighting(s: Script, sighting_id: str, subject_id: str | None = "s1", still: str | None = None) -> None:
    s(
        "sighting.recorded",
        {"user": "cctv", "role": "cctv_operator"},
        sighting_id=sighting_id,
        subject_id=subject_id,
        venue="pub",
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
    assert all(len(done) == KEEP for done in view.done.values())
    everything = fold(P, s.events, keep=None)
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
    for n in range(KEEP + 1):  # pushes all of the above out of memory
        alert(s, f"a{n}")
        s("alert.cancelled", alert_id=f"a{n}", note=None, venue=None, breach_of=None)
        report(s, f"i{n}", venue="shop", category="asb")
        s("incident.closed", incident_id=f"i{n}", outcome="done", venue="shop")
        sighting(s, f"g{n}", subject_id=None)
    # a crime reference given after the incident left memory, then corrected
    s("incident.crime_reference_recorded", incident_id="i0", crime_reference="CR/2", venue="shop")
    s(
        "incident.crime_reference_recorded",
        incident_id="i0",
        crime_reference="CR/3",
        venue="shop",
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
        "by_venue": {"pub": 1, "shop": KEEP + 1},
        "loss_value_total": round(2.5 * (KEEP + 2), 2),
        "with_crime_reference": 2,
    }
    s("subject.erased", subject_id="s1", reason="request")
    erased = s.view().subjects["s1"]
    assert erased["stills"] == [] and erased["involved"] == {"alerts": [], "incidents": [], "sightings": []}


def test_what_follows_an_alert_or_incident_out_of_memory_reaches_whom_it_did() -> None:
    s = Script()
    set_up(s)
    subject(s, "s1")
    alert(s, "b1", {"user": "hub", "role": "system"}, venue="pub", subject_id="s1", breach_of="x1")
    s("alert.resolved", alert_id="b1", note=None, venue="pub", breach_of="x1")
    report(s, "i1", venue="shop")
    s("incident.closed", incident_id="i1", outcome="done", venue="shop")
    for n in range(KEEP + 1):
        alert(s, f"a{n}")
        s("alert.resolved", alert_id=f"a{n}", note=None, venue=None, breach_of=None)
        report(s, f"i{n}")
        s("incident.closed", incident_id=f"i{n}", outcome="done", venue="pub")
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
    assert sizes == [(KEEP, KEEP, 2 * KEEP)] * 4
