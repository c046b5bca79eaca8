"""Every event type: its name (`TYPE`, written here once) and its data, as stored in the log.

Deciders state events as these models; the log stores `model_dump()` under the envelope
(schemas/envelope.py). Fields typed `Sealed` hold personal data or secrets, encrypted
with their owner's key before they reach a command or the log: live frames and exports
leave them out (`PRIVATE_FIELDS`). Replay trusts the log and reads the raw JSON.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.roles import Role
from schemas.vocabulary import IncidentCategory, Priority, VenueKind


class Sealed(BaseModel):
    """Personal data or a secret encrypted with its owner's own key (AES-GCM, base64)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    ct: str


# Free text about a subject (a sighting's note, a warning's or exclusion's reason, an
# alert's text when it names a subject): sealed with that subject's key where it enters the
# hub (hub/privacy/sealing.py), so erasing the subject erases it too; clear text otherwise.
FreeText = Sealed | str


class Event(BaseModel):
    """One event's data. Subclasses that name a `TYPE` are the event types."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str] = ""

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def data(self) -> dict[str, Any]:
        """The data as the log stores it."""
        return self.model_dump()


# -- partnership: venues, radio channels, members --------------------------------------------


class PartnershipRegistered(Event):
    TYPE = "partnership.registered"
    id: str
    name: str
    retention_days: int = 365
    routine_alert_minutes: int | None = None  # a routine alert closes by itself after this


class VenueAdded(Event):
    TYPE = "venue.added"
    venue_id: str
    name: str
    kind: VenueKind


class VenueChanged(Event):
    TYPE = "venue.changed"
    venue_id: str
    name: str | None = None
    kind: VenueKind | None = None


class VenueRemoved(Event):
    TYPE = "venue.removed"
    venue_id: str


class ChannelOpened(Event):
    TYPE = "channel.opened"
    channel: str
    name: str


class MemberEnrolled(Event):
    TYPE = "member.enrolled"
    username: str
    role: Role
    venue: str | None = None
    password_hash: Sealed


class EnrolmentCodeIssued(Event):
    """A one-time code to sign in a device (a handheld, a door phone); only its hash, sealed."""

    TYPE = "member.enrolment_code_issued"
    username: str
    code_id: str
    code_hash: Sealed
    expires_at: str


class EnrolmentCodeUsed(Event):
    TYPE = "member.enrolment_code_used"
    username: str
    code_id: str


class MemberAccessRevoked(Event):
    TYPE = "member.access_revoked"
    username: str


# -- alerts: the radio net -----------------------------------------------------------------------


class AlertBroadcast(Event):
    TYPE = "alert.broadcast"
    alert_id: str
    channel: str
    priority: Priority
    text: FreeText
    venue: str | None = None
    location: str | None = None
    subject_id: str | None = None
    breach_of: str | None = None


# What follows an alert carries where the alert went (its venue and, for a breach alert,
# the exclusion), so its audience is known without the alert: views keep only recent
# alerts in memory (projections/views.py). Events written before these fields have none.


class AlertAcknowledged(Event):
    TYPE = "alert.acknowledged"
    alert_id: str
    user: str
    venue: str | None = None
    breach_of: str | None = None


class AlertResolved(Event):
    TYPE = "alert.resolved"
    alert_id: str
    note: str | None = None
    venue: str | None = None
    breach_of: str | None = None


class AlertCancelled(Event):
    TYPE = "alert.cancelled"
    alert_id: str
    note: str | None = None
    venue: str | None = None
    breach_of: str | None = None


# -- incidents and sightings ---------------------------------------------------------------------


class IncidentReported(Event):
    TYPE = "incident.reported"
    incident_id: str
    category: IncidentCategory
    venue: str
    occurred_at: str
    description: str
    loss_value: float = 0
    subject_ids: list[str] = Field(default_factory=list)


class IncidentSubjectLinked(Event):
    TYPE = "incident.subject_linked"
    incident_id: str
    subject_id: str
    venue: str
    occurred_at: str


class IncidentCrimeReference(Event):
    TYPE = "incident.crime_reference_recorded"
    incident_id: str
    crime_reference: str
    venue: str | None = None  # where it happened (its audience), as in IncidentSubjectLinked
    replaces: str | None = None  # the reference recorded before, if any


class IncidentClosed(Event):
    TYPE = "incident.closed"
    incident_id: str
    outcome: str
    venue: str | None = None


class SightingRecorded(Event):
    TYPE = "sighting.recorded"
    sighting_id: str
    subject_id: str | None = None
    venue: str
    seen_at: str
    camera: str | None = None
    note: FreeText = ""
    still_id: str | None = None


# -- subjects ------------------------------------------------------------------------------------------


class SubjectRegistered(Event):
    TYPE = "subject.registered"
    subject_id: str
    id_sought: bool
    personal: Sealed


class SubjectPhotoAdded(Event):
    TYPE = "subject.photo_added"
    subject_id: str
    photo_id: str


class SubjectIdentified(Event):
    TYPE = "subject.identified"
    subject_id: str
    personal: Sealed


class SubjectErased(Event):
    TYPE = "subject.erased"
    subject_id: str
    reason: str


# -- the exclusion scheme ------------------------------------------------------------------------------


class WarningIssued(Event):
    TYPE = "warning.issued"
    warning_id: str
    subject_id: str
    venues: list[str]
    reason: FreeText
    issued_at: str


class WarningLapsed(Event):
    TYPE = "warning.lapsed"
    warning_id: str
    subject_id: str


class ExclusionIssued(Event):
    TYPE = "exclusion.issued"
    exclusion_id: str
    subject_id: str
    venues: list[str]
    starts_at: str
    ends_at: str
    reason: FreeText


class ExclusionProposed(Event):
    TYPE = "exclusion.proposed"
    exclusion_id: str
    subject_id: str
    venues: list[str]
    starts_at: str
    ends_at: str
    reason: FreeText
    warnings: list[str]


class ExclusionStep(Event):
    """A step in an exclusion's life after its terms were set."""

    exclusion_id: str
    subject_id: str
    note: FreeText | None = None


class ExclusionServed(ExclusionStep):
    TYPE = "exclusion.served"


class ExclusionAppealed(ExclusionStep):
    TYPE = "exclusion.appealed"


class ExclusionRevoked(ExclusionStep):
    TYPE = "exclusion.revoked"


class ExclusionExpired(ExclusionStep):
    TYPE = "exclusion.expired"


class ExclusionBreached(Event):
    TYPE = "exclusion.breached"
    exclusion_id: str
    subject_id: str
    venue: str
    seen_at: str
    sighting_id: str | None = None
    incident_id: str | None = None


class IncidentNoted(Event):
    """An incident placed the subject somewhere: it resets the six incident-free months."""

    TYPE = "exclusion.incident_noted"
    subject_id: str
    incident_id: str
    occurred_at: str


# -- the Safer Socialising Award -----------------------------------------------------------------------


class VenueInspected(Event):
    """A panel inspected a night-time venue for the award: passed (awarded) or failed."""

    TYPE = "award.inspected"
    inspection_id: str
    venue: str
    inspected_at: str
    panel: list[str]
    criteria: dict[str, bool]
    outcome: Literal["passed", "failed"]
    actions: str = ""


# -- Web Push: a member's browser subscriptions ---------------------------------------------------


class PushSubscribed(Event):
    """A member's browser asked for pushes: its endpoint and keys, sealed with the member's key."""

    TYPE = "push.subscribed"
    subscription_id: str
    username: str
    subscription: Sealed


class PushUnsubscribed(Event):
    """A subscription ended: its member removed it, or the push service said it is gone."""

    TYPE = "push.unsubscribed"
    subscription_id: str
    username: str
    reason: Literal["removed", "gone"]


# Folded by the push sender's own index (hub/application/push.py), not by the screens'
# views, and never a live frame (no audience: projections/audience.py answers NOBODY).
PUSH_EVENTS: frozenset[str] = frozenset({PushSubscribed.TYPE, PushUnsubscribed.TYPE})


def _event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    todo: list[type[Event]] = [Event]
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if model.TYPE:
            assert model.TYPE not in found, f"event type {model.TYPE} is defined twice"
            found[model.TYPE] = model
    return dict(sorted(found.items()))


EVENT_TYPES: dict[str, type[Event]] = _event_types()

# Fields that hold sealed personal data or secrets: never in a live frame or an export.
# Fields that may hold FreeText, sealed when it is about a subject: opened for screens.
FREE_TEXT_FIELDS: frozenset[str] = frozenset(
    name
    for model in EVENT_TYPES.values()
    for name, info in model.model_fields.items()
    if Sealed in get_args(info.annotation) and str in get_args(info.annotation)
)

PRIVATE_FIELDS: frozenset[str] = frozenset(
    name
    for model in EVENT_TYPES.values()
    for name, info in model.model_fields.items()
    if info.annotation is Sealed
)


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
