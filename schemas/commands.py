"""Every command the hub decides: one frozen model each, tagged by its action name.

Routes build them from REST bodies (schemas/bodies.py), processors from events and the
clock. A `Submission` carries one with its command id (idempotency) and its cause; on the
relay and on `hub.commands` it travels as `{"id", "action", "args", "causation_id"}`,
the same shape as before commands were typed, so records already there still parse.

Fields listed in `SEALED` hold personal data or secrets: they arrive in the clear and are
sealed with the key `seal_key()` names where the command enters the hub
(hub/privacy/sealing.py), before it is decided here or sent to another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.events import FreeText, Sealed
from schemas.roles import Role
from schemas.vocabulary import IncidentCategory, Priority, VenueKind

Moment = Annotated[str, Field(min_length=20, max_length=40)]


class Command(BaseModel):
    """What someone (or a processor) asks of the hub."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: str
    # The field whose value the answer names as `id` ("" for none).
    ANSWER: ClassVar[str] = ""
    # True when the command starts a new stream under a fresh id (no need to read it).
    CREATES: ClassVar[bool] = False
    SEALED: ClassVar[tuple[str, ...]] = ()
    # Free text about the subject the command names (`subject_id`), sealed with its key.
    ABOUT_SUBJECT: ClassVar[tuple[str, ...]] = ()

    def answer(self) -> dict[str, Any]:
        return {"id": getattr(self, self.ANSWER)} if self.ANSWER else {}

    def seal_key(self) -> str:
        """The id of the key that seals this command's `SEALED` fields."""
        raise NotImplementedError(self.action)


# -- partnership ---------------------------------------------------------------------------------


# A routine alert closes by itself this long after it was posted, unless the partnership
# registers another setting (None: never).
ROUTINE_ALERT_MINUTES = 240


class RegisterPartnership(Command):
    action: Literal["register_partnership"] = "register_partnership"
    ANSWER = "id"
    id: str
    name: str
    retention_days: int = 365
    routine_alert_minutes: int | None = Field(default=ROUTINE_ALERT_MINUTES, ge=5, le=10080)


class AddVenue(Command):
    action: Literal["add_venue"] = "add_venue"
    ANSWER = "venue_id"
    venue_id: str
    name: str
    kind: VenueKind


class ChangeVenue(Command):
    action: Literal["change_venue"] = "change_venue"
    ANSWER = "venue_id"
    venue_id: str
    name: str | None = None
    kind: VenueKind | None = None


class RemoveVenue(Command):
    action: Literal["remove_venue"] = "remove_venue"
    ANSWER = "venue_id"
    venue_id: str


class OpenChannel(Command):
    action: Literal["open_channel"] = "open_channel"
    ANSWER = "channel"
    channel: str
    name: str


class _MemberSecret(Command):
    username: str

    def seal_key(self) -> str:
        return f"member-{self.username}"


class EnrolMember(_MemberSecret):
    action: Literal["enrol_member"] = "enrol_member"
    ANSWER = "username"
    SEALED = ("password_hash",)
    role: Role
    venue: str | None = None
    password_hash: Sealed | str


class IssueEnrolmentCode(_MemberSecret):
    action: Literal["issue_enrolment_code"] = "issue_enrolment_code"
    ANSWER = "code_id"
    SEALED = ("code_hash",)
    code_id: str
    code_hash: Sealed | str
    expires_at: Moment


class UseEnrolmentCode(Command):
    action: Literal["use_enrolment_code"] = "use_enrolment_code"
    ANSWER = "code_id"
    username: str
    code_id: str


class RevokeMember(Command):
    action: Literal["revoke_member"] = "revoke_member"
    ANSWER = "username"
    username: str


# -- alerts ----------------------------------------------------------------------------------------


class BroadcastAlert(Command):
    action: Literal["broadcast_alert"] = "broadcast_alert"
    ANSWER = "alert_id"
    CREATES = True
    ABOUT_SUBJECT = ("text",)
    alert_id: str
    channel: str = "main"
    priority: Priority = "routine"
    text: FreeText
    venue: str | None = None
    location: str | None = None
    subject_id: str | None = None


class RaiseBreachAlert(Command):
    """A processor's: an exclusion was breached at a venue; its staff must know."""

    action: Literal["breach_alert"] = "breach_alert"
    ANSWER = "alert_id"
    alert_id: str
    exclusion_id: str
    subject_id: str
    venue: str


class AcknowledgeAlert(Command):
    action: Literal["acknowledge_alert"] = "acknowledge_alert"
    ANSWER = "alert_id"
    alert_id: str


class CloseAlert(Command):
    action: Literal["close_alert"] = "close_alert"
    ANSWER = "alert_id"
    alert_id: str
    note: str | None = None
    cancelled: bool = False


# -- subjects ------------------------------------------------------------------------------------------


class _SubjectSecret(Command):
    subject_id: str

    def seal_key(self) -> str:
        return self.subject_id


class RegisterSubject(_SubjectSecret):
    action: Literal["register_subject"] = "register_subject"
    ANSWER = "subject_id"
    CREATES = True
    SEALED = ("personal",)
    personal: Sealed | dict[str, Any]
    id_sought: bool = False


class AddPhoto(Command):
    action: Literal["add_photo"] = "add_photo"
    ANSWER = "photo_id"
    subject_id: str
    photo_id: str


class IdentifySubject(_SubjectSecret):
    action: Literal["identify_subject"] = "identify_subject"
    ANSWER = "subject_id"
    SEALED = ("personal",)
    personal: Sealed | dict[str, Any]


class EraseSubject(Command):
    action: Literal["erase_subject"] = "erase_subject"
    ANSWER = "subject_id"
    subject_id: str
    reason: str


# -- the exclusion scheme ------------------------------------------------------------------------------


class IssueWarning(Command):
    action: Literal["issue_warning"] = "issue_warning"
    ANSWER = "warning_id"
    ABOUT_SUBJECT = ("reason",)
    warning_id: str
    subject_id: str
    venues: list[str] = Field(default_factory=list)
    reason: FreeText


class IssueExclusion(Command):
    action: Literal["issue_exclusion"] = "issue_exclusion"
    ANSWER = "exclusion_id"
    ABOUT_SUBJECT = ("reason",)
    exclusion_id: str
    subject_id: str
    venues: list[str] = Field(default_factory=list)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    reason: FreeText


class _ExclusionStep(Command):
    ANSWER = "exclusion_id"
    exclusion_id: str
    subject_id: str


class _NotedStep(_ExclusionStep):
    ABOUT_SUBJECT = ("note",)
    note: FreeText | None = None


class ConfirmExclusion(_NotedStep):
    action: Literal["confirm_exclusion"] = "confirm_exclusion"


class ServeExclusion(_NotedStep):
    action: Literal["serve_exclusion"] = "serve_exclusion"


class AppealExclusion(_NotedStep):
    action: Literal["appeal_exclusion"] = "appeal_exclusion"


class RevokeExclusion(_NotedStep):
    action: Literal["revoke_exclusion"] = "revoke_exclusion"


class ExpireExclusion(_ExclusionStep):
    action: Literal["expire_exclusion"] = "expire_exclusion"


class LapseWarning(Command):
    action: Literal["lapse_warning"] = "lapse_warning"
    ANSWER = "warning_id"
    warning_id: str
    subject_id: str


class ProposeExclusion(Command):
    """A processor's: a warning was issued; a second live one proposes an exclusion."""

    action: Literal["propose_exclusion"] = "propose_exclusion"
    ANSWER = "exclusion_id"
    exclusion_id: str
    subject_id: str
    at: Moment


class PlaceSubject(Command):
    """A processor's: a sighting or an incident placed the subject at a venue."""

    action: Literal["place_subject"] = "place_subject"
    subject_id: str
    venue: str
    seen_at: Moment
    sighting_id: str | None = None
    incident_id: str | None = None


# -- sightings and incidents ---------------------------------------------------------------------------


class RecordSighting(Command):
    action: Literal["record_sighting"] = "record_sighting"
    ANSWER = "sighting_id"
    CREATES = True
    ABOUT_SUBJECT = ("note",)
    sighting_id: str
    subject_id: str | None = None
    venue: str
    seen_at: Moment
    camera: str | None = None
    note: FreeText = ""
    still_id: str | None = None


class ReportIncident(Command):
    action: Literal["report_incident"] = "report_incident"
    ANSWER = "incident_id"
    CREATES = True
    incident_id: str
    category: IncidentCategory
    venue: str
    occurred_at: Moment
    description: str
    loss_value: float = 0
    subject_ids: list[str] = Field(default_factory=list)


class LinkSubject(Command):
    action: Literal["link_subject"] = "link_subject"
    ANSWER = "incident_id"
    incident_id: str
    subject_id: str


class RecordCrimeReference(Command):
    action: Literal["record_crime_reference"] = "record_crime_reference"
    ANSWER = "incident_id"
    incident_id: str
    crime_reference: str


class CloseIncident(Command):
    action: Literal["close_incident"] = "close_incident"
    ANSWER = "incident_id"
    incident_id: str
    outcome: str


# -- the Safer Socialising Award -----------------------------------------------------------------------


class RecordInspection(Command):
    action: Literal["record_inspection"] = "record_inspection"
    ANSWER = "inspection_id"
    inspection_id: str
    venue: str
    inspected_at: Moment
    panel: list[str]
    criteria: dict[str, bool]
    outcome: Literal["passed", "failed"]
    actions: str = ""


# -- Web Push ------------------------------------------------------------------------------------------


class PushKeys(BaseModel):
    """A browser's push subscription, in the clear: where to send and how to encrypt."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    endpoint: str
    p256dh: str
    auth: str


class SubscribePush(_MemberSecret):
    """A member's browser subscribes; its id is derived from the member and the endpoint
    (api/routes/push.py), so the same browser subscribing again adds nothing."""

    action: Literal["subscribe_push"] = "subscribe_push"
    ANSWER = "subscription_id"
    SEALED = ("subscription",)
    subscription_id: str
    subscription: Sealed | PushKeys


class UnsubscribePush(Command):
    action: Literal["unsubscribe_push"] = "unsubscribe_push"
    ANSWER = "subscription_id"
    subscription_id: str
    username: str
    reason: Literal["removed", "gone"] = "removed"


def _command_types() -> dict[str, type[Command]]:
    """Every command model, by its action name: the classes whose `action` is a Literal."""
    found: dict[str, type[Command]] = {}
    todo = list(Command.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        (action, *more) = get_args(model.model_fields["action"].annotation) or ("",)
        if action:
            assert not more and action not in found, f"command {action} is defined twice"
            found[action] = model
    return dict(sorted(found.items()))


COMMAND_TYPES = _command_types()
# The tagged union of every command, on its action name: what arrives from another
# process is parsed into the one model its action names.
ANY_COMMAND: Any = Annotated[reduce(or_, COMMAND_TYPES.values()), Field(discriminator="action")]
_COMMANDS: TypeAdapter[Command] = TypeAdapter(ANY_COMMAND)


def parse_command(action: str, args: dict[str, Any]) -> Command:
    """The command for an action and its arguments; pydantic's ValidationError if malformed."""
    return _COMMANDS.validate_python({**args, "action": action})


@dataclass(frozen=True)
class Submission:
    """One command as it is submitted: its id (a retry with it writes nothing) and its cause."""

    id: str
    command: Command
    causation_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        args = self.command.model_dump(exclude={"action"})
        return {"id": self.id, "action": self.command.action, "args": args, "causation_id": self.causation_id}

    @classmethod
    def from_wire(cls, message: dict[str, Any]) -> Submission:
        """Parse a submission from another process; ValidationError, KeyError or TypeError if malformed."""
        command = parse_command(message["action"], message["args"])
        return cls(str(message["id"]), command, message.get("causation_id"))

    @classmethod
    def of(cls, id: str, action: str, args: dict[str, Any], causation_id: str | None = None) -> Submission:
        return cls(id, parse_command(action, args), causation_id)


def command_json_schema() -> dict[str, Any]:
    """JSON Schema of a command on the wire (the `args` of a submission, with its action)."""
    return _COMMANDS.json_schema()
