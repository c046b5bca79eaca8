"""The partnership stream: venues, radio channels (nets) and members."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hub.domain import Fact, NotFound, Rejected

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


def initial() -> Partnership:
    return Partnership()


def evolve(state: Partnership, type: str, data: dict[str, Any]) -> Partnership:
    if type == "partnership.registered":
        return replace(state, registered=True, name=data["name"], retention_days=data["retention_days"])
    if type == "venue.added":
        venue = {"name": data["name"], "kind": data["kind"]}
        return replace(state, venues={**state.venues, data["venue_id"]: venue})
    if type == "venue.changed":
        old = state.venues[data["venue_id"]]
        new = {k: data.get(k) or old[k] for k in ("name", "kind")}
        return replace(state, venues={**state.venues, data["venue_id"]: new})
    if type == "venue.removed":
        venues = {k: v for k, v in state.venues.items() if k != data["venue_id"]}
        return replace(state, venues=venues)
    if type == "channel.opened":
        return replace(state, channels=state.channels | {data["channel"]})
    if type == "member.enrolled":
        member = {"role": data["role"], "venue": data["venue"], "active": True}
        return replace(state, members={**state.members, data["username"]: member})
    if type == "member.enrolment_code_issued":
        codes = {**state.codes, data["code_id"]: {"username": data["username"], "used": False}}
        return replace(state, codes=codes)
    if type == "member.enrolment_code_used":
        codes = {**state.codes, data["code_id"]: {**state.codes[data["code_id"]], "used": True}}
        return replace(state, codes=codes)
    if type == "member.access_revoked":
        member = {**state.members[data["username"]], "active": False}
        return replace(state, members={**state.members, data["username"]: member})
    return state


def register(state: Partnership, id: str, name: str, retention_days: int) -> list[Fact]:
    if state.registered:
        raise Rejected(f"partnership {id} is already registered")
    data = {"id": id, "name": name, "retention_days": retention_days}
    return [
        Fact("partnership.registered", data),
        Fact("channel.opened", {"channel": "main", "name": "Main net"}),
    ]


def _require(state: Partnership) -> None:
    if not state.registered:
        raise NotFound("no such partnership")


def add_venue(state: Partnership, venue_id: str, name: str, kind: str) -> list[Fact]:
    _require(state)
    if venue_id in state.venues:
        raise Rejected(f"venue {venue_id} already exists")
    return [Fact("venue.added", {"venue_id": venue_id, "name": name, "kind": kind})]


def change_venue(state: Partnership, venue_id: str, name: str | None, kind: str | None) -> list[Fact]:
    _require(state)
    if venue_id not in state.venues:
        raise NotFound(f"no venue {venue_id}")
    return [Fact("venue.changed", {"venue_id": venue_id, "name": name, "kind": kind})]


def remove_venue(state: Partnership, venue_id: str) -> list[Fact]:
    _require(state)
    if venue_id not in state.venues:
        raise NotFound(f"no venue {venue_id}")
    return [Fact("venue.removed", {"venue_id": venue_id})]


def open_channel(state: Partnership, channel: str, name: str) -> list[Fact]:
    _require(state)
    if channel in state.channels:
        raise Rejected(f"channel {channel} is already open")
    return [Fact("channel.opened", {"channel": channel, "name": name})]


VENUE_ROLES = ("door_staff", "retail_staff")


def enrol(
    state: Partnership, username: str, role: str, venue: str | None, password_hash: dict[str, str] | str
) -> list[Fact]:
    """Enrol a member; door and retail staff belong to one of the partnership's venues."""
    _require(state)
    if username in state.members and state.members[username]["active"]:
        raise Rejected(f"member {username} is already enrolled")
    if role in VENUE_ROLES and venue is None:
        raise Rejected(f"a {role} member needs a venue")
    if venue is not None and venue not in state.venues:
        raise Rejected(f"no venue {venue} in this partnership")
    data = {"username": username, "role": role, "venue": venue, "password_hash": password_hash}
    return [Fact("member.enrolled", data)]


def revoke_access(state: Partnership, username: str) -> list[Fact]:
    _require(state)
    member = state.members.get(username)
    if member is None or not member["active"]:
        raise NotFound(f"no active member {username}")
    return [Fact("member.access_revoked", {"username": username})]


def issue_enrolment_code(
    state: Partnership, username: str, code_id: str, code_hash: dict[str, str] | str, expires_at: str
) -> list[Fact]:
    """A one-time code that signs in one device as this member until it expires."""
    _require(state)
    member = state.members.get(username)
    if member is None or not member["active"]:
        raise NotFound(f"no active member {username}")
    data = {"username": username, "code_id": code_id, "code_hash": code_hash, "expires_at": expires_at}
    return [Fact("member.enrolment_code_issued", data)]


def use_enrolment_code(state: Partnership, username: str, code_id: str) -> list[Fact]:
    """A code signs in once: a second use is refused."""
    code = state.codes.get(code_id)
    if code is None or code["username"] != username:
        raise NotFound("no such enrolment code")
    if code["used"]:
        raise Rejected("this enrolment code has been used")
    return [Fact("member.enrolment_code_used", {"username": username, "code_id": code_id})]
