"""Who may see each event as a live frame, and which subjects a member may see.

One rule per event type (`RULES`), given the partnership's view after the event was
applied. `tests/unit/test_registry.py` proves every event type has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from projections.views import PartnershipView, active_exclusions
from schemas import events as e
from schemas.roles import CONTROL, COORDINATOR, RECEIVERS, VENUE_ROLES

EVERY_VENUE = None


@dataclass(frozen=True)
class Viewer:
    """A signed-in member, as their token describes them."""

    user: str
    role: str
    partnerships: frozenset[str]
    venue: str | None
    expires: int = field(default=0, compare=False)  # the token's expiry (Unix time), 0: none
    issued: int = field(default=0, compare=False)  # when the token was signed (Unix time)


@dataclass(frozen=True)
class Audience:
    """Roles that see an event; venue staff see it only at `venues` (None: at every venue)."""

    roles: frozenset[str]
    venues: frozenset[str] | None = frozenset()

    def admits(self, viewer: Viewer) -> bool:
        if viewer.role not in self.roles:
            return False
        if viewer.role in VENUE_ROLES:
            return self.venues is None or viewer.venue in self.venues
        return True


NOBODY = Audience(frozenset())
COORDINATORS = Audience(COORDINATOR)
# An event written before events carried their venue, about a record no longer in memory:
# where it happened is not known here, so no venue's staff see it.
NO_VENUE_KNOWN = Audience(CONTROL)
Rule = Callable[[PartnershipView, dict[str, Any]], Audience]


def at_venues(venues: list[str] | None) -> Audience:
    """Control room, police, coordinator, and venue staff at `venues` (empty: all)."""
    return Audience(CONTROL | VENUE_ROLES, frozenset(venues) if venues else None)


def _alert(view: PartnershipView, data: dict[str, Any]) -> Audience:
    alert = view.alerts.get(data["alert_id"], data)
    if "breach_of" not in alert:
        return NO_VENUE_KNOWN
    if alert["breach_of"]:
        return at_venues([alert["venue"]])
    return Audience(RECEIVERS, EVERY_VENUE)


def _where_it_happened(view: PartnershipView, data: dict[str, Any]) -> Audience:
    """Incidents, sightings and breaches: each happened at one venue."""
    venue = data.get("venue") or view.incidents.get(data.get("incident_id", ""), {}).get("venue")
    return at_venues([venue]) if venue else NO_VENUE_KNOWN


def _exclusion_scope(view: PartnershipView, data: dict[str, Any]) -> Audience:
    return at_venues(view.exclusions.get(data["exclusion_id"], {}).get("venues"))


def _coordinators(view: PartnershipView, data: dict[str, Any]) -> Audience:
    return COORDINATORS


RULES: dict[str, Rule] = {
    **dict.fromkeys(
        (e.AlertBroadcast.TYPE, e.AlertAcknowledged.TYPE, e.AlertResolved.TYPE, e.AlertCancelled.TYPE),
        _alert,
    ),
    **dict.fromkeys(
        (
            e.IncidentReported.TYPE,
            e.IncidentSubjectLinked.TYPE,
            e.IncidentCrimeReference.TYPE,
            e.IncidentClosed.TYPE,
            e.SightingRecorded.TYPE,
            e.ExclusionBreached.TYPE,
        ),
        _where_it_happened,
    ),
    **dict.fromkeys(
        (e.ExclusionIssued.TYPE, e.ExclusionServed.TYPE, e.ExclusionRevoked.TYPE, e.ExclusionExpired.TYPE),
        _exclusion_scope,
    ),
    **dict.fromkeys(
        (
            e.ExclusionProposed.TYPE,
            e.ExclusionAppealed.TYPE,
            e.IncidentNoted.TYPE,
            e.WarningIssued.TYPE,
            e.WarningLapsed.TYPE,
            e.SubjectRegistered.TYPE,
            e.SubjectPhotoAdded.TYPE,
            e.SubjectIdentified.TYPE,
            e.SubjectErased.TYPE,
            e.PartnershipRegistered.TYPE,
            e.VenueAdded.TYPE,
            e.VenueChanged.TYPE,
            e.VenueRemoved.TYPE,
            e.ChannelOpened.TYPE,
            e.MemberEnrolled.TYPE,
            e.MemberAccessRevoked.TYPE,
            e.EnrolmentCodeIssued.TYPE,
            e.EnrolmentCodeUsed.TYPE,
            e.VenueInspected.TYPE,
        ),
        _coordinators,
    ),
}


def audience(view: PartnershipView, event: dict[str, Any]) -> Audience:
    """Who may see `event`, given the partnership's view after it was applied."""
    rule = RULES.get(event["type"])
    return NOBODY if rule is None else rule(view, event["data"])


def sees_alert(view: PartnershipView, alert: dict[str, Any], viewer: Viewer) -> bool:
    return _alert(view, alert).admits(viewer)


def visible_subjects(view: PartnershipView, role: str, venue: str | None, now: str) -> set[str]:
    """Subjects a member may see: all for a coordinator; otherwise the excluded (in the
    member's scope), and for those who receive alerts also the warned (in their scope: a
    shop knows whom it gave a yellow card), the ID-sought, and those named in an active
    alert they may see."""
    if role == "coordinator":
        return set(view.subjects)
    seen = {
        x["subject_id"]
        for x in active_exclusions(view, now)
        if role not in VENUE_ROLES or not x["venues"] or venue in x["venues"]
    }
    if role != "auditor":
        viewer = Viewer("", role, frozenset({view.id}), venue)
        seen |= {s for s, r in view.subjects.items() if r["id_sought"]}
        seen |= {
            w["subject_id"]
            for w in view.warnings.values()
            if not w["lapsed"] and (role not in VENUE_ROLES or not w["venues"] or venue in w["venues"])
        }
        seen |= {
            a["subject_id"]
            for a in view.alerts.values()
            if a["status"] == "active" and a.get("subject_id") and sees_alert(view, a, viewer)
        }
    return seen
