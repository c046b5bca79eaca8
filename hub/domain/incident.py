"""The incident stream: a report, its updates, the subjects involved and its end."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hub.domain import Fact, NotFound, Rejected


@dataclass(frozen=True)
class Incident:
    exists: bool = False
    closed: bool = False
    venue: str = ""
    occurred_at: str = ""
    subject_ids: tuple[str, ...] = ()
    crime_reference: str | None = None


def stream(incident_id: str) -> str:
    return f"incident-{incident_id}"


def initial() -> Incident:
    return Incident()


def evolve(state: Incident, type: str, data: dict[str, Any]) -> Incident:
    if type == "incident.reported":
        return replace(
            state,
            exists=True,
            venue=data["venue"],
            occurred_at=data["occurred_at"],
            subject_ids=tuple(data["subject_ids"]),
        )
    if type == "incident.subject_linked":
        return replace(state, subject_ids=(*state.subject_ids, data["subject_id"]))
    if type == "incident.crime_reference_recorded":
        return replace(state, crime_reference=data["crime_reference"])
    if type == "incident.closed":
        return replace(state, closed=True)
    return state


def report(state: Incident, incident: dict[str, Any], venues: dict[str, Any]) -> list[Fact]:
    if state.exists:
        raise Rejected(f"incident {incident['incident_id']} already exists")
    if incident["venue"] not in venues:
        raise Rejected(f"no venue {incident['venue']} in this partnership")
    return [Fact("incident.reported", incident)]


def _open(state: Incident, incident_id: str) -> None:
    if not state.exists:
        raise NotFound(f"no incident {incident_id}")
    if state.closed:
        raise Rejected(f"incident {incident_id} is closed")


def link_subject(state: Incident, incident_id: str, subject_id: str) -> list[Fact]:
    _open(state, incident_id)
    if subject_id in state.subject_ids:
        return []
    data = {
        "incident_id": incident_id,
        "subject_id": subject_id,
        "venue": state.venue,
        "occurred_at": state.occurred_at,
    }
    return [Fact("incident.subject_linked", data)]


def record_crime_reference(state: Incident, incident_id: str, reference: str) -> list[Fact]:
    if not state.exists:
        raise NotFound(f"no incident {incident_id}")
    if state.crime_reference == reference:
        return []
    data = {"incident_id": incident_id, "crime_reference": reference}
    return [Fact("incident.crime_reference_recorded", data)]


def close(state: Incident, incident_id: str, outcome: str) -> list[Fact]:
    _open(state, incident_id)
    return [Fact("incident.closed", {"incident_id": incident_id, "outcome": outcome})]
