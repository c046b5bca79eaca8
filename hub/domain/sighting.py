"""The sighting stream: a subject, or an unidentified person, seen at a place and time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_never

from hub.domain import Context, Rejected
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership
from schemas.commands import RecordSighting
from schemas.events import Event, SightingRecorded


@dataclass(frozen=True)
class Sighting:
    exists: bool = False


Commands = RecordSighting


def stream(sighting_id: str) -> str:
    return f"sighting-{sighting_id}"


def initial() -> Sighting:
    return Sighting()


EVOLUTIONS: dict[str, Evolution[Sighting]] = {SightingRecorded.TYPE: lambda s, d: Sighting(exists=True)}


def decide(command: Commands, state: Sighting, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case RecordSighting():
            return record(state, command.model_dump(exclude={"action"}), setup.venues)
        case _:
            assert_never(command)


def record(state: Sighting, sighting: dict[str, Any], venues: dict[str, Any]) -> list[Event]:
    if state.exists:
        raise Rejected(f"sighting {sighting['sighting_id']} already exists")
    if sighting["venue"] not in venues:
        raise Rejected(f"no venue {sighting['venue']} in this partnership")
    return [SightingRecorded(**sighting)]


decider = Decider.of("sighting", Commands, lambda c: stream(c.sighting_id), initial, EVOLUTIONS, decide)
evolve = decider.evolve
