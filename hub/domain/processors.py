"""Processors: breach detection, warning escalation, breach alerts, expiry and retention.

Each is pure: an event (or a clock reading and a view) in, commands out. A command's
id is derived from its cause, so running a processor twice over the same event writes
nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.domain import TWELVE_MONTHS, Actor, iso, parse
from schemas.commands import (
    CloseAlert,
    EraseSubject,
    ExpireExclusion,
    LapseWarning,
    PlaceSubject,
    ProposeExclusion,
    RaiseBreachAlert,
    Submission,
)
from schemas.events import (
    ExclusionBreached,
    IncidentReported,
    IncidentSubjectLinked,
    SightingRecorded,
    WarningIssued,
)

SYSTEM = "hub"
# Who the processors act as: their commands follow from what the log already holds.
PROCESSOR = Actor(SYSTEM, "system")


def _place(command_id: str, cause: str, subject_id: str, venue: str, seen_at: str, **by: str) -> Submission:
    """Breach detection: the subject was placed at a venue, by a sighting or an incident."""
    return Submission(
        command_id, PlaceSubject(subject_id=subject_id, venue=venue, seen_at=seen_at, **by), cause
    )


def react(event: dict[str, Any]) -> list[Submission]:
    """Commands that follow from one event in the log."""
    kind, data, cause = event["type"], event["data"], event["id"]
    if kind == SightingRecorded.TYPE and data.get("subject_id"):
        by = {"sighting_id": data["sighting_id"]}
        return [_place(f"place:{cause}", cause, data["subject_id"], data["venue"], data["seen_at"], **by)]
    if kind == IncidentReported.TYPE:
        by = {"incident_id": data["incident_id"]}
        return [
            _place(f"place:{cause}:{subject}", cause, subject, data["venue"], data["occurred_at"], **by)
            for subject in data["subject_ids"]
        ]
    if kind == IncidentSubjectLinked.TYPE:
        by = {"incident_id": data["incident_id"]}
        return [_place(f"place:{cause}", cause, data["subject_id"], data["venue"], data["occurred_at"], **by)]
    if kind == WarningIssued.TYPE:
        escalate = ProposeExclusion(
            subject_id=data["subject_id"], exclusion_id=f"x{cause[-16:]}", at=event["occurred_at"]
        )
        return [Submission(f"escalate:{cause}", escalate, cause)]
    if kind == ExclusionBreached.TYPE:
        alert = RaiseBreachAlert(
            alert_id=f"b{cause[-16:]}",
            exclusion_id=data["exclusion_id"],
            subject_id=data["subject_id"],
            venue=data["venue"],
        )
        return [Submission(f"breach-alert:{cause}", alert, cause)]
    return []


def due(view: Any, now: datetime) -> list[Submission]:
    """Commands the clock makes due: expiries, lapsed warnings, retention erasures and
    routine alerts that close by themselves."""
    at = iso(now)
    commands = [
        Submission(
            f"expire:{x['exclusion_id']}",
            ExpireExclusion(subject_id=x["subject_id"], exclusion_id=x["exclusion_id"]),
        )
        for x in view.exclusions.values()
        if x["status"] == "active" and x["ends_at"] <= at
    ]
    commands += [
        Submission(
            f"lapse:{w['warning_id']}",
            LapseWarning(subject_id=w["subject_id"], warning_id=w["warning_id"]),
        )
        for w in view.warnings.values()
        if not w["lapsed"] and parse(w["issued_at"]) + TWELVE_MONTHS <= now
    ]
    retention_cutoff = iso(now - timedelta(days=view.retention_days))
    held = {x["subject_id"] for x in view.exclusions.values() if x["status"] in ("active", "proposed")}
    commands += [
        Submission(
            f"retention:{s['subject_id']}",
            EraseSubject(subject_id=s["subject_id"], reason="retention period ended"),
        )
        for s in view.subjects.values()
        if not s["erased"] and s["subject_id"] not in held and s["last_activity_at"] < retention_cutoff
    ]
    return commands + _routine_alerts_done(view, now)


# After an outage, thousands may be due at once: closed this many a tick (a second), so a
# tick does not issue again every command still in flight from the last.
ROUTINE_CLOSES_PER_TICK = 200


def _routine_alerts_done(view: Any, now: datetime) -> list[Submission]:
    """Routine alerts posted `routine_alert_minutes` ago or more and still active (the
    partnership's setting; None: they stay until someone closes them). Alerts are held in
    the order they were written, which is the order they were posted (but for the clocks
    of two Kafka workers, one after the other, that disagree: a later alert then closes up
    to that difference late), so the search stops at the first one posted since."""
    minutes = view.routine_alert_minutes
    if not minutes:
        return []
    cutoff = iso(now - timedelta(minutes=minutes))
    note = f"closed by itself {minutes} minutes after it was posted"
    commands: list[Submission] = []
    for alert in view.alerts.values():
        if alert["posted_at"] > cutoff or len(commands) == ROUTINE_CLOSES_PER_TICK:
            break
        if alert["status"] == "active" and alert["priority"] == "routine":
            close = CloseAlert(alert_id=alert["alert_id"], note=note)
            commands.append(Submission(f"routine-done:{alert['alert_id']}", close))
    return commands
