"""DESIGN.md's exclusion rules, as given/when/then tests of the pure deciders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain import Rejected, exclusion, iso
from hub.domain.processors import due, react
from projections.views import PartnershipView, apply
from schemas.events import Event as Fact

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def given(*facts: Fact) -> exclusion.Record:
    state = exclusion.initial()
    for fact in facts:
        state = exclusion.evolve(state, fact.type, fact.data)
    return state


def warned(warning_id: str, at: datetime, venues: list[str] | None = None) -> Fact:
    [fact] = exclusion.issue_warning(exclusion.initial(), warning_id, "s1", venues or ["pub"], "r", at)
    return fact


def excluded(exclusion_id: str = "x1", start: datetime = T0, venues: list[str] | None = None) -> Fact:
    [fact] = exclusion.issue(exclusion.initial(), exclusion_id, "s1", venues or [], start, None, "board")
    return fact


def test_a_second_warning_within_twelve_months_proposes_a_twelve_month_exclusion() -> None:
    state = given(warned("w1", T0), warned("w2", T0 + 100 * DAY, ["club"]))
    [proposal] = exclusion.propose_after_warnings(state, "x1", "s1", T0 + 100 * DAY)
    assert proposal.type == "exclusion.proposed"
    assert proposal.data["warnings"] == ["w1", "w2"]
    assert proposal.data["venues"] == ["club", "pub"]
    assert proposal.data["ends_at"] == iso(T0 + 100 * DAY + timedelta(days=365))


def test_a_single_warning_proposes_nothing() -> None:
    assert exclusion.propose_after_warnings(given(warned("w1", T0)), "x1", "s1", T0) == []


def test_a_warning_more_than_twelve_months_old_does_not_count() -> None:
    state = given(warned("w1", T0), warned("w2", T0 + 366 * DAY))
    assert exclusion.propose_after_warnings(state, "x1", "s1", T0 + 366 * DAY) == []


def test_a_proposed_exclusion_does_not_take_effect_until_a_coordinator_confirms_it() -> None:
    state = given(warned("w1", T0), warned("w2", T0 + DAY))
    state = given(
        *exclusion.propose_after_warnings(state, "x1", "s1", T0 + DAY),
        warned("w1", T0),
        warned("w2", T0 + DAY),
    )
    assert exclusion.place_subject(state, "s1", "pub", T0 + 2 * DAY, sighting_id="g1") == []
    confirmed = exclusion.confirm(state, "x1", "s1", T0 + 3 * DAY)
    assert [f.type for f in confirmed] == ["exclusion.issued"]
    assert confirmed[0].data["starts_at"] == iso(T0 + 3 * DAY)
    after = given(*exclusion.propose_after_warnings(state, "x1", "s1", T0 + DAY), *confirmed)
    [breach] = exclusion.place_subject(after, "s1", "pub", T0 + 4 * DAY, sighting_id="g2")
    assert breach.type == "exclusion.breached"


def test_confirming_something_not_proposed_is_refused() -> None:
    with pytest.raises(Rejected):
        exclusion.confirm(given(excluded()), "x1", "s1", T0)


def test_a_warning_lapses_after_twelve_months_without_another() -> None:
    state = given(warned("w1", T0))
    assert exclusion.lapse_warning(state, "w1", "s1", T0 + 364 * DAY) == []
    [lapsed] = exclusion.lapse_warning(state, "w1", "s1", T0 + 365 * DAY)
    assert lapsed.type == "warning.lapsed"
    assert exclusion.live_warnings(given(warned("w1", T0), lapsed), T0 + 365 * DAY) == []


def test_a_sighting_at_a_venue_in_scope_records_a_breach() -> None:
    state = given(excluded(venues=["pub"]))
    [breach] = exclusion.place_subject(state, "s1", "pub", T0 + DAY, sighting_id="g1")
    assert breach.data == {
        "exclusion_id": "x1",
        "subject_id": "s1",
        "venue": "pub",
        "seen_at": iso(T0 + DAY),
        "sighting_id": "g1",
        "incident_id": None,
    }


def test_a_sighting_at_a_venue_outside_the_scope_is_no_breach() -> None:
    assert (
        exclusion.place_subject(given(excluded(venues=["pub"])), "s1", "shop", T0 + DAY, sighting_id="g1")
        == []
    )


def test_an_exclusion_with_no_venues_covers_the_whole_partnership() -> None:
    [breach] = exclusion.place_subject(
        given(excluded(venues=[])), "s1", "anywhere", T0 + DAY, sighting_id="g"
    )
    assert breach.type == "exclusion.breached"


def test_an_incident_placing_an_excluded_subject_records_a_breach_and_is_noted() -> None:
    facts = exclusion.place_subject(given(excluded()), "s1", "pub", T0 + DAY, incident_id="i1")
    assert [f.type for f in facts] == ["exclusion.incident_noted", "exclusion.breached"]


def test_exclusions_expire_at_their_end_time_without_anyone_acting() -> None:
    state = given(excluded())
    end = T0 + timedelta(days=365)
    view = view_of(excluded())
    assert [c.command.action for c in due(view, end - timedelta(seconds=1))] == []
    [command] = due(view, end)
    assert (command.command.action, command.command.exclusion_id) == ("expire_exclusion", "x1")
    [expired] = exclusion.expire(state, "x1", "s1", end)
    assert expired.type == "exclusion.expired"


def test_a_revoked_or_expired_exclusion_stops_breaches_at_once() -> None:
    state = given(excluded())
    revoked = given(excluded(), *exclusion.revoke(state, "x1", "s1", None))
    assert exclusion.place_subject(revoked, "s1", "pub", T0 + DAY, sighting_id="g1") == []
    end = T0 + timedelta(days=365)
    expired = given(excluded(), *exclusion.expire(state, "x1", "s1", end))
    assert exclusion.place_subject(expired, "s1", "pub", end - DAY, sighting_id="g1") == []
    assert exclusion.place_subject(state, "s1", "pub", end, sighting_id="g1") == []


def test_an_appeal_before_six_months_is_refused() -> None:
    with pytest.raises(Rejected, match="six months"):
        exclusion.appeal(given(excluded()), "x1", "s1", None, T0 + 181 * DAY)


def test_an_appeal_after_six_incident_free_months_is_recorded() -> None:
    [appeal] = exclusion.appeal(given(excluded()), "x1", "s1", "grounds", T0 + 183 * DAY)
    assert appeal.type == "exclusion.appealed"


def test_an_incident_restarts_the_six_months_before_an_appeal() -> None:
    state = given(
        excluded(), *exclusion.place_subject(given(excluded()), "s1", "pub", T0 + 100 * DAY, incident_id="i1")
    )
    with pytest.raises(Rejected):
        exclusion.appeal(state, "x1", "s1", None, T0 + 200 * DAY)
    [appeal] = exclusion.appeal(state, "x1", "s1", None, T0 + 283 * DAY)
    assert appeal.type == "exclusion.appealed"


def test_an_exclusion_must_end_after_it_starts() -> None:
    with pytest.raises(Rejected):
        exclusion.issue(exclusion.initial(), "x1", "s1", [], T0, T0 - DAY, "r")


def test_twelve_months_is_the_default_term() -> None:
    assert excluded().data["ends_at"] == iso(T0 + timedelta(days=365))


def test_a_revoked_exclusion_cannot_be_revoked_again() -> None:
    state = given(excluded(), *exclusion.revoke(given(excluded()), "x1", "s1", None))
    with pytest.raises(Rejected):
        exclusion.revoke(state, "x1", "s1", None)


def view_of(*facts: Fact) -> PartnershipView:
    view = PartnershipView("p")
    for position, fact in enumerate(facts, start=1):
        apply(view, envelope(fact, position))
    return view


def envelope(fact: Fact, position: int, at: datetime = T0) -> dict[str, Any]:
    return {
        "id": f"e{position}",
        "type": fact.type,
        "partnership": "p",
        "stream": "exclusion-s1",
        "stream_version": position,
        "position": position,
        "occurred_at": iso(at),
        "recorded_at": iso(at),
        "actor": {"user": "u", "role": "coordinator"},
        "data": fact.data,
    }


def test_processors_turn_a_sighting_into_a_breach_check_and_a_breach_into_an_alert() -> None:
    sighting = {"sighting_id": "g1", "subject_id": "s1", "venue": "pub", "seen_at": iso(T0)}
    [check] = react({"id": "e1", "type": "sighting.recorded", "data": sighting, "occurred_at": iso(T0)})
    assert (check.command.action, check.id) == ("place_subject", "place:e1")
    [breach] = exclusion.place_subject(given(excluded()), "s1", "pub", T0 + DAY, sighting_id="g1")
    [alert] = react(envelope(breach, 7))
    assert alert.command.action == "breach_alert"
    assert alert.command.venue == "pub"


def test_a_second_warning_makes_the_escalation_processor_propose() -> None:
    [command] = react(envelope(warned("w2", T0), 3))
    assert command.command.action == "propose_exclusion"
    assert command.id == "escalate:e3"
