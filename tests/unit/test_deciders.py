"""Given/when/then tests of the partnership, alert, incident, sighting and subject
deciders, and of the registry refusing venues the partnership does not have."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from hub.domain import (
    Context,
    NotFound,
    Rejected,
    alert,
    incident,
    partnership,
    registry,
    sighting,
    subject,
)
from schemas.commands import parse_command
from schemas.events import validate_event_data
from tests.unit.facts import SEALED, Fact

T0 = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
CTX = Context("coord", "coordinator", T0)


def given(module: Any, *facts: Fact) -> Any:
    """The state after `facts`; each fact must also match its event schema."""
    state = module.initial()
    for fact in facts:
        validate_event_data(fact.type, fact.data)
        state = module.evolve(state, fact.type, fact.data)
    return state


def types(facts: list[Fact]) -> list[str]:
    return [f.type for f in facts]


# -- partnership ---------------------------------------------------------------------------------


def registered(*more: Any) -> partnership.Partnership:
    facts = partnership.register(partnership.initial(), "north", "North", 365)
    state: partnership.Partnership = given(partnership, *facts, *more)
    return state


def venue(venue_id: str = "pub", kind: str = "night_time") -> Any:
    return Fact("venue.added", {"venue_id": venue_id, "name": venue_id.title(), "kind": kind})


def test_an_enrolment_code_signs_in_once_and_only_for_an_active_member() -> None:
    [door] = partnership.enrol(registered(venue()), "door1", "door_staff", "pub", SEALED)
    state = registered(venue(), door)
    [issued] = partnership.issue_enrolment_code(state, "door1", "c1", SEALED, "2026-01-02T00:00:00.000000Z")
    assert issued.type == "member.enrolment_code_issued"
    state = registered(venue(), door, issued)
    [used] = partnership.use_enrolment_code(state, "door1", "c1")
    assert used.data == {"username": "door1", "code_id": "c1"}
    state = registered(venue(), door, issued, used)
    with pytest.raises(Rejected, match="used"):
        partnership.use_enrolment_code(state, "door1", "c1")
    with pytest.raises(NotFound):
        partnership.use_enrolment_code(state, "someone.else", "c1")
    with pytest.raises(NotFound):
        partnership.issue_enrolment_code(registered(venue()), "nobody", "c2", SEALED, "2026-01-02T00:00:00Z")


def test_registering_a_partnership_opens_the_main_net() -> None:
    facts = partnership.register(partnership.initial(), "north", "North", 400)
    assert types(facts) == ["partnership.registered", "channel.opened"]
    assert facts[0].data == {
        "id": "north",
        "name": "North",
        "retention_days": 400,
        "routine_alert_minutes": None,
    }
    state = given(partnership, *facts)
    assert state.registered and state.name == "North" and state.retention_days == 400
    assert state.channels == frozenset({"main"})


def test_a_partnership_registers_once() -> None:
    with pytest.raises(Rejected):
        partnership.register(registered(), "north", "Again", 365)


@pytest.mark.parametrize(
    "decide",
    [
        lambda s: partnership.add_venue(s, "pub", "Pub", "night_time"),
        lambda s: partnership.change_venue(s, "pub", "Pub", None),
        lambda s: partnership.remove_venue(s, "pub"),
        lambda s: partnership.open_channel(s, "night", "Night"),
        lambda s: partnership.enrol(s, "u", "police", None, SEALED),
        lambda s: partnership.revoke_access(s, "u"),
    ],
)
def test_nothing_happens_in_an_unregistered_partnership(decide: Any) -> None:
    with pytest.raises(NotFound):
        decide(partnership.initial())


def test_venues_are_added_changed_and_removed() -> None:
    state = registered(venue("pub"))
    assert state.venues == {"pub": {"name": "Pub", "kind": "night_time"}}
    with pytest.raises(Rejected):
        partnership.add_venue(state, "pub", "Pub again", "retail")
    [changed] = partnership.change_venue(state, "pub", "The Red Lion", None)
    state = given(
        partnership, *partnership.register(partnership.initial(), "n", "N", 365), venue("pub"), changed
    )
    assert state.venues["pub"] == {"name": "The Red Lion", "kind": "night_time"}  # kind kept
    with pytest.raises(NotFound):
        partnership.change_venue(state, "club", "Club", None)
    [removed] = partnership.remove_venue(state, "pub")
    assert removed == Fact("venue.removed", {"venue_id": "pub"})
    with pytest.raises(NotFound):
        partnership.remove_venue(registered(), "pub")


def test_channels_open_once() -> None:
    [opened] = partnership.open_channel(registered(), "night", "Night net")
    state = registered(opened)
    assert state.channels == {"main", "night"}
    with pytest.raises(Rejected):
        partnership.open_channel(state, "night", "Again")
    with pytest.raises(Rejected):
        partnership.open_channel(state, "main", "Again")


def test_members_are_enrolled_at_a_venue_of_the_partnership() -> None:
    state = registered(venue("pub"))
    [door] = partnership.enrol(state, "door1", "door_staff", "pub", SEALED)
    assert door.data == {
        "username": "door1",
        "role": "door_staff",
        "venue": "pub",
        "password_hash": SEALED,
    }
    [police] = partnership.enrol(state, "pcso", "police", None, SEALED)
    assert police.data["venue"] is None
    with pytest.raises(Rejected, match="needs a venue"):
        partnership.enrol(state, "door2", "door_staff", None, SEALED)
    with pytest.raises(Rejected, match="needs a venue"):
        partnership.enrol(state, "shop1", "retail_staff", None, SEALED)
    with pytest.raises(Rejected, match="no venue"):
        partnership.enrol(state, "door3", "door_staff", "club", SEALED)
    with pytest.raises(Rejected, match="no venue"):
        partnership.enrol(state, "cctv", "cctv_operator", "club", SEALED)


def test_a_member_is_enrolled_once_revoked_once_and_may_be_enrolled_again() -> None:
    [enrolled] = partnership.enrol(registered(venue()), "pcso", "police", None, SEALED)
    state = registered(venue(), enrolled)
    with pytest.raises(Rejected):
        partnership.enrol(state, "pcso", "police", None, SEALED)
    [revoked] = partnership.revoke_access(state, "pcso")
    assert revoked == Fact("member.access_revoked", {"username": "pcso"})
    state = registered(venue(), enrolled, revoked)
    assert state.members["pcso"]["active"] is False
    with pytest.raises(NotFound):
        partnership.revoke_access(state, "pcso")
    with pytest.raises(NotFound):
        partnership.revoke_access(state, "nobody")
    [again] = partnership.enrol(state, "pcso", "coordinator", None, SEALED)
    assert registered(venue(), enrolled, revoked, again).members["pcso"] == {
        "role": "coordinator",
        "venue": None,
        "active": True,
    }


# -- alert ---------------------------------------------------------------------------------------------

MAIN = frozenset({"main"})


def body(alert_id: str = "a1", channel: str = "main", **extra: Any) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": channel,
        "priority": "urgent",
        "text": "group heading your way",
        "venue": None,
        "location": None,
        "subject_id": None,
        "breach_of": None,
        **extra,
    }


def broadcast() -> Any:
    [fact] = alert.broadcast(alert.initial(), body(), MAIN)
    return fact


def ack(user: str) -> Any:
    return Fact("alert.acknowledged", {"alert_id": "a1", "user": user})


def test_an_alert_is_broadcast_on_an_open_channel() -> None:
    [fact] = alert.broadcast(alert.initial(), body(), MAIN)
    assert fact == Fact("alert.broadcast", body())
    state = given(alert, fact)
    assert state.exists and state.status == "active"


def test_an_alert_on_an_unknown_channel_is_refused() -> None:
    with pytest.raises(Rejected, match="no open channel"):
        alert.broadcast(alert.initial(), body(channel="night"), MAIN)
    [fact] = alert.broadcast(alert.initial(), body(channel="night"), MAIN | {"night"})
    assert fact.data["channel"] == "night"


def test_an_alert_is_broadcast_once() -> None:
    with pytest.raises(Rejected):
        alert.broadcast(given(alert, broadcast()), body(), MAIN)


def test_each_user_acknowledges_once() -> None:
    state = given(alert, broadcast())
    assert alert.acknowledge(state, "a1", "door1") == [ack("door1")]
    state = given(alert, broadcast(), ack("door1"))
    assert alert.acknowledge(state, "a1", "door1") == []
    assert alert.acknowledge(state, "a1", "cctv") == [ack("cctv")]
    assert given(alert, broadcast(), ack("door1"), ack("cctv")).acknowledged_by == {"door1", "cctv"}


def test_acknowledging_a_closed_alert_is_still_recorded() -> None:
    state = given(alert, broadcast(), Fact("alert.resolved", {"alert_id": "a1", "note": None}))
    assert alert.acknowledge(state, "a1", "late") == [ack("late")]


def test_no_alert_no_acknowledgement_or_close() -> None:
    with pytest.raises(NotFound):
        alert.acknowledge(alert.initial(), "a1", "door1")
    with pytest.raises(NotFound):
        alert.close(alert.initial(), "a1", None, False)


@pytest.mark.parametrize(
    ("cancelled", "kind", "status"),
    [(False, "alert.resolved", "resolved"), (True, "alert.cancelled", "cancelled")],
)
def test_an_alert_is_resolved_or_cancelled_only_once(cancelled: bool, kind: str, status: str) -> None:
    [closed] = alert.close(given(alert, broadcast()), "a1", "sorted", cancelled)
    assert closed == Fact(kind, {"alert_id": "a1", "note": "sorted"})
    state = given(alert, broadcast(), closed)
    assert state.status == status
    for again in (False, True):
        with pytest.raises(Rejected, match=f"already {status}"):
            alert.close(state, "a1", None, again)


# -- incident ---------------------------------------------------------------------------------------------

VENUES = {"pub": {"name": "Pub", "kind": "night_time"}}


def report(**extra: Any) -> dict[str, Any]:
    return {
        "incident_id": "i1",
        "category": "theft",
        "venue": "pub",
        "occurred_at": "2026-03-01T20:00:00.000000Z",
        "description": "two bottles taken",
        "loss_value": 30.0,
        "subject_ids": ["s1"],
        **extra,
    }


def reported() -> Any:
    [fact] = incident.report(incident.initial(), report(), VENUES)
    return fact


def test_an_incident_is_reported_at_a_venue_of_the_partnership() -> None:
    assert incident.report(incident.initial(), report(), VENUES) == [Fact("incident.reported", report())]
    with pytest.raises(Rejected, match="no venue"):
        incident.report(incident.initial(), report(venue="club"), VENUES)
    with pytest.raises(Rejected, match="already exists"):
        incident.report(given(incident, reported()), report(), VENUES)


def test_a_subject_is_linked_once_with_where_and_when() -> None:
    state = given(incident, reported())
    assert incident.link_subject(state, "i1", "s1") == []
    [linked] = incident.link_subject(state, "i1", "s2")
    assert linked == Fact(
        "incident.subject_linked",
        {
            "incident_id": "i1",
            "subject_id": "s2",
            "venue": "pub",
            "occurred_at": "2026-03-01T20:00:00.000000Z",
        },
    )
    assert given(incident, reported(), linked).subject_ids == ("s1", "s2")
    assert incident.link_subject(given(incident, reported(), linked), "i1", "s2") == []


def test_a_crime_reference_is_recorded_when_it_changes() -> None:
    state = given(incident, reported())
    [recorded] = incident.record_crime_reference(state, "i1", "CR/1/26")
    where = {"venue": "pub"}  # its audience, without the incident (projections/views.py)
    assert recorded.data == {"incident_id": "i1", "crime_reference": "CR/1/26", "replaces": None, **where}
    state = given(incident, reported(), recorded)
    assert incident.record_crime_reference(state, "i1", "CR/1/26") == []
    [corrected] = incident.record_crime_reference(state, "i1", "CR/2/26")
    assert corrected.data == {
        "incident_id": "i1",
        "crime_reference": "CR/2/26",
        "replaces": "CR/1/26",
        **where,
    }


def test_a_closed_incident_takes_no_more_subjects_and_closes_once() -> None:
    [closed] = incident.close(given(incident, reported()), "i1", "no further action")
    assert closed.data == {"incident_id": "i1", "outcome": "no further action", "venue": "pub"}
    state = given(incident, reported(), closed)
    assert state.closed
    with pytest.raises(Rejected, match="closed"):
        incident.close(state, "i1", "again")
    with pytest.raises(Rejected, match="closed"):
        incident.link_subject(state, "i1", "s9")
    # A crime reference may still arrive after closing (police report later).
    assert types(incident.record_crime_reference(state, "i1", "CR/9/26")) == [
        "incident.crime_reference_recorded"
    ]


@pytest.mark.parametrize(
    "decide",
    [
        lambda s: incident.link_subject(s, "i1", "s1"),
        lambda s: incident.record_crime_reference(s, "i1", "CR"),
        lambda s: incident.close(s, "i1", "x"),
    ],
)
def test_no_incident_nothing_to_update(decide: Any) -> None:
    with pytest.raises(NotFound):
        decide(incident.initial())


# -- sighting ------------------------------------------------------------------------------------------------


def seen(**extra: Any) -> dict[str, Any]:
    return {
        "sighting_id": "g1",
        "subject_id": "s1",
        "venue": "pub",
        "seen_at": "2026-03-01T20:00:00.000000Z",
        "camera": "12",
        "note": "by the door",
        "still_id": None,
        **extra,
    }


def test_a_sighting_is_recorded_once_at_a_known_venue() -> None:
    [fact] = sighting.record(sighting.initial(), seen(), VENUES)
    assert fact == Fact("sighting.recorded", seen())
    assert given(sighting, fact).exists
    with pytest.raises(Rejected, match="already exists"):
        sighting.record(given(sighting, fact), seen(), VENUES)
    with pytest.raises(Rejected, match="no venue"):
        sighting.record(sighting.initial(), seen(venue="club"), VENUES)


def test_an_unidentified_person_can_be_sighted() -> None:
    [fact] = sighting.record(sighting.initial(), seen(subject_id=None), VENUES)
    assert fact.data["subject_id"] is None


# -- subject ---------------------------------------------------------------------------------------

# Personal data reaches the decider sealed (hub/privacy/sealing.py): a name, or none yet.
KNOWN: dict[str, Any] = {"key": "s1", "ct": "Dean Marsh, Deano, 1995-04-02, tall"}
UNKNOWN: dict[str, Any] = {"key": "s1", "ct": "no name; red coat"}


def registered_subject(personal: dict[str, Any] = KNOWN) -> Any:
    """A known subject, or an ID-sought one (no name yet) when given UNKNOWN."""
    if personal is KNOWN:
        [fact] = subject.register(subject.initial(), "s1", personal)
    else:
        [fact] = subject.register(subject.initial(), "s1", personal, id_sought=True)
    return fact


def erased() -> Any:
    return Fact("subject.erased", {"subject_id": "s1", "reason": "asked"})


def test_a_subject_is_registered_known_or_id_sought() -> None:
    known = registered_subject()
    assert known == Fact("subject.registered", {"subject_id": "s1", "id_sought": False, "personal": KNOWN})
    assert not given(subject, known).id_sought
    sought = registered_subject(UNKNOWN)
    assert sought.data["id_sought"] is True
    assert given(subject, sought).id_sought
    with pytest.raises(Rejected):
        subject.register(given(subject, known), "s1", KNOWN)


def test_an_id_sought_subject_is_identified_once() -> None:
    state = given(subject, registered_subject(UNKNOWN))
    [identified] = subject.identify(state, "s1", KNOWN)
    assert identified == Fact("subject.identified", {"subject_id": "s1", "personal": KNOWN})
    state = given(subject, registered_subject(UNKNOWN), identified)
    assert not state.id_sought
    with pytest.raises(Rejected, match="already identified"):
        subject.identify(state, "s1", KNOWN)
    with pytest.raises(Rejected, match="already identified"):
        subject.identify(given(subject, registered_subject()), "s1", KNOWN)


def test_photos_are_added_up_to_the_limit() -> None:
    facts = [registered_subject()]
    for n in range(subject.MAX_PHOTOS):
        [added] = subject.add_photo(given(subject, *facts), "s1", f"p{n}")
        assert added == Fact("subject.photo_added", {"subject_id": "s1", "photo_id": f"p{n}"})
        facts.append(added)
    with pytest.raises(Rejected, match="photos"):
        subject.add_photo(given(subject, *facts), "s1", "one-too-many")


def test_an_erased_subject_takes_nothing_more() -> None:
    state = given(subject, registered_subject(UNKNOWN))
    assert subject.erase(state, "s1", "asked") == [erased()]
    state = given(subject, registered_subject(UNKNOWN), erased())
    assert state.erased
    with pytest.raises(Rejected, match="erased"):
        subject.erase(state, "s1", "again")
    with pytest.raises(Rejected, match="erased"):
        subject.add_photo(state, "s1", "p1")
    with pytest.raises(Rejected, match="erased"):
        subject.identify(state, "s1", KNOWN)
    with pytest.raises(Rejected):
        subject.register(state, "s1", KNOWN)  # the id is not reused


@pytest.mark.parametrize(
    "decide",
    [
        lambda s: subject.add_photo(s, "s1", "p1"),
        lambda s: subject.identify(s, "s1", KNOWN),
        lambda s: subject.erase(s, "s1", "r"),
    ],
)
def test_no_subject_nothing_to_change(decide: Any) -> None:
    with pytest.raises(NotFound):
        decide(subject.initial())


# -- the registry: the set-up is checked before anything is decided ---------------------------------


SETUP = registered(venue("pub"), venue("shop", "retail"))


class Planned:
    """A command parsed as it arrives, routed by the registry: its stream and decision."""

    def __init__(self, action: str, args: dict[str, Any], ctx: Context = CTX, setup: Any = SETUP) -> None:
        self.command = parse_command(action, args)
        self.stream = registry.stream_of(self.command)
        self.answer = self.command.answer()
        self.ctx, self.setup = ctx, setup

    def decide(self, state: Any) -> list[Any]:
        return registry.decide(self.command, state, self.ctx, self.setup)


def planned(action: str, **args: Any) -> Planned:
    return Planned(action, args)


def without_breach(alert_body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert_body.items() if k != "breach_of"}  # a processor's field


@pytest.mark.parametrize(
    ("action", "args", "initial"),
    [
        ("broadcast_alert", {**without_breach(body()), "venue": "club"}, alert.initial),
        (
            "issue_warning",
            {"warning_id": "w1", "subject_id": "s1", "venues": ["pub", "club"], "reason": "r"},
            lambda: whole_record(),
        ),
        (
            "issue_exclusion",
            {
                "exclusion_id": "x1",
                "subject_id": "s1",
                "venues": ["club"],
                "reason": "r",
                "starts_at": None,
                "ends_at": None,
            },
            lambda: whole_record(),
        ),
    ],
)
def test_the_registry_refuses_a_venue_the_partnership_does_not_have(
    action: str, args: dict[str, Any], initial: Any
) -> None:
    with pytest.raises(Rejected, match="no venue club"):
        planned(action, **args).decide(initial())


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("report_incident", report(venue="club")),
        ("record_sighting", seen(venue="club")),
    ],
)
def test_a_report_at_an_unknown_venue_is_refused_when_decided(action: str, args: dict[str, Any]) -> None:
    step = planned(action, **args)
    with pytest.raises(Rejected, match="no venue club"):
        step.decide(incident.initial() if action == "report_incident" else sighting.initial())


def test_the_registry_accepts_known_venues_and_names_the_stream() -> None:
    step = planned("broadcast_alert", **without_breach(body(venue="pub")))
    assert step.stream == "alert-a1"
    assert step.answer == {"id": "a1"}
    assert types(step.decide(alert.initial())) == ["alert.broadcast"]
    whole = planned("issue_warning", warning_id="w1", subject_id="s1", venues=[], reason="r")
    assert whole.stream == "exclusion-s1"
    [warning] = whole.decide(whole_record())
    assert warning.data["issued_at"] == "2026-03-01T21:00:00.000000Z"
    assert planned("report_incident", **report()).stream == "incident-i1"
    assert planned("record_sighting", **seen()).stream == "sighting-g1"
    assert planned("register_subject", subject_id="s1", personal=KNOWN).stream == "subject-s1"
    assert planned("add_venue", venue_id="club", name="Club", kind="night_time").stream == "partnership"


def whole_record() -> Any:
    from hub.domain import exclusion

    return exclusion.initial()


def test_the_registry_refuses_everything_but_registration_in_an_unregistered_partnership() -> None:
    adding = Planned(
        "add_venue", {"venue_id": "v", "name": "V", "kind": "retail"}, setup=partnership.initial()
    )
    with pytest.raises(Rejected, match="no such partnership"):
        adding.decide(partnership.initial())
    step = Planned(
        "register_partnership",
        {"id": "north", "name": "N", "retention_days": 365},
        setup=partnership.initial(),
    )
    assert step.stream == "partnership"
    assert types(step.decide(partnership.initial())) == ["partnership.registered", "channel.opened"]


def test_an_unknown_action_is_refused_as_it_is_parsed() -> None:
    with pytest.raises(ValidationError, match="launch_rockets"):
        planned("launch_rockets")


def test_a_breach_alert_is_routed_to_the_breached_venue_on_the_main_net() -> None:
    step = planned("breach_alert", alert_id="b1", exclusion_id="x1", subject_id="s1", venue="pub")
    [fact] = step.decide(alert.initial())
    assert fact.data["breach_of"] == "x1"
    assert fact.data["venue"] == "pub"
    assert fact.data["channel"] == "main"
    assert "Pub" in fact.data["text"]
    validate_event_data(fact.type, fact.data)


def test_the_acknowledging_user_comes_from_the_context_not_the_arguments() -> None:
    with pytest.raises(ValidationError, match="user"):
        parse_command("acknowledge_alert", {"alert_id": "a1", "user": "someone-else"})
    step = Planned("acknowledge_alert", {"alert_id": "a1"}, ctx=Context("door1", "door_staff", T0))
    state = given(alert, broadcast())
    assert step.decide(state) == [ack("door1")]
