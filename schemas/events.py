"""The data of every event type, as stored in the log (personal data sealed).

Events are validated once, when written; replay trusts the log and reads raw JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.commands import IncidentCategory, Priority, Role, VenueKind


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sealed(Data):
    """Personal data encrypted with its subject's own key (AES-GCM, base64)."""

    key: str
    ct: str


class PartnershipRegistered(Data):
    id: str
    name: str
    retention_days: int = 365


class VenueAdded(Data):
    venue_id: str
    name: str
    kind: VenueKind


class VenueChanged(Data):
    venue_id: str
    name: str | None = None
    kind: VenueKind | None = None


class VenueRemoved(Data):
    venue_id: str


class ChannelOpened(Data):
    channel: str
    name: str


class MemberEnrolled(Data):
    username: str
    role: Role
    venue: str | None = None
    password_hash: Sealed


class EnrolmentCodeIssued(Data):
    """A one-time code to sign in a device (a handheld, a door phone); only its hash, sealed."""

    username: str
    code_id: str
    code_hash: Sealed
    expires_at: str


class EnrolmentCodeUsed(Data):
    username: str
    code_id: str


class MemberAccessRevoked(Data):
    username: str


class AlertBroadcast(Data):
    alert_id: str
    channel: str
    priority: Priority
    text: str
    venue: str | None = None
    location: str | None = None
    subject_id: str | None = None
    breach_of: str | None = None


class AlertAcknowledged(Data):
    alert_id: str
    user: str


class AlertClosed(Data):
    alert_id: str
    note: str | None = None


class IncidentReported(Data):
    incident_id: str
    category: IncidentCategory
    venue: str
    occurred_at: str
    description: str
    loss_value: float = 0
    subject_ids: list[str] = Field(default_factory=list)


class IncidentSubjectLinked(Data):
    incident_id: str
    subject_id: str
    venue: str
    occurred_at: str


class IncidentCrimeReference(Data):
    incident_id: str
    crime_reference: str


class IncidentClosed(Data):
    incident_id: str
    outcome: str


class SightingRecorded(Data):
    sighting_id: str
    subject_id: str | None = None
    venue: str
    seen_at: str
    camera: str | None = None
    note: str = ""
    still_id: str | None = None


class SubjectRegistered(Data):
    subject_id: str
    id_sought: bool
    personal: Sealed


class SubjectPhotoAdded(Data):
    subject_id: str
    photo_id: str


class SubjectIdentified(Data):
    subject_id: str
    personal: Sealed


class SubjectErased(Data):
    subject_id: str
    reason: str


class WarningIssued(Data):
    warning_id: str
    subject_id: str
    venues: list[str]
    reason: str
    issued_at: str


class WarningLapsed(Data):
    warning_id: str
    subject_id: str


class ExclusionTerms(Data):
    exclusion_id: str
    subject_id: str
    venues: list[str]
    starts_at: str
    ends_at: str
    reason: str


class ExclusionProposed(ExclusionTerms):
    warnings: list[str]


class ExclusionStepTaken(Data):
    exclusion_id: str
    subject_id: str
    note: str | None = None


class ExclusionBreached(Data):
    exclusion_id: str
    subject_id: str
    venue: str
    seen_at: str
    sighting_id: str | None = None
    incident_id: str | None = None


class IncidentNoted(Data):
    subject_id: str
    incident_id: str
    occurred_at: str


EVENT_TYPES: dict[str, type[Data]] = {
    "partnership.registered": PartnershipRegistered,
    "venue.added": VenueAdded,
    "venue.changed": VenueChanged,
    "venue.removed": VenueRemoved,
    "channel.opened": ChannelOpened,
    "member.enrolled": MemberEnrolled,
    "member.access_revoked": MemberAccessRevoked,
    "member.enrolment_code_issued": EnrolmentCodeIssued,
    "member.enrolment_code_used": EnrolmentCodeUsed,
    "alert.broadcast": AlertBroadcast,
    "alert.acknowledged": AlertAcknowledged,
    "alert.cancelled": AlertClosed,
    "alert.resolved": AlertClosed,
    "incident.reported": IncidentReported,
    "incident.subject_linked": IncidentSubjectLinked,
    "incident.crime_reference_recorded": IncidentCrimeReference,
    "incident.closed": IncidentClosed,
    "sighting.recorded": SightingRecorded,
    "subject.registered": SubjectRegistered,
    "subject.photo_added": SubjectPhotoAdded,
    "subject.identified": SubjectIdentified,
    "subject.erased": SubjectErased,
    "warning.issued": WarningIssued,
    "warning.lapsed": WarningLapsed,
    "exclusion.proposed": ExclusionProposed,
    "exclusion.issued": ExclusionTerms,
    "exclusion.served": ExclusionStepTaken,
    "exclusion.appealed": ExclusionStepTaken,
    "exclusion.revoked": ExclusionStepTaken,
    "exclusion.expired": ExclusionStepTaken,
    "exclusion.breached": ExclusionBreached,
    "exclusion.incident_noted": IncidentNoted,
}


class InvalidEvent(ValueError):
    """An event whose data does not match its schema: a bug in a decider, never stored."""


def validate_event_data(event_type: str, data: dict[str, Any]) -> None:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    try:
        model.model_validate(data)
    except ValidationError as error:
        raise InvalidEvent(f"{event_type}: {error}") from error


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every event's data, keyed by event type."""
    return {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}
