"""The views every screen reads, folded from the log one event at a time.

`apply(view, event)` is pure. Personal data stays sealed in the views (and so in
snapshots); the API opens it when it answers, so an erased subject is erased here too.

A view's memory does not grow with the partnership's history. It keeps every active alert
and open incident, and of the records that are done (closed alerts and incidents, every
sighting) the last `KEEP` of each kind and the last `VENUE_KEEP` of each venue; older ones
leave memory in the order they were done, and are read back from the log when asked for
(hub/application/queries.py `record`). What must outlive them is small: each subject
lists the ids of the records that involve it (subject access) and of the stills taken of
it (erasure); `tally` holds the statistics' counts. The events that follow an alert or incident
carry its venue, so their audience is known without it (projections/audience.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemas import events
from schemas.events import AlertResolved, ExclusionProposed

# Done records of each kind a view holds in memory: the partnership's last KEEP (the lists
# show up to 500) and, so that venue staff's lists are not emptied by the other venues, the
# last VENUE_KEEP of each venue. Changing either changes the views: bump snapshots.FORMAT.
KEEP = 500
VENUE_KEEP = 100
RECORDS = ("alerts", "incidents", "sightings")


def _tally() -> dict[str, Any]:
    return {"by_category": {}, "by_venue": {}, "loss_value_total": 0.0, "with_crime_reference": 0}


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
    routine_alert_minutes: int | None = None
    # Done records, oldest first, by window: a kind ("sightings") or a kind at a venue
    # ("sightings@pub"); a record leaves memory once it is in none (projections: `_done`).
    done: dict[str, dict[str, None]] = field(default_factory=dict)
    tally: dict[str, Any] = field(default_factory=_tally)
    bounded: bool = True  # False: every record is kept (an auditor's view as of a moment)

    def to_dict(self) -> dict[str, Any]:
        data = {k: (dict(v) if isinstance(v, Counter) else v) for k, v in vars(self).items()}
        del data["bounded"]  # how this view was folded, not what it holds
        return data

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


def _involve(view: PartnershipView, subject_id: str | None, kind: str, record_id: str, at: str) -> None:
    """Note that a record involves a subject (and count it as the subject's activity)."""
    subject = view.subjects.get(subject_id or "")
    if subject is not None and not subject["erased"]:
        # once each: the deciders name a subject once a record (hub/domain/incident.py)
        subject["involved"][kind].append(record_id)
    _touch(view, subject_id, at)


def _windows(kind: str, record: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """The windows a done record is kept in: its kind's, and its venue's where the venue
    decides who sees it (every incident and sighting; of alerts, the breach alerts)."""
    venue = record["venue"] if kind != "alerts" or record.get("breach_of") else None
    return ((kind, KEEP), (f"{kind}@{venue}", VENUE_KEEP)) if venue else ((kind, KEEP),)


def _done(view: PartnershipView, kind: str, record_id: str) -> None:
    """A record no longer changes much: it joins its windows, and the oldest record of a
    window past its size leaves memory unless another window still keeps it."""
    records = getattr(view, kind)
    for window, size in _windows(kind, records[record_id]):
        done = view.done.setdefault(window, {})
        done[record_id] = None
        if view.bounded and len(done) > size:
            oldest = next(iter(done))
            del done[oldest]
            if not any(oldest in view.done[w] for w, _ in _windows(kind, records[oldest])):
                del records[oldest]


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


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
    view.routine_alert_minutes = data.get("routine_alert_minutes")


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
    _involve(view, data.get("subject_id"), "alerts", data["alert_id"], e["occurred_at"])


def _alert_acknowledged(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    alert = view.alerts.get(data["alert_id"])
    if alert is not None:  # else done long ago, and out of memory: the log has it
        alert["acknowledgements"].append({"user": data["user"], "at": e["occurred_at"]})


def _alert_closed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    alert = view.alerts[data["alert_id"]]  # active, so in memory
    alert["status"] = "resolved" if e["type"] == AlertResolved.TYPE else "cancelled"
    alert["closed_note"] = data.get("note")
    _done(view, "alerts", data["alert_id"])


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
    tally = view.tally
    _count(tally["by_category"], data["category"])
    _count(tally["by_venue"], data["venue"])
    tally["loss_value_total"] = round(tally["loss_value_total"] + data["loss_value"], 2)
    for subject_id in data["subject_ids"]:
        _involve(view, subject_id, "incidents", data["incident_id"], e["occurred_at"])


def _incident_subject_linked(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.incidents[data["incident_id"]]["subject_ids"].append(data["subject_id"])  # open, so in memory
    _involve(view, data["subject_id"], "incidents", data["incident_id"], e["occurred_at"])


def _incident_crime_reference(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    incident = view.incidents.get(data["incident_id"])  # a closed one may be out of memory
    before = data.get("replaces") if incident is None else incident["crime_reference"]
    if before is None:
        view.tally["with_crime_reference"] += 1
    if incident is not None:
        incident["crime_reference"] = data["crime_reference"]


def _incident_closed(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    incident = view.incidents[data["incident_id"]]  # open, so in memory
    incident["status"] = "closed"
    incident["outcome"] = data["outcome"]
    _done(view, "incidents", data["incident_id"])


def _sighting_recorded(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.sightings[data["sighting_id"]] = {**data, "recorded_by": e["actor"]["user"]}
    subject = view.subjects.get(data.get("subject_id") or "")
    if subject is not None and data.get("still_id") and not subject["erased"]:
        subject["stills"].append(data["still_id"])
    _involve(view, data.get("subject_id"), "sightings", data["sighting_id"], e["occurred_at"])
    _done(view, "sightings", data["sighting_id"])


def _subject_registered(view: PartnershipView, data: dict[str, Any], e: dict[str, Any]) -> None:
    view.subjects[data["subject_id"]] = {
        "subject_id": data["subject_id"],
        "id_sought": data["id_sought"],
        "personal": data["personal"],
        "photos": [],
        "stills": [],  # of its sightings
        "involved": {kind: [] for kind in RECORDS},  # ids of the records that involve it
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
    # the photos' and stills' ids stay (random ids, no personal data): a restart that finds
    # the erasure not yet shredded deletes their files (hub/privacy/shredder.py `recover`)
    subject.update(
        erased=True,
        personal=None,
        involved={k: [] for k in RECORDS},
        erased_at=e["occurred_at"],
    )


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


def fold(partnership: str, events: Any, bounded: bool = True) -> PartnershipView:
    view = PartnershipView(partnership, bounded=bounded)
    for event in events:
        apply(view, event)
    return view
