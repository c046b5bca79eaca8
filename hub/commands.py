"""Every command the hub accepts, as data: an action name and its arguments.

`plan` maps a command to the stream it writes and the pure decision to take there.
The API, the processors and (in Kafka mode) the worker all submit commands this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.domain import (
    Command,
    Context,
    Fact,
    Rejected,
    alert,
    exclusion,
    incident,
    parse,
    partnership,
    sighting,
    subject,
)
from hub.domain.partnership import Partnership


@dataclass(frozen=True)
class Plan:
    """The stream a command writes and the decision to take there.

    `creates` marks a command that starts a new stream under a fresh id: its state is
    the initial one without reading the log (were the id taken, the append conflicts).
    """

    stream: str
    decide: Callable[[Any], list[Fact]]
    answer: dict[str, Any] = field(default_factory=dict)
    creates: bool = False


def _venue(setup: Partnership, venue: str | None) -> None:
    if venue is not None and venue not in setup.venues:
        raise Rejected(f"no venue {venue} in this partnership")


def plan(command: Command, ctx: Context, setup: Partnership) -> Plan:
    """The stream and decision for a command, given the partnership's set-up."""
    a = command.args
    action = command.action
    at = ctx.at
    if action == "register_partnership":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.register(s, a["id"], a["name"], a["retention_days"]),
            {"id": a["id"]},
        )
    if not setup.registered:
        raise Rejected("no such partnership")
    if action == "add_venue":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.add_venue(s, a["venue_id"], a["name"], a["kind"]),
            {"id": a["venue_id"]},
        )
    if action == "change_venue":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.change_venue(s, a["venue_id"], a.get("name"), a.get("kind")),
            {"id": a["venue_id"]},
        )
    if action == "remove_venue":
        return Plan(
            partnership.STREAM, lambda s: partnership.remove_venue(s, a["venue_id"]), {"id": a["venue_id"]}
        )
    if action == "open_channel":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.open_channel(s, a["channel"], a["name"]),
            {"id": a["channel"]},
        )
    if action == "enrol_member":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.enrol(s, a["username"], a["role"], a["venue"], a["password_hash"]),
            {"id": a["username"]},
        )
    if action == "issue_enrolment_code":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.issue_enrolment_code(
                s, a["username"], a["code_id"], a["code_hash"], a["expires_at"]
            ),
            {"id": a["code_id"]},
        )
    if action == "use_enrolment_code":
        return Plan(
            partnership.STREAM,
            lambda s: partnership.use_enrolment_code(s, a["username"], a["code_id"]),
            {"id": a["code_id"]},
        )
    if action == "revoke_member":
        return Plan(
            partnership.STREAM, lambda s: partnership.revoke_access(s, a["username"]), {"id": a["username"]}
        )
    if action == "broadcast_alert":
        _venue(setup, a.get("venue"))
        return Plan(
            alert.stream(a["alert_id"]),
            lambda s: alert.broadcast(s, a, setup.channels),
            {"id": a["alert_id"]},
            creates=True,
        )
    if action == "acknowledge_alert":
        return Plan(
            alert.stream(a["alert_id"]),
            lambda s: alert.acknowledge(s, a["alert_id"], ctx.user),
            {"id": a["alert_id"]},
        )
    if action == "close_alert":
        return Plan(
            alert.stream(a["alert_id"]),
            lambda s: alert.close(s, a["alert_id"], a.get("note"), a.get("cancelled", False)),
            {"id": a["alert_id"]},
        )
    if action == "register_subject":
        return Plan(
            subject.stream(a["subject_id"]),
            lambda s: subject.register(s, a["subject_id"], a["personal"], a.get("id_sought", False)),
            {"id": a["subject_id"]},
            creates=True,
        )
    if action == "add_photo":
        return Plan(
            subject.stream(a["subject_id"]),
            lambda s: subject.add_photo(s, a["subject_id"], a["photo_id"]),
            {"id": a["photo_id"]},
        )
    if action == "identify_subject":
        return Plan(
            subject.stream(a["subject_id"]),
            lambda s: subject.identify(s, a["subject_id"], a["personal"]),
            {"id": a["subject_id"]},
        )
    if action == "erase_subject":
        return Plan(
            subject.stream(a["subject_id"]),
            lambda s: subject.erase(s, a["subject_id"], a["reason"]),
            {"id": a["subject_id"]},
        )
    if action == "issue_warning":
        for venue in a["venues"]:
            _venue(setup, venue)
        return Plan(
            exclusion.stream(a["subject_id"]),
            lambda s: exclusion.issue_warning(
                s, a["warning_id"], a["subject_id"], a["venues"], a["reason"], at
            ),
            {"id": a["warning_id"]},
        )
    if action == "issue_exclusion":
        for venue in a["venues"]:
            _venue(setup, venue)
        starts = parse(a["starts_at"]) if a.get("starts_at") else at
        ends = parse(a["ends_at"]) if a.get("ends_at") else None
        return Plan(
            exclusion.stream(a["subject_id"]),
            lambda s: exclusion.issue(
                s, a["exclusion_id"], a["subject_id"], a["venues"], starts, ends, a["reason"]
            ),
            {"id": a["exclusion_id"]},
        )
    steps: dict[str, Callable[[Any], list[Fact]]] = {
        "confirm_exclusion": lambda s: exclusion.confirm(s, a["exclusion_id"], a["subject_id"], at),
        "serve_exclusion": lambda s: exclusion.serve(s, a["exclusion_id"], a["subject_id"], a.get("note")),
        "appeal_exclusion": lambda s: exclusion.appeal(
            s, a["exclusion_id"], a["subject_id"], a.get("note"), at
        ),
        "revoke_exclusion": lambda s: exclusion.revoke(s, a["exclusion_id"], a["subject_id"], a.get("note")),
        "expire_exclusion": lambda s: exclusion.expire(s, a["exclusion_id"], a["subject_id"], at),
    }
    if action in steps:
        return Plan(exclusion.stream(a["subject_id"]), steps[action], {"id": a["exclusion_id"]})
    if action == "lapse_warning":
        return Plan(
            exclusion.stream(a["subject_id"]),
            lambda s: exclusion.lapse_warning(s, a["warning_id"], a["subject_id"], at),
            {"id": a["warning_id"]},
        )
    if action == "propose_exclusion":
        return Plan(
            exclusion.stream(a["subject_id"]),
            lambda s: exclusion.propose_after_warnings(s, a["exclusion_id"], a["subject_id"], parse(a["at"])),
            {"id": a["exclusion_id"]},
        )
    if action == "place_subject":
        return Plan(
            exclusion.stream(a["subject_id"]),
            lambda s: exclusion.place_subject(
                s,
                a["subject_id"],
                a["venue"],
                parse(a["seen_at"]),
                a.get("sighting_id"),
                a.get("incident_id"),
            ),
        )
    if action == "breach_alert":
        name = setup.venues.get(a["venue"], {}).get("name", a["venue"])
        body = {
            "alert_id": a["alert_id"],
            "channel": "main",
            "priority": "urgent",
            "text": f"Exclusion breach at {name}: excluded subject seen (exclusion {a['exclusion_id']})",
            "venue": a["venue"],
            "location": None,
            "subject_id": a["subject_id"],
            "breach_of": a["exclusion_id"],
        }
        return Plan(
            alert.stream(a["alert_id"]),
            lambda s: alert.broadcast(s, body, setup.channels),
            {"id": a["alert_id"]},
        )
    if action == "record_sighting":
        return Plan(
            sighting.stream(a["sighting_id"]),
            lambda s: sighting.record(s, a, setup.venues),
            {"id": a["sighting_id"]},
            creates=True,
        )
    if action == "report_incident":
        return Plan(
            incident.stream(a["incident_id"]),
            lambda s: incident.report(s, a, setup.venues),
            {"id": a["incident_id"]},
            creates=True,
        )
    if action == "link_subject":
        return Plan(
            incident.stream(a["incident_id"]),
            lambda s: incident.link_subject(s, a["incident_id"], a["subject_id"]),
            {"id": a["incident_id"]},
        )
    if action == "record_crime_reference":
        return Plan(
            incident.stream(a["incident_id"]),
            lambda s: incident.record_crime_reference(s, a["incident_id"], a["crime_reference"]),
            {"id": a["incident_id"]},
        )
    if action == "close_incident":
        return Plan(
            incident.stream(a["incident_id"]),
            lambda s: incident.close(s, a["incident_id"], a["outcome"]),
            {"id": a["incident_id"]},
        )
    raise ValueError(f"unknown action {action!r}")
