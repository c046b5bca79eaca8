"""Rules that span streams, checked in the command path for every caller (REST, the
live socket, the relay's followers, the Kafka worker) before a command is decided.

- A subject a command names exists and is one its member may see: an alert shows its
  subject to everyone it reaches, so naming a hidden one would open it to them; and a
  hidden subject answers as a made-up id does, so no answer tells them it exists.
- Door and retail staff report what happens at their own venue; CCTV and police
  report anywhere.
- A coordinator manages door, retail, CCTV and police members (enrols them, issues their
  device codes, revokes them), never a peer, the auditor or itself; an admin manages all.

Processors are not checked: their commands follow from what the log already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.clock import Clock
from hub.domain import Actor, Forbidden, Invalid, Rejected, iso
from hub.domain.partnership import Partnership
from hub.domain.processors import PROCESSOR
from projections.audience import visible_subjects
from projections.views import PartnershipView
from schemas.commands import (
    BroadcastAlert,
    Command,
    EnrolMember,
    IssueEnrolmentCode,
    IssueExclusion,
    IssueWarning,
    LinkSubject,
    RecordSighting,
    ReportIncident,
    RevokeMember,
)
from schemas.roles import MANAGED_BY_COORDINATOR, VENUE_ROLES


class Guards:
    def __init__(self, views: dict[str, PartnershipView], clock: Clock) -> None:
        self.views = views
        self.clock = clock

    def check(self, p: str, command: Command, actor: Actor, setup: Partnership) -> None:
        if actor.role == PROCESSOR.role:
            return
        match command:
            case BroadcastAlert(subject_id=str() as subject_id):
                self._known(p, [subject_id], actor, setup)
            case RecordSighting():
                own_venue(command.venue, actor.role, _venue_of(actor, setup), setup.venues)
                self._known(p, [command.subject_id] if command.subject_id else [], actor, setup)
            case ReportIncident():
                own_venue(command.venue, actor.role, _venue_of(actor, setup), setup.venues)
                self._known(p, command.subject_ids, actor, setup)
            case LinkSubject():
                self._known(p, [command.subject_id], actor, setup)
            case EnrolMember() | IssueEnrolmentCode() | RevokeMember():
                self._manages(command, actor, setup)
            case IssueWarning() | IssueExclusion():
                self._subjects(p, [command.subject_id])
                if self.views[p].subjects[command.subject_id]["erased"]:
                    raise Rejected(f"subject {command.subject_id} has been erased")

    def _subjects(self, p: str, subject_ids: list[str]) -> None:
        view = self.views.get(p)
        unknown = [s for s in subject_ids if view is None or s not in view.subjects]
        if unknown:
            raise Invalid(f"no subject {', '.join(unknown)}")

    def _known(self, p: str, subject_ids: list[str], actor: Actor, setup: Partnership) -> None:
        """The subjects exist, and the member may see them: a hidden subject is as
        unknown to them as a made-up id, with the same answer."""
        self._subjects(p, subject_ids)
        if not subject_ids:
            return
        venue = _venue_of(actor, setup)
        visible = visible_subjects(self.views[p], actor.role, venue, iso(self.clock.now()))
        hidden = [s for s in subject_ids if s not in visible]
        if hidden:
            raise Invalid(f"no subject {', '.join(hidden)}")

    @staticmethod
    def _manages(
        command: EnrolMember | IssueEnrolmentCode | RevokeMember, actor: Actor, setup: Partnership
    ) -> None:
        if actor.role == "admin":
            return
        role = (
            command.role
            if isinstance(command, EnrolMember)
            else setup.members.get(command.username, {}).get("role")
        )
        if command.username == actor.user or (role is not None and role not in MANAGED_BY_COORDINATOR):
            raise Forbidden(
                f"a {actor.role} may not manage {command.username}: only an admin manages a {role}"
            )


def own_venue(venue: str, role: str, member_venue: str | None, venues: Mapping[str, Any]) -> None:
    """Door and retail staff report what happens at their own venue (a venue there is)."""
    if venue not in venues:
        raise Invalid(f"no venue {venue} in this partnership")
    if role in VENUE_ROLES and member_venue != venue:
        raise Forbidden(f"{role.replace('_', ' ')} report what happens at their own venue")


def _venue_of(actor: Actor, setup: Partnership) -> str | None:
    venue: str | None = setup.members.get(actor.user, {}).get("venue")
    return venue
