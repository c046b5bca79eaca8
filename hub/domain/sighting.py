"""The sighting stream: a subject, or an unidentified person, seen at a place and time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.domain import Fact, Rejected


@dataclass(frozen=True)
class Sighting:
    exists: bool = False


def stream(sighting_id: str) -> str:
    return f"sighting-{sighting_id}"


def initial() -> Sighting:
    return Sighting()


def evolve(state: Sighting, type: str, data: dict[str, Any]) -> Sighting:
    return Sighting(exists=True) if type == "sighting.recorded" else state


def record(state: Sighting, sighting: dict[str, Any], venues: dict[str, Any]) -> list[Fact]:
    if state.exists:
        raise Rejected(f"sighting {sighting['sighting_id']} already exists")
    if sighting["venue"] not in venues:
        raise Rejected(f"no venue {sighting['venue']} in this partnership")
    return [Fact("sighting.recorded", sighting)]
