"""Processors: breach detection, warning escalation, breach alerts, expiry and retention.

Each is pure: an event (or a clock reading and a view) in, commands out. A command's
command id is derived from its cause, so running a processor twice over the same
event writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.domain import TWELVE_MONTHS, Command, iso, parse

SYSTEM = "hub"


def react(event: dict[str, Any]) -> list[Command]:
    """Commands that follow from one event in the log."""
    kind, data, cause = event["type"], event["data"], event["id"]
    if kind == "sighting.recorded" and data.get("subject_id"):
        args = {
            "subject_id": data["subject_id"],
            "venue": data["venue"],
            "seen_at": data["seen_at"],
            "sighting_id": data["sighting_id"],
        }
        return [Command(f"place:{cause}", "place_subject", args, cause)]
    if kind == "incident.reported":
        return [
            Command(
                f"place:{cause}:{subject_id}",
                "place_subject",
                {
                    "subject_id": subject_id,
                    "venue": data["venue"],
                    "seen_at": data["occurred_at"],
                    "incident_id": data["incident_id"],
                },
                cause,
            )
            for subject_id in data["subject_ids"]
        ]
    if kind == "incident.subject_linked":
        args = {
            "subject_id": data["subject_id"],
            "venue": data["venue"],
            "seen_at": data["occurred_at"],
            "incident_id": data["incident_id"],
        }
        return [Command(f"place:{cause}", "place_subject", args, cause)]
    if kind == "warning.issued":
        args = {
            "subject_id": data["subject_id"],
            "exclusion_id": f"x{cause[-16:]}",
            "at": event["occurred_at"],
        }
        return [Command(f"escalate:{cause}", "propose_exclusion", args, cause)]
    if kind == "exclusion.breached":
        args = {
            "alert_id": f"b{cause[-16:]}",
            "exclusion_id": data["exclusion_id"],
            "subject_id": data["subject_id"],
            "venue": data["venue"],
        }
        return [Command(f"breach-alert:{cause}", "breach_alert", args, cause)]
    return []


def due(view: Any, now: datetime) -> list[Command]:
    """Commands the clock makes due: expiries, lapsed warnings and retention erasures."""
    at = iso(now)
    commands = [
        Command(
            f"expire:{x['exclusion_id']}",
            "expire_exclusion",
            {"subject_id": x["subject_id"], "exclusion_id": x["exclusion_id"]},
        )
        for x in view.exclusions.values()
        if x["status"] == "active" and x["ends_at"] <= at
    ]
    commands += [
        Command(
            f"lapse:{w['warning_id']}",
            "lapse_warning",
            {"subject_id": w["subject_id"], "warning_id": w["warning_id"]},
        )
        for w in view.warnings.values()
        if not w["lapsed"] and parse(w["issued_at"]) + TWELVE_MONTHS <= now
    ]
    retention_cutoff = iso(now - timedelta(days=view.retention_days))
    held = {x["subject_id"] for x in view.exclusions.values() if x["status"] in ("active", "proposed")}
    commands += [
        Command(
            f"retention:{s['subject_id']}",
            "erase_subject",
            {"subject_id": s["subject_id"], "reason": "retention period ended"},
        )
        for s in view.subjects.values()
        if not s["erased"] and s["subject_id"] not in held and s["last_activity_at"] < retention_cutoff
    ]
    return commands
