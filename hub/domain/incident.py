"""The incident stream: a report, its updates, the subjects involved and its end."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, assert_never

from hub.domain import Context, NotFound, Rejected
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership
from schemas.commands import CloseIncident, LinkSubject, RecordCrimeReference, ReportIncident
from schemas.events import (
    Event,
    IncidentClosed,
    IncidentCrimeReference,
    IncidentReported,
    IncidentSubjectLinked,
)


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


def _reported(state: Incident, data: dict[str, Any]) -> Incident:
    return replace(
        state,
        exists=True,
        venue=data["venue"],
        occurred_at=data["occurred_at"],
        subject_ids=tuple(data["subject_ids"]),
    )


EVOLUTIONS: dict[str, Evolution[Incident]] = {
    IncidentReported.TYPE: _reported,
    IncidentSubjectLinked.TYPE: lambda s, d: replace(s, subject_ids=(*s.subject_ids, d["subject_id"])),
    IncidentCrimeReference.TYPE: lambda s, d: replace(s, crime_reference=d["crime_reference"]),
    IncidentClosed.TYPE: lambda s, d: replace(s, closed=True),
}

Commands = ReportIncident | LinkSubject | RecordCrimeReference | CloseIncident


def decide(command: Commands, state: Incident, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case ReportIncident():
            return report(state, command.model_dump(exclude={"action"}), setup.venues)
        case LinkSubject():
            return link_subject(state, command.incident_id, command.subject_id)
        case RecordCrimeReference():
            return record_crime_reference(state, command.incident_id, command.crime_reference)
        case CloseIncident():
            return close(state, command.incident_id, command.outcome)
        case _:
            assert_never(command)


def report(state: Incident, incident: dict[str, Any], venues: dict[str, Any]) -> list[Event]:
    if state.exists:
        raise Rejected(f"incident {incident['incident_id']} already exists")
    if incident["venue"] not in venues:
        raise Rejected(f"no venue {incident['venue']} in this partnership")
    subject_ids = list(dict.fromkeys(incident["subject_ids"]))  # each subject once
    return [IncidentReported(**{**incident, "subject_ids": subject_ids})]


def _open(state: Incident, incident_id: str) -> None:
    if not state.exists:
        raise NotFound(f"no incident {incident_id}")
    if state.closed:
        raise Rejected(f"incident {incident_id} is closed")


def link_subject(state: Incident, incident_id: str, subject_id: str) -> list[Event]:
    _open(state, incident_id)
    if subject_id in state.subject_ids:
        return []
    return [
        IncidentSubjectLinked(
            incident_id=incident_id, subject_id=subject_id, venue=state.venue, occurred_at=state.occurred_at
        )
    ]


def record_crime_reference(state: Incident, incident_id: str, reference: str) -> list[Event]:
    if not state.exists:
        raise NotFound(f"no incident {incident_id}")
    if state.crime_reference == reference:
        return []
    return [
        IncidentCrimeReference(
            incident_id=incident_id,
            crime_reference=reference,
            venue=state.venue,
            replaces=state.crime_reference,
        )
    ]


def close(state: Incident, incident_id: str, outcome: str) -> list[Event]:
    _open(state, incident_id)
    return [IncidentClosed(incident_id=incident_id, outcome=outcome, venue=state.venue)]


decider = Decider.of("incident", Commands, lambda c: stream(c.incident_id), initial, EVOLUTIONS, decide)
evolve = decider.evolve
