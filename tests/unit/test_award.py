"""The Safer Socialising Award, given/when/then: an inspection passes only with every
criterion met, fails with actions, is recorded in order and only for night-time venues;
an award falls due for re-inspection and lapses 12 months after it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain import Context, Rejected, award, iso, partnership, registry
from hub.domain.award import status
from projections.views import PartnershipView, apply
from schemas.commands import RecordInspection
from tests.unit.facts import Fact

T0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
CTX = Context("coord", "coordinator", T0)
DAY = timedelta(days=1)


def setup() -> partnership.Partnership:
    state = partnership.initial()
    for fact in (
        Fact("partnership.registered", {"id": "p", "name": "P", "retention_days": 365}),
        Fact("venue.added", {"venue_id": "pub", "name": "The Red Lion", "kind": "night_time"}),
        Fact("venue.added", {"venue_id": "shop", "name": "Pharmacy", "kind": "retail"}),
    ):
        state = partnership.evolve(state, fact.type, fact.data)
    return state


def inspection(n: int = 1, at: datetime = T0, outcome: str = "passed", **changes: Any) -> RecordInspection:
    fields: dict[str, Any] = {
        "inspection_id": f"i{n}",
        "venue": "pub",
        "inspected_at": iso(at),
        "panel": ["partnership", "police", "licensing", "fire"],
        "criteria": {"door staff trained": True, "CCTV at the door": True},
        "outcome": outcome,
        "actions": "",
        **changes,
    }
    return RecordInspection(**fields)


def decide(command: RecordInspection, *before: RecordInspection, ctx: Context = CTX) -> list[Any]:
    state = award.initial()
    for earlier in before:
        for event in registry.decide(earlier, state, ctx, setup()):
            state = award.evolve(state, event.type, event.data)
    return registry.decide(command, state, ctx, setup())


def test_an_inspection_with_every_criterion_met_passes() -> None:
    [event] = decide(inspection())
    assert event.type == "award.inspected"
    assert event.data["outcome"] == "passed" and event.data["venue"] == "pub"
    assert registry.stream_of(inspection()) == "award-pub"


def test_an_inspection_passes_only_with_every_criterion_met_and_fails_with_actions() -> None:
    unmet = {"door staff trained": True, "CCTV at the door": False}
    with pytest.raises(Rejected, match="not met: CCTV at the door"):
        decide(inspection(criteria=unmet))
    with pytest.raises(Rejected, match="actions"):
        decide(inspection(outcome="failed", criteria=unmet))
    [failed] = decide(inspection(outcome="failed", criteria=unmet, actions="fit CCTV at the door"))
    assert failed.data["actions"] == "fit CCTV at the door"


def test_only_night_time_venues_of_the_partnership_are_inspected() -> None:
    with pytest.raises(Rejected, match="night-time"):
        decide(inspection(venue="shop"))
    with pytest.raises(Rejected, match="no venue club"):
        decide(inspection(venue="club"))


def test_inspections_are_recorded_once_in_order_and_not_ahead_of_time() -> None:
    with pytest.raises(Rejected, match="already recorded"):
        decide(inspection(1, T0 - DAY), inspection(1, T0 - DAY))
    with pytest.raises(Rejected, match="in the order"):
        decide(inspection(2, T0 - 10 * DAY), inspection(1, T0 - DAY))
    with pytest.raises(Rejected, match="taken place"):
        decide(inspection(at=T0 + DAY))
    assert decide(inspection(2, T0), inspection(1, T0 - 300 * DAY))


def view_after(*commands: RecordInspection) -> PartnershipView:
    view = PartnershipView("p")
    for position, command in enumerate(commands, start=1):
        [event] = decide(command, ctx=Context("coord", "coordinator", T0 + 1000 * DAY))
        envelope = {"type": event.type, "data": event.data, "position": position}
        apply(view, {**envelope, "occurred_at": command.inspected_at, "actor": {"user": "coord"}})
    return view


def test_an_award_falls_due_then_lapses_unless_re_inspected() -> None:
    record = view_after(inspection(1, T0)).awards["pub"]
    assert status(record, T0 + 100 * DAY) == {
        "status": "awarded",
        "awarded_at": iso(T0),
        "reinspection_due": iso(T0 + 365 * DAY),
    }
    assert status(record, T0 + 340 * DAY)["status"] == "due"
    assert status(record, T0 + 365 * DAY)["status"] == "lapsed"
    renewed = view_after(inspection(1, T0), inspection(2, T0 + 350 * DAY)).awards["pub"]
    assert status(renewed, T0 + 400 * DAY)["status"] == "awarded"
    assert status(renewed, T0 + 400 * DAY)["reinspection_due"] == iso(T0 + 715 * DAY)


def test_a_failed_inspection_withdraws_the_standing_until_a_pass() -> None:
    failed = inspection(2, T0 + DAY, "failed", criteria={"CCTV at the door": False}, actions="fit CCTV")
    record = view_after(inspection(1, T0), failed).awards["pub"]
    assert status(record, T0 + 2 * DAY) == {
        "status": "failed",
        "awarded_at": iso(T0),
        "reinspection_due": None,
    }
    assert status(None, T0)["status"] == "none"
