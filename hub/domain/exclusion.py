"""A subject's record in the exclusion scheme: warnings (yellow cards) and exclusions.

One stream per subject, so the rules that span a subject's history (a second warning
within 12 months, six incident-free months before an appeal) see all of it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.domain import SIX_MONTHS, TWELVE_MONTHS, Fact, NotFound, Rejected, iso, parse


@dataclass(frozen=True)
class Record:
    warnings: dict[str, dict[str, Any]] = field(default_factory=dict)
    exclusions: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, datetime] = field(default_factory=dict)


def stream(subject_id: str) -> str:
    return f"exclusion-{subject_id}"


def initial() -> Record:
    return Record()


def _set(mapping: dict[str, dict[str, Any]], key: str, **changes: Any) -> dict[str, dict[str, Any]]:
    return {**mapping, key: {**mapping.get(key, {}), **changes}}


def evolve(state: Record, type: str, data: dict[str, Any]) -> Record:
    if type == "warning.issued":
        warning = {"issued_at": parse(data["issued_at"]), "venues": data["venues"], "lapsed": False}
        return replace(state, warnings={**state.warnings, data["warning_id"]: warning})
    if type == "warning.lapsed":
        return replace(state, warnings=_set(state.warnings, data["warning_id"], lapsed=True))
    if type in ("exclusion.proposed", "exclusion.issued"):
        terms = {
            "status": "proposed" if type == "exclusion.proposed" else "active",
            "venues": data["venues"],
            "starts_at": parse(data["starts_at"]),
            "ends_at": parse(data["ends_at"]),
            "reason": data["reason"],
            "served": False,
            "appealed": False,
        }
        return replace(state, exclusions=_set(state.exclusions, data["exclusion_id"], **terms))
    steps: dict[str, dict[str, Any]] = {
        "exclusion.served": {"served": True},
        "exclusion.appealed": {"appealed": True},
        "exclusion.revoked": {"status": "revoked"},
        "exclusion.expired": {"status": "expired"},
    }
    step = steps.get(type)
    if step is not None:
        return replace(state, exclusions=_set(state.exclusions, data["exclusion_id"], **step))
    if type == "exclusion.incident_noted":
        incidents = {**state.incidents, data["incident_id"]: parse(data["occurred_at"])}
        return replace(state, incidents=incidents)
    return state


def live_warnings(state: Record, at: datetime) -> list[str]:
    """Warnings issued within the 12 months before `at` that have not lapsed."""
    return [
        warning_id
        for warning_id, w in state.warnings.items()
        if not w["lapsed"] and at - TWELVE_MONTHS < w["issued_at"] <= at
    ]


def in_scope(venues: list[str], venue: str) -> bool:
    """An empty venue list means the whole partnership."""
    return not venues or venue in venues


def is_active(exclusion: dict[str, Any], at: datetime) -> bool:
    return bool(exclusion["status"] == "active" and exclusion["starts_at"] <= at < exclusion["ends_at"])


def issue_warning(
    state: Record, warning_id: str, subject_id: str, venues: list[str], reason: str, at: datetime
) -> list[Fact]:
    if warning_id in state.warnings:
        raise Rejected(f"warning {warning_id} already exists")
    data = {
        "warning_id": warning_id,
        "subject_id": subject_id,
        "venues": venues,
        "reason": reason,
        "issued_at": iso(at),
    }
    return [Fact("warning.issued", data)]


def propose_after_warnings(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Fact]:
    """Warning escalation: a second live warning proposes a 12-month exclusion."""
    warnings = live_warnings(state, at)
    if len(warnings) < 2:
        return []
    pending = [e for e in state.exclusions.values() if e["status"] == "proposed" or is_active(e, at)]
    if pending or exclusion_id in state.exclusions:
        return []
    scopes = [state.warnings[w]["venues"] for w in warnings]
    venues = [] if any(not s for s in scopes) else sorted({v for s in scopes for v in s})
    data = {
        "exclusion_id": exclusion_id,
        "subject_id": subject_id,
        "venues": venues,
        "starts_at": iso(at),
        "ends_at": iso(at + TWELVE_MONTHS),
        "reason": f"second warning within 12 months ({', '.join(sorted(warnings))})",
        "warnings": sorted(warnings),
    }
    return [Fact("exclusion.proposed", data)]


def issue(
    state: Record,
    exclusion_id: str,
    subject_id: str,
    venues: list[str],
    starts_at: datetime,
    ends_at: datetime | None,
    reason: str,
) -> list[Fact]:
    """Issue an exclusion notice on the board's decision: 12 months unless stated."""
    if exclusion_id in state.exclusions:
        raise Rejected(f"exclusion {exclusion_id} already exists")
    end = ends_at or starts_at + TWELVE_MONTHS
    if end <= starts_at:
        raise Rejected("ends_at must be after starts_at")
    data = {
        "exclusion_id": exclusion_id,
        "subject_id": subject_id,
        "venues": venues,
        "starts_at": iso(starts_at),
        "ends_at": iso(end),
        "reason": reason,
    }
    return [Fact("exclusion.issued", data)]


def _exclusion(state: Record, exclusion_id: str) -> dict[str, Any]:
    exclusion = state.exclusions.get(exclusion_id)
    if exclusion is None:
        raise NotFound(f"no exclusion {exclusion_id}")
    return exclusion


def _step(type: str, exclusion_id: str, subject_id: str, note: str | None) -> list[Fact]:
    return [Fact(type, {"exclusion_id": exclusion_id, "subject_id": subject_id, "note": note})]


def confirm(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Fact]:
    """A coordinator confirms a proposed exclusion: it runs 12 months from now."""
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "proposed":
        raise Rejected(f"exclusion {exclusion_id} is {exclusion['status']}, not proposed")
    return [
        Fact(
            "exclusion.issued",
            {
                "exclusion_id": exclusion_id,
                "subject_id": subject_id,
                "venues": exclusion["venues"],
                "starts_at": iso(at),
                "ends_at": iso(at + TWELVE_MONTHS),
                "reason": exclusion["reason"],
            },
        )
    ]


def serve(state: Record, exclusion_id: str, subject_id: str, note: str | None) -> list[Fact]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "active":
        raise Rejected(f"exclusion {exclusion_id} is {exclusion['status']}")
    if exclusion["served"]:
        raise Rejected(f"exclusion {exclusion_id} has already been served")
    return _step("exclusion.served", exclusion_id, subject_id, note)


def earliest_appeal(state: Record, exclusion_id: str) -> datetime:
    """Six months after the exclusion began or after the subject's last incident."""
    start: datetime = _exclusion(state, exclusion_id)["starts_at"]
    return max([start, *state.incidents.values()]) + SIX_MONTHS


def appeal(state: Record, exclusion_id: str, subject_id: str, note: str | None, at: datetime) -> list[Fact]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "active":
        raise Rejected(f"exclusion {exclusion_id} is {exclusion['status']}")
    if exclusion["appealed"]:
        raise Rejected(f"exclusion {exclusion_id} has already been appealed")
    earliest = earliest_appeal(state, exclusion_id)
    if at < earliest:
        raise Rejected(
            f"an appeal may be made after six months with no further incidents: not before {iso(earliest)}"
        )
    return _step("exclusion.appealed", exclusion_id, subject_id, note)


def revoke(state: Record, exclusion_id: str, subject_id: str, note: str | None) -> list[Fact]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] not in ("active", "proposed"):
        raise Rejected(f"exclusion {exclusion_id} is already {exclusion['status']}")
    return _step("exclusion.revoked", exclusion_id, subject_id, note)


def expire(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Fact]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "active" or at < exclusion["ends_at"]:
        return []
    return _step("exclusion.expired", exclusion_id, subject_id, None)


def lapse_warning(state: Record, warning_id: str, subject_id: str, at: datetime) -> list[Fact]:
    warning = state.warnings.get(warning_id)
    if warning is None or warning["lapsed"] or at < warning["issued_at"] + TWELVE_MONTHS:
        return []
    return [Fact("warning.lapsed", {"warning_id": warning_id, "subject_id": subject_id})]


def place_subject(
    state: Record,
    subject_id: str,
    venue: str,
    seen_at: datetime,
    sighting_id: str | None = None,
    incident_id: str | None = None,
) -> list[Fact]:
    """Breach detection: the subject was placed at a venue by a sighting or an incident.

    An incident is noted on the record (it resets the six incident-free months); every
    exclusion active at that moment whose scope covers the venue records a breach.
    """
    facts = []
    if incident_id is not None and incident_id not in state.incidents:
        noted = {"subject_id": subject_id, "incident_id": incident_id, "occurred_at": iso(seen_at)}
        facts.append(Fact("exclusion.incident_noted", noted))
    for exclusion_id, exclusion in sorted(state.exclusions.items()):
        if is_active(exclusion, seen_at) and in_scope(exclusion["venues"], venue):
            breach = {
                "exclusion_id": exclusion_id,
                "subject_id": subject_id,
                "venue": venue,
                "seen_at": iso(seen_at),
                "sighting_id": sighting_id,
                "incident_id": incident_id,
            }
            facts.append(Fact("exclusion.breached", breach))
    return facts
