"""The award stream: a night-time venue's Safer Socialising Award inspections.

A panel (partnership, police, licensing, fire) inspects the venue against the award's
criteria; it passes (the venue is awarded) only with every criterion met, or fails with
the actions the venue must take. Re-inspection falls due 12 months after an award; an
award not re-inspected by then has lapsed (`status`, read with the clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, assert_never

from hub.domain import TWELVE_MONTHS, Context, Rejected, iso, parse
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership, require_venue
from schemas.commands import RecordInspection
from schemas.events import Event, VenueInspected

DUE_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Award:
    inspections: frozenset[str] = frozenset()
    last_inspected_at: datetime | None = None


Commands = RecordInspection


def stream(venue: str) -> str:
    return f"award-{venue}"


def initial() -> Award:
    return Award()


def _inspected(state: Award, data: dict[str, Any]) -> Award:
    return replace(
        state,
        inspections=state.inspections | {data["inspection_id"]},
        last_inspected_at=parse(data["inspected_at"]),
    )


EVOLUTIONS: dict[str, Evolution[Award]] = {VenueInspected.TYPE: _inspected}


def decide(command: Commands, state: Award, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case RecordInspection():
            return inspect(state, command, ctx.at, setup)
        case _:
            assert_never(command)


def inspect(state: Award, command: RecordInspection, now: datetime, setup: Partnership) -> list[Event]:
    require_venue(setup, command.venue)
    if setup.venues[command.venue]["kind"] != "night_time":
        raise Rejected(f"the Safer Socialising Award is for night-time venues; {command.venue} is not one")
    if command.inspection_id in state.inspections:
        raise Rejected(f"inspection {command.inspection_id} is already recorded")
    inspected_at = parse(command.inspected_at)
    if inspected_at > now:
        raise Rejected("an inspection is recorded once it has taken place")
    if state.last_inspected_at is not None and inspected_at < state.last_inspected_at:
        raise Rejected("inspections are recorded in the order they took place")
    unmet = sorted(name for name, met in command.criteria.items() if not met)
    if command.outcome == "passed" and unmet:
        raise Rejected(f"an inspection passes only with every criterion met; not met: {', '.join(unmet)}")
    if command.outcome == "failed" and not command.actions.strip():
        raise Rejected("a failed inspection states the actions the venue must take")
    return [VenueInspected(**command.model_dump(exclude={"action"}))]


def status(award: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """A venue's award as of `now` (its view record in, its standing out): awarded; due
    (re-inspection within 30 days); lapsed (not re-inspected within 12 months of the
    award); failed (the last inspection failed); or none (never inspected)."""
    if award is None:
        return {"status": "none", "awarded_at": None, "reinspection_due": None}
    awarded_at = award["awarded_at"]
    if award["outcome"] == "failed" or awarded_at is None:
        return {"status": "failed", "awarded_at": awarded_at, "reinspection_due": None}
    due = parse(awarded_at) + TWELVE_MONTHS
    standing = "lapsed" if now >= due else "due" if now >= due - DUE_WITHIN else "awarded"
    return {"status": standing, "awarded_at": awarded_at, "reinspection_due": iso(due)}


decider = Decider.of("award", Commands, lambda c: stream(c.venue), initial, EVOLUTIONS, decide)
evolve = decider.evolve
