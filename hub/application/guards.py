"""Rules that span streams, checked in the command path for every caller (REST, the
live socket, the relay's followers, the Kafka worker) before a command is decided.

- A subject a command names exists; one that door or retail staff name in an alert is
  one they may see (an alert shows its subject to everyone it reaches, so naming a
  hidden one would open it to them).
- Door and retail staff report what happens at their own venue; CCTV and police
  report anywhere.

Processors are not checked: their commands follow from what the log already holds.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.domain import Actor, Forbidden, Invalid, Rejected, iso
from hub.domain.partnership import Partnership
from hub.domain.processors import PROCESSOR
from projections.audience import visible_subjects
from projections.views import PartnershipView
from schemas.commands import (
    BroadcastAlert,
    Command,
    IssueExclusion,
    IssueWarning,
    LinkSubject,
    RecordSighting,
    ReportIncident,
)
from schemas.roles import VENUE_ROLES


class Guards:
    def __init__(self, views: dict[str, PartnershipView], clock: Clock) -> None:
        self.views = views
        self.clock = clock

    def check(self, p: str, command: Command, actor: Actor, setup: Partnership) -> None:
        if actor.role == PROCESSOR.role:
            return
        match command:
            case BroadcastAlert(subject_id=str() as subject_id):
                self._subjects(p, [subject_id])
                self._visible(p, subject_id, actor, setup)
            case RecordSighting():
                self._own_venue(command.venue, actor, setup)
                self._subjects(p, [command.subject_id] if command.subject_id else [])
            case ReportIncident():
                self._own_venue(command.venue, actor, setup)
                self._subjects(p, command.subject_ids)
            case LinkSubject():
                self._subjects(p, [command.subject_id])
            case IssueWarning() | IssueExclusion():
                self._subjects(p, [command.subject_id])
                if self.views[p].subjects[command.subject_id]["erased"]:
                    raise Rejected(f"subject {command.subject_id} has been erased")

    def _subjects(self, p: str, subject_ids: list[str]) -> None:
        view = self.views.get(p)
        unknown = [s for s in subject_ids if view is None or s not in view.subjects]
        if unknown:
            raise Invalid(f"no subject {', '.join(unknown)}")

    def _visible(self, p: str, subject_id: str, actor: Actor, setup: Partnership) -> None:
        """A subject hidden from a venue's staff is unknown to them."""
        if actor.role not in VENUE_ROLES:
            return
        venue = setup.members.get(actor.user, {}).get("venue")
        if subject_id not in visible_subjects(self.views[p], actor.role, venue, iso(self.clock.now())):
            raise Invalid(f"no subject {subject_id}")

    @staticmethod
    def _own_venue(venue: str, actor: Actor, setup: Partnership) -> None:
        if venue not in setup.venues:
            raise Invalid(f"no venue {venue} in this partnership")
        if actor.role in VENUE_ROLES and setup.members.get(actor.user, {}).get("venue") != venue:
            raise Forbidden(f"{actor.role.replace('_', ' ')} report what happens at their own venue")
