"""A subject's record in the exclusion scheme: warnings (yellow cards) and exclusions.

One stream per subject, so the rules that span a subject's history (a second warning
within 12 months, six incident-free months before an appeal) see all of it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, assert_never

from hub.domain import SIX_MONTHS, TWELVE_MONTHS, Context, NotFound, Rejected, iso, parse
from hub.domain.decider import Decider, Evolution, unchanged
from hub.domain.partnership import Partnership, require_venue
from schemas.commands import (
    AppealExclusion,
    ConfirmExclusion,
    ExpireExclusion,
    IssueExclusion,
    IssueWarning,
    LapseWarning,
    PlaceSubject,
    ProposeExclusion,
    RevokeExclusion,
    ServeExclusion,
)
from schemas.events import (
    Event,
    ExclusionAppealed,
    ExclusionBreached,
    ExclusionExpired,
    ExclusionIssued,
    ExclusionProposed,
    ExclusionRevoked,
    ExclusionServed,
    ExclusionStep,
    FreeText,
    IncidentNoted,
    WarningIssued,
    WarningLapsed,
)


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


def _warning_issued(state: Record, data: dict[str, Any]) -> Record:
    warning = {"issued_at": parse(data["issued_at"]), "venues": data["venues"], "lapsed": False}
    return replace(state, warnings={**state.warnings, data["warning_id"]: warning})


def _terms(status: str) -> Evolution[Record]:
    def set_terms(state: Record, data: dict[str, Any]) -> Record:
        terms = {
            "status": status,
            "venues": data["venues"],
            "starts_at": parse(data["starts_at"]),
            "ends_at": parse(data["ends_at"]),
            "reason": data["reason"],
            "served": False,
            "appealed": False,
        }
        return replace(state, exclusions=_set(state.exclusions, data["exclusion_id"], **terms))

    return set_terms


def _step(**changes: Any) -> Evolution[Record]:
    def take_step(state: Record, data: dict[str, Any]) -> Record:
        return replace(state, exclusions=_set(state.exclusions, data["exclusion_id"], **changes))

    return take_step


def _incident_noted(state: Record, data: dict[str, Any]) -> Record:
    return replace(state, incidents={**state.incidents, data["incident_id"]: parse(data["occurred_at"])})


EVOLUTIONS: dict[str, Evolution[Record]] = {
    WarningIssued.TYPE: _warning_issued,
    WarningLapsed.TYPE: lambda s, d: replace(s, warnings=_set(s.warnings, d["warning_id"], lapsed=True)),
    ExclusionProposed.TYPE: _terms("proposed"),
    ExclusionIssued.TYPE: _terms("active"),
    ExclusionServed.TYPE: _step(served=True),
    ExclusionAppealed.TYPE: _step(appealed=True),
    ExclusionRevoked.TYPE: _step(status="revoked"),
    ExclusionExpired.TYPE: _step(status="expired"),
    IncidentNoted.TYPE: _incident_noted,
    ExclusionBreached.TYPE: unchanged,
}

Commands = (
    IssueWarning
    | IssueExclusion
    | ConfirmExclusion
    | ServeExclusion
    | AppealExclusion
    | RevokeExclusion
    | ExpireExclusion
    | LapseWarning
    | ProposeExclusion
    | PlaceSubject
)


def decide(command: Commands, state: Record, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case IssueWarning():
            for venue in command.venues:
                require_venue(setup, venue)
            return issue_warning(
                state, command.warning_id, command.subject_id, command.venues, command.reason, ctx.at
            )
        case IssueExclusion():
            for venue in command.venues:
                require_venue(setup, venue)
            starts = parse(command.starts_at) if command.starts_at else ctx.at
            ends = parse(command.ends_at) if command.ends_at else None
            return issue(
                state, command.exclusion_id, command.subject_id, command.venues, starts, ends, command.reason
            )
        case ConfirmExclusion():
            return confirm(state, command.exclusion_id, command.subject_id, ctx.at)
        case ServeExclusion():
            return serve(state, command.exclusion_id, command.subject_id, command.note)
        case AppealExclusion():
            return appeal(state, command.exclusion_id, command.subject_id, command.note, ctx.at)
        case RevokeExclusion():
            return revoke(state, command.exclusion_id, command.subject_id, command.note)
        case _:
            return _decide_for_processors(command, state, ctx)


def _decide_for_processors(
    command: ExpireExclusion | LapseWarning | ProposeExclusion | PlaceSubject, state: Record, ctx: Context
) -> list[Event]:
    """The commands only the processors give: expiry, lapse, escalation, breach detection."""
    match command:
        case ExpireExclusion():
            return expire(state, command.exclusion_id, command.subject_id, ctx.at)
        case LapseWarning():
            return lapse_warning(state, command.warning_id, command.subject_id, ctx.at)
        case ProposeExclusion():
            return propose_after_warnings(state, command.exclusion_id, command.subject_id, parse(command.at))
        case PlaceSubject():
            seen_at = parse(command.seen_at)
            return place_subject(
                state, command.subject_id, command.venue, seen_at, command.sighting_id, command.incident_id
            )
        case _:
            assert_never(command)


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
    state: Record, warning_id: str, subject_id: str, venues: list[str], reason: FreeText, at: datetime
) -> list[Event]:
    if warning_id in state.warnings:
        raise Rejected(f"warning {warning_id} already exists")
    data = {
        "warning_id": warning_id,
        "subject_id": subject_id,
        "venues": venues,
        "reason": reason,
        "issued_at": iso(at),
    }
    return [WarningIssued(**data)]


def propose_after_warnings(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Event]:
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
    return [ExclusionProposed(**data)]


def issue(
    state: Record,
    exclusion_id: str,
    subject_id: str,
    venues: list[str],
    starts_at: datetime,
    ends_at: datetime | None,
    reason: FreeText,
) -> list[Event]:
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
    return [ExclusionIssued(**data)]


def _exclusion(state: Record, exclusion_id: str) -> dict[str, Any]:
    exclusion = state.exclusions.get(exclusion_id)
    if exclusion is None:
        raise NotFound(f"no exclusion {exclusion_id}")
    return exclusion


def _taken(
    kind: type[ExclusionStep], exclusion_id: str, subject_id: str, note: FreeText | None
) -> list[Event]:
    return [kind(exclusion_id=exclusion_id, subject_id=subject_id, note=note)]


def confirm(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Event]:
    """A coordinator confirms a proposed exclusion: it runs 12 months from now."""
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "proposed":
        raise Rejected(f"exclusion {exclusion_id} is {exclusion['status']}, not proposed")
    return [
        ExclusionIssued(
            exclusion_id=exclusion_id,
            subject_id=subject_id,
            venues=exclusion["venues"],
            starts_at=iso(at),
            ends_at=iso(at + TWELVE_MONTHS),
            reason=exclusion["reason"],
        )
    ]


def serve(state: Record, exclusion_id: str, subject_id: str, note: FreeText | None) -> list[Event]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "active":
        raise Rejected(f"exclusion {exclusion_id} is {exclusion['status']}")
    if exclusion["served"]:
        raise Rejected(f"exclusion {exclusion_id} has already been served")
    return _taken(ExclusionServed, exclusion_id, subject_id, note)


def earliest_appeal(state: Record, exclusion_id: str) -> datetime:
    """Six months after the exclusion began or after the subject's last incident."""
    start: datetime = _exclusion(state, exclusion_id)["starts_at"]
    return max([start, *state.incidents.values()]) + SIX_MONTHS


def appeal(
    state: Record, exclusion_id: str, subject_id: str, note: FreeText | None, at: datetime
) -> list[Event]:
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
    return _taken(ExclusionAppealed, exclusion_id, subject_id, note)


def revoke(state: Record, exclusion_id: str, subject_id: str, note: FreeText | None) -> list[Event]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] not in ("active", "proposed"):
        raise Rejected(f"exclusion {exclusion_id} is already {exclusion['status']}")
    return _taken(ExclusionRevoked, exclusion_id, subject_id, note)


def expire(state: Record, exclusion_id: str, subject_id: str, at: datetime) -> list[Event]:
    exclusion = _exclusion(state, exclusion_id)
    if exclusion["status"] != "active" or at < exclusion["ends_at"]:
        return []
    return _taken(ExclusionExpired, exclusion_id, subject_id, None)


def lapse_warning(state: Record, warning_id: str, subject_id: str, at: datetime) -> list[Event]:
    warning = state.warnings.get(warning_id)
    if warning is None or warning["lapsed"] or at < warning["issued_at"] + TWELVE_MONTHS:
        return []
    return [WarningLapsed(warning_id=warning_id, subject_id=subject_id)]


def place_subject(
    state: Record,
    subject_id: str,
    venue: str,
    seen_at: datetime,
    sighting_id: str | None = None,
    incident_id: str | None = None,
) -> list[Event]:
    """Breach detection: the subject was placed at a venue by a sighting or an incident.

    An incident is noted on the record (it resets the six incident-free months); every
    exclusion active at that moment whose scope covers the venue records a breach.
    """
    facts: list[Event] = []
    if incident_id is not None and incident_id not in state.incidents:
        noted = {"subject_id": subject_id, "incident_id": incident_id, "occurred_at": iso(seen_at)}
        facts.append(IncidentNoted(**noted))
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
            facts.append(ExclusionBreached(**breach))
    return facts


decider = Decider.of("exclusion", Commands, lambda c: stream(c.subject_id), initial, EVOLUTIONS, decide)
evolve = decider.evolve
