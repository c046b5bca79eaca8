"""The views every screen reads, folded from the log one event at a time.

`apply(view, event)` is pure. Personal data stays sealed in the views (and so in
snapshots); the API opens it when it answers, so an erased subject is erased here too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemas import events
from schemas.events import AlertResolved, ExclusionProposed


@dataclass
class PartnershipView:
    """Everything one partnership's screens show, as of `position`."""

    id: str
    position: int = 0
    name: str = ""
    retention_days: int = 365
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    sightings: dict[str, dict[str, Any]] = field(default_factory=dict)
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: dict[str, dict[str, Any]] = field(default_factory=dict)
    exclusions: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    awards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartnershipView:
        view = cls(**data)
        view.counts = Counter(view.counts)
        return view


def _touch(view: PartnershipView, subject_id: str | None, at: str) -> None:
    """A subject's last activity, which the retention rule counts from."""
    subject = view.subjects.get(subject_id or "")
    if subject is not None and at > subject["last_activity_at"]:
        subject["last_activity_at"] = at


def apply(view: PartnershipView, event: dict[str, Any]) -> PartnershipView:
    """Fold one event into a partnership's view (in place; returns it for chaining)."""
    kind, data = event["type"], event["data"]
    view.position = event["position"]
    view.counts[kind] += 1
    handler = HANDLERS.get(kind)
    if handler is not None:
        handler(view, data, event)
    return view


def _partnership_registered(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.name = data["name"]
    view.retention_days = data["retention_days"]


def _venue_added(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.venues[data["venue_id"]] = {"id": data["venue_id"], "name": data["name"], "kind": data["kind"]}


def _venue_changed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    venue = view.venues[data["venue_id"]]
    venue.update({k: data[k] for k in ("name", "kind") if data.get(k)})


def _venue_removed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.venues.pop(data["venue_id"], None)


def _channel_opened(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.channels[data["channel"]] = data["name"]


def _member_enrolled(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.members[data["username"]] = {
        "username": data["username"],
        "role": data["role"],
        "venue": data["venue"],
        "active": True,
        "password_hash": data["password_hash"],
        "enrolled_at": e["occurred_at"],
    }


def _enrolment_code_issued(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    codes = view.members[data["username"]].setdefault("codes", {})
    codes[data["code_id"]] = {"code_hash": data["code_hash"], "expires_at": data["expires_at"], "used": False}


def _enrolment_code_used(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.members[data["username"]]["codes"][data["code_id"]]["used"] = True


def _member_revoked(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.members[data["username"]]["active"] = False


def _alert_broadcast(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.alerts[data["alert_id"]] = {
        **data,
        "status": "active",
        "position": e["position"],
        "posted_at": e["occurred_at"],
        "posted_by": e["actor"]["user"],
        "acknowledgements": [],
        "closed_note": None,
    }
    _touch(view, data.get("subject_id"), e["occurred_at"])


def _alert_acknowledged(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    ack = {"user": data["user"], "at": e["occurred_at"]}
    view.alerts[data["alert_id"]]["acknowledgements"].append(ack)


def _alert_closed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    alert = view.alerts[data["alert_id"]]
    alert["status"] = "resolved" if e["type"] == AlertResolved.TYPE else "cancelled"
    alert["closed_note"] = data.get("note")


def _incident_reported(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.incidents[data["incident_id"]] = {
        **data,
        "subject_ids": list(data["subject_ids"]),
        "reported_by": e["actor"]["user"],
        "reported_at": e["occurred_at"],
        "crime_reference": None,
        "status": "open",
        "outcome": None,
    }
    for subject_id in data["subject_ids"]:
        _touch(view, subject_id, e["occurred_at"])


def _incident_subject_linked(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.incidents[data["incident_id"]]["subject_ids"].append(data["subject_id"])
    _touch(view, data["subject_id"], e["occurred_at"])


def _incident_crime_reference(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.incidents[data["incident_id"]]["crime_reference"] = data["crime_reference"]


def _incident_closed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    incident = view.incidents[data["incident_id"]]
    incident["status"] = "closed"
    incident["outcome"] = data["outcome"]


def _sighting_recorded(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.sightings[data["sighting_id"]] = {**data, "recorded_by": e["actor"]["user"]}
    _touch(view, data.get("subject_id"), e["occurred_at"])


def _subject_registered(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.subjects[data["subject_id"]] = {
        "subject_id": data["subject_id"],
        "id_sought": data["id_sought"],
        "personal": data["personal"],
        "photos": [],
        "erased": False,
        "registered_at": e["occurred_at"],
        "last_activity_at": e["occurred_at"],
    }


def _subject_photo_added(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.subjects[data["subject_id"]]["photos"].append(data["photo_id"])
    _touch(view, data["subject_id"], e["occurred_at"])


def _subject_identified(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    subject = view.subjects[data["subject_id"]]
    subject.update(id_sought=False, personal=data["personal"])
    _touch(view, data["subject_id"], e["occurred_at"])


def _subject_erased(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    subject = view.subjects[data["subject_id"]]
    subject.update(erased=True, personal=None, photos=[], erased_at=e["occurred_at"])


def _warning_issued(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.warnings[data["warning_id"]] = {**data, "lapsed": False, "issued_by": e["actor"]["user"]}
    _touch(view, data["subject_id"], e["occurred_at"])


def _warning_lapsed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.warnings[data["warning_id"]]["lapsed"] = True


def _exclusion_terms(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    old = view.exclusions.get(data["exclusion_id"], {})
    view.exclusions[data["exclusion_id"]] = {
        **old,
        **data,
        "status": "proposed" if e["type"] == ExclusionProposed.TYPE else "active",
        "served": False,
        "appealed": False,
        "breaches": old.get("breaches", []),
        "decided_by": e["actor"]["user"],
    }
    _touch(view, data["subject_id"], e["occurred_at"])


_STEPS = {
    events.ExclusionServed.TYPE: ("served", True),
    events.ExclusionAppealed.TYPE: ("appealed", True),
    events.ExclusionRevoked.TYPE: ("status", "revoked"),
    events.ExclusionExpired.TYPE: ("status", "expired"),
}


def _exclusion_step(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    key, value = _STEPS[e["type"]]
    view.exclusions[data["exclusion_id"]][key] = value


def _exclusion_breached(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    breach = {k: data[k] for k in ("venue", "seen_at", "sighting_id", "incident_id")}
    view.exclusions[data["exclusion_id"]]["breaches"].append({**breach, "position": e["position"]})
    _touch(view, data["subject_id"], e["occurred_at"])


def _venue_inspected(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    award = view.awards.setdefault(
        data["venue"], {"venue": data["venue"], "awarded_at": None, "inspections": []}
    )
    inspection = {**data, "recorded_by": e["actor"]["user"]}
    award["inspections"].append(inspection)
    award.update(outcome=data["outcome"], inspected_at=data["inspected_at"], actions=data["actions"])
    if data["outcome"] == "passed":
        award["awarded_at"] = data["inspected_at"]


HANDLERS = {
    events.PartnershipRegistered.TYPE: _partnership_registered,
    events.VenueAdded.TYPE: _venue_added,
    events.VenueChanged.TYPE: _venue_changed,
    events.VenueRemoved.TYPE: _venue_removed,
    events.ChannelOpened.TYPE: _channel_opened,
    events.MemberEnrolled.TYPE: _member_enrolled,
    events.MemberAccessRevoked.TYPE: _member_revoked,
    events.EnrolmentCodeIssued.TYPE: _enrolment_code_issued,
    events.EnrolmentCodeUsed.TYPE: _enrolment_code_used,
    events.AlertBroadcast.TYPE: _alert_broadcast,
    events.AlertAcknowledged.TYPE: _alert_acknowledged,
    events.AlertResolved.TYPE: _alert_closed,
    events.AlertCancelled.TYPE: _alert_closed,
    events.IncidentReported.TYPE: _incident_reported,
    events.IncidentSubjectLinked.TYPE: _incident_subject_linked,
    events.IncidentCrimeReference.TYPE: _incident_crime_reference,
    events.IncidentClosed.TYPE: _incident_closed,
    events.SightingRecorded.TYPE: _sighting_recorded,
    events.SubjectRegistered.TYPE: _subject_registered,
    events.SubjectPhotoAdded.TYPE: _subject_photo_added,
    events.SubjectIdentified.TYPE: _subject_identified,
    events.SubjectErased.TYPE: _subject_erased,
    events.WarningIssued.TYPE: _warning_issued,
    events.WarningLapsed.TYPE: _warning_lapsed,
    events.ExclusionProposed.TYPE: _exclusion_terms,
    events.ExclusionIssued.TYPE: _exclusion_terms,
    events.ExclusionServed.TYPE: _exclusion_step,
    events.ExclusionAppealed.TYPE: _exclusion_step,
    events.ExclusionRevoked.TYPE: _exclusion_step,
    events.ExclusionExpired.TYPE: _exclusion_step,
    events.ExclusionBreached.TYPE: _exclusion_breached,
    events.VenueInspected.TYPE: _venue_inspected,
}


# Event types that change no view (kept in the log for the deciders and auditors).
NO_VIEW = frozenset({events.IncidentNoted.TYPE})


def active_exclusions(view: PartnershipView, at: str) -> list[dict[str, Any]]:
    """Exclusions in force at `at` (an ISO moment): issued, not revoked, not yet ended."""
    return [
        x for x in view.exclusions.values() if x["status"] == "active" and x["starts_at"] <= at < x["ends_at"]
    ]


def fold(partnership: str, events: Any) -> PartnershipView:
    view = PartnershipView(partnership)
    for event in events:
        apply(view, event)
    return view
