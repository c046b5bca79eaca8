"""The partnership stream: venues, radio channels (nets) and members.

Its state is the set-up every other decision consults (`setup`): which venues and
channels exist, who is enrolled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from hub.domain import Context, NotFound, Rejected
from hub.domain.decider import Decider, Evolution
from schemas.commands import (
    AddVenue,
    ChangeVenue,
    EnrolMember,
    IssueEnrolmentCode,
    OpenChannel,
    RegisterPartnership,
    RemoveVenue,
    RevokeMember,
    UseEnrolmentCode,
)
from schemas.events import (
    ChannelOpened,
    EnrolmentCodeIssued,
    EnrolmentCodeUsed,
    Event,
    MemberAccessRevoked,
    MemberEnrolled,
    PartnershipRegistered,
    Sealed,
    VenueAdded,
    VenueChanged,
    VenueRemoved,
)
from schemas.roles import VENUE_ROLES

STREAM = "partnership"


@dataclass(frozen=True)
class Partnership:
    registered: bool = False
    name: str = ""
    retention_days: int = 365
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: frozenset[str] = frozenset()
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)


Commands = (
    RegisterPartnership
    | AddVenue
    | ChangeVenue
    | RemoveVenue
    | OpenChannel
    | EnrolMember
    | IssueEnrolmentCode
    | UseEnrolmentCode
    | RevokeMember
)


def initial() -> Partnership:
    return Partnership()


def _registered(state: Partnership, data: dict[str, Any]) -> Partnership:
    return replace(state, registered=True, name=data["name"], retention_days=data["retention_days"])


def _venue_added(state: Partnership, data: dict[str, Any]) -> Partnership:
    venue = {"name": data["name"], "kind": data["kind"]}
    return replace(state, venues={**state.venues, data["venue_id"]: venue})


def _venue_changed(state: Partnership, data: dict[str, Any]) -> Partnership:
    old = state.venues[data["venue_id"]]
    new = {k: data.get(k) or old[k] for k in ("name", "kind")}
    return replace(state, venues={**state.venues, data["venue_id"]: new})


def _venue_removed(state: Partnership, data: dict[str, Any]) -> Partnership:
    return replace(state, venues={k: v for k, v in state.venues.items() if k != data["venue_id"]})


def _member_enrolled(state: Partnership, data: dict[str, Any]) -> Partnership:
    member = {"role": data["role"], "venue": data["venue"], "active": True}
    return replace(state, members={**state.members, data["username"]: member})


def _code_issued(state: Partnership, data: dict[str, Any]) -> Partnership:
    codes = {**state.codes, data["code_id"]: {"username": data["username"], "used": False}}
    return replace(state, codes=codes)


def _code_used(state: Partnership, data: dict[str, Any]) -> Partnership:
    codes = {**state.codes, data["code_id"]: {**state.codes[data["code_id"]], "used": True}}
    return replace(state, codes=codes)


def _access_revoked(state: Partnership, data: dict[str, Any]) -> Partnership:
    member = {**state.members[data["username"]], "active": False}
    return replace(state, members={**state.members, data["username"]: member})


EVOLUTIONS: dict[str, Evolution[Partnership]] = {
    PartnershipRegistered.TYPE: _registered,
    VenueAdded.TYPE: _venue_added,
    VenueChanged.TYPE: _venue_changed,
    VenueRemoved.TYPE: _venue_removed,
    ChannelOpened.TYPE: lambda s, d: replace(s, channels=s.channels | {d["channel"]}),
    MemberEnrolled.TYPE: _member_enrolled,
    EnrolmentCodeIssued.TYPE: _code_issued,
    EnrolmentCodeUsed.TYPE: _code_used,
    MemberAccessRevoked.TYPE: _access_revoked,
}


def decide(command: Commands, state: Partnership, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case RegisterPartnership():
            return register(
                state, command.id, command.name, command.retention_days, command.routine_alert_minutes
            )
        case AddVenue():
            return add_venue(state, command.venue_id, command.name, command.kind)
        case ChangeVenue():
            return change_venue(state, command.venue_id, command.name, command.kind)
        case RemoveVenue():
            return remove_venue(state, command.venue_id)
        case OpenChannel():
            return open_channel(state, command.channel, command.name)
        case EnrolMember():
            return enrol(state, command.username, command.role, command.venue, command.password_hash)
        case IssueEnrolmentCode():
            return issue_enrolment_code(
                state, command.username, command.code_id, command.code_hash, command.expires_at
            )
        case UseEnrolmentCode():
            return use_enrolment_code(state, command.username, command.code_id)
        case RevokeMember():
            return revoke_access(state, command.username)
        case _:
            assert_never(command)


def require_venue(setup: Partnership, venue: str | None) -> None:
    """Refuse a venue the partnership does not have (None: no venue named)."""
    if venue is not None and venue not in setup.venues:
        raise Rejected(f"no venue {venue} in this partnership")


def register(
    state: Partnership, id: str, name: str, retention_days: int, routine_alert_minutes: int | None = None
) -> list[Event]:
    if state.registered:
        raise Rejected(f"partnership {id} is already registered")
    data = {
        "id": id,
        "name": name,
        "retention_days": retention_days,
        "routine_alert_minutes": routine_alert_minutes,
    }
    return [PartnershipRegistered(**data), ChannelOpened(channel="main", name="Main net")]


def _require(state: Partnership) -> None:
    if not state.registered:
        raise NotFound("no such partnership")


def add_venue(state: Partnership, venue_id: str, name: str, kind: str) -> list[Event]:
    _require(state)
    if venue_id in state.venues:
        raise Rejected(f"venue {venue_id} already exists")
    return [VenueAdded(venue_id=venue_id, name=name, kind=kind)]


def change_venue(state: Partnership, venue_id: str, name: str | None, kind: str | None) -> list[Event]:
    _require(state)
    if venue_id not in state.venues:
        raise NotFound(f"no venue {venue_id}")
    return [VenueChanged(venue_id=venue_id, name=name, kind=kind)]


def remove_venue(state: Partnership, venue_id: str) -> list[Event]:
    _require(state)
    if venue_id not in state.venues:
        raise NotFound(f"no venue {venue_id}")
    return [VenueRemoved(venue_id=venue_id)]


def open_channel(state: Partnership, channel: str, name: str) -> list[Event]:
    _require(state)
    if channel in state.channels:
        raise Rejected(f"channel {channel} is already open")
    return [ChannelOpened(channel=channel, name=name)]


def enrol(
    state: Partnership, username: str, role: str, venue: str | None, password_hash: Sealed | str
) -> list[Event]:
    """Enrol a member; door and retail staff belong to one of the partnership's venues."""
    _require(state)
    if username in state.members and state.members[username]["active"]:
        raise Rejected(f"member {username} is already enrolled")
    if role in VENUE_ROLES and venue is None:
        raise Rejected(f"a {role} member needs a venue")
    if venue is not None and venue not in state.venues:
        raise Rejected(f"no venue {venue} in this partnership")
    data = {"username": username, "role": role, "venue": venue, "password_hash": password_hash}
    return [MemberEnrolled.model_validate(data)]


def revoke_access(state: Partnership, username: str) -> list[Event]:
    _require(state)
    member = state.members.get(username)
    if member is None or not member["active"]:
        raise NotFound(f"no active member {username}")
    return [MemberAccessRevoked(username=username)]


def issue_enrolment_code(
    state: Partnership, username: str, code_id: str, code_hash: Sealed | str, expires_at: str
) -> list[Event]:
    """A one-time code that signs in one device as this member until it expires."""
    _require(state)
    member = state.members.get(username)
    if member is None or not member["active"]:
        raise NotFound(f"no active member {username}")
    data = {"username": username, "code_id": code_id, "code_hash": code_hash, "expires_at": expires_at}
    return [EnrolmentCodeIssued.model_validate(data)]


def use_enrolment_code(state: Partnership, username: str, code_id: str) -> list[Event]:
    """A code signs in once: a second use is refused."""
    code = state.codes.get(code_id)
    if code is None or code["username"] != username:
        raise NotFound("no such enrolment code")
    if code["used"]:
        raise Rejected("this enrolment code has been used")
    return [EnrolmentCodeUsed(username=username, code_id=code_id)]


decider = Decider.of(STREAM, Commands, lambda command: STREAM, initial, EVOLUTIONS, decide)
evolve = decider.evolve
