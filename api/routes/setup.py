"""Sign-in, partnerships, venues, radio channels and members."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request

from api.access import May, member_of, require
from api.answers import answers
from api.auth import EVERY_PARTNERSHIP, TOKEN_SECONDS, issue_token
from api.common import Signed, ensure, hub_of, submit
from api.throttle import SignIns
from hub.bootstrap import SYSTEM_PARTNERSHIP, Hub
from hub.domain import Actor, Rejected, iso
from hub.privacy.passwords import check_password, hash_password, weakness
from projections.audience import Viewer
from schemas import commands
from schemas.bodies import (
    AddVenue,
    ChangeVenue,
    EnrolMember,
    EnrolmentCode,
    OpenChannel,
    RegisterPartnership,
)
from schemas.commands import Submission
from schemas.roles import capabilities, enrols

router = APIRouter(prefix="/v1")


@router.post("/auth/token", tags=["auth"], responses=answers(401, 429, 503))
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
) -> dict[str, Any]:
    """OAuth2 password flow: a signed token valid for an hour. The password may also be a
    one-time enrolment code that a coordinator issued for a device; it works once. Failed
    sign-ins are throttled per account and per address (429 with Retry-After)."""
    hub = hub_of(request)
    sign_ins: SignIns = request.app.state.sign_ins
    address = request.client.host if request.client else ""
    wait = sign_ins.retry_after(username, address)
    if wait is not None:
        raise HTTPException(
            429, "too many failed sign-ins: try again later", headers={"Retry-After": str(wait)}
        )
    found = hub.queries.users().get(username)
    member = found[1] if found and found[1]["active"] else None
    stored = hub.queries.password_hash(member) if member else None
    if not await asyncio.to_thread(check_password, stored, password):
        code_id = await asyncio.to_thread(_matching_code, hub, member, password) if member else None
        if code_id is None:
            sign_ins.failed(username, address)
            raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
        assert found is not None and member is not None
        use = Submission(hub.new_id(), commands.UseEnrolmentCode(username=username, code_id=code_id))
        try:
            await hub.submit(found[0], use, Actor(username, member["role"]))
        except Rejected as error:
            raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    assert found is not None and member is not None
    sign_ins.succeeded(username)
    partnership = found[0]
    partnerships = frozenset({EVERY_PARTNERSHIP if partnership == SYSTEM_PARTNERSHIP else partnership})
    viewer = Viewer(username, member["role"], partnerships, member["venue"])
    token = issue_token(request.app.state.secret, viewer)
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS}


# A device code: its tag (the last four hex digits of its code id, which says which of a
# member's codes it is), then three random groups. Only a password of that shape is tried
# as a code, and only against the codes with its tag: a failed sign-in costs one argon2
# check however many codes are outstanding, and takes as long for every member.
CODE_SHAPE = re.compile(r"[0-9A-F]{4}(?:-[0-9A-F]{4}){3}")


def new_code(code_id: str) -> str:
    return "-".join([code_id[-4:].upper(), *(secrets.token_hex(2).upper() for _ in range(3))])


def candidate_codes(member: dict[str, Any], text: str, now: str) -> list[str]:
    """The ids of this member's unused, unexpired codes that `text` could be."""
    typed = text.strip().upper()
    if not CODE_SHAPE.fullmatch(typed):
        return []
    return [
        code_id
        for code_id, issued in member.get("codes", {}).items()
        if not issued["used"] and issued["expires_at"] > now and code_id[-4:].upper() == typed[:4]
    ]


def _matching_code(hub: Hub, member: dict[str, Any], code: str) -> str | None:
    """The unused, unexpired enrolment code of this member that `code` matches."""
    for code_id in candidate_codes(member, code, iso(hub.clock.now())):
        issued = member["codes"][code_id]
        if check_password(hub.queries.opened_hash(issued["code_hash"]), code.strip().upper()):
            return code_id
    return None


@router.post("/auth/refresh", tags=["auth"])
async def refresh(request: Request, viewer: Viewer = Signed) -> dict[str, Any]:
    """A fresh token for a signed-in member still enrolled: a shift outlasts an hour."""
    token = issue_token(request.app.state.secret, viewer)
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS}


@router.get("/me", tags=["auth"])
async def me(request: Request, viewer: Viewer = Signed) -> dict[str, Any]:
    """Who the token says you are, with your partnerships' names and venues, and what your
    role may do (`can`: the keys of the role matrix, so the web app keeps no copy of it)."""
    hub = hub_of(request)
    visible = [p for p in hub.views if p != SYSTEM_PARTNERSHIP and member_of(viewer, p)]
    return {
        "user": viewer.user,
        "role": viewer.role,
        "venue": viewer.venue,
        "can": capabilities(viewer.role),
        "enrols": enrols(viewer.role),
        "partnerships": [_summary(hub.view(p)) for p in visible if hub.views[p].name],
    }


def _summary(view: Any) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "venues": sorted(view.venues.values(), key=lambda v: v["name"]),
        "channels": view.channels,
        "position": view.position,
    }


@router.post("/partnerships", status_code=201, tags=["set-up"])
async def register_partnership(
    request: Request, body: RegisterPartnership, viewer: Viewer = May("manage_partnerships")
) -> dict[str, Any]:
    ensure(not body.id.startswith("_"), 422, "partnership ids may not start with '_'")
    command = commands.RegisterPartnership(**body.model_dump())
    return await submit(request, viewer, body.id, command)


@router.get("/partnerships", tags=["set-up"])
async def list_partnerships(request: Request, viewer: Viewer = Signed) -> list[dict[str, Any]]:
    hub = hub_of(request)
    return [
        _summary(view)
        for p, view in sorted(hub.views.items())
        if p != SYSTEM_PARTNERSHIP and view.name and member_of(viewer, p)
    ]


@router.get("/partnerships/{p}", tags=["set-up"])
async def get_partnership(request: Request, p: str, viewer: Viewer = Signed) -> dict[str, Any]:
    require(viewer, "gallery" if viewer.role != "admin" else "manage_partnerships", p)
    return _summary(hub_of(request).view(p))


@router.post("/partnerships/{p}/venues", status_code=201, tags=["set-up"])
async def add_venue(
    request: Request, p: str, body: AddVenue, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    return await submit(
        request, viewer, p, commands.AddVenue(venue_id=body.id, name=body.name, kind=body.kind)
    )


@router.patch("/partnerships/{p}/venues/{venue}", status_code=201, tags=["set-up"])
async def change_venue(
    request: Request, p: str, venue: str, body: ChangeVenue, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    command = commands.ChangeVenue(venue_id=venue, name=body.name, kind=body.kind)
    return await submit(request, viewer, p, command)


@router.delete("/partnerships/{p}/venues/{venue}", status_code=201, tags=["set-up"])
async def remove_venue(
    request: Request, p: str, venue: str, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    return await submit(request, viewer, p, commands.RemoveVenue(venue_id=venue))


@router.post("/partnerships/{p}/channels", status_code=201, tags=["set-up"])
async def open_channel(
    request: Request, p: str, body: OpenChannel, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    return await submit(request, viewer, p, commands.OpenChannel(channel=body.id, name=body.name))


@router.post("/partnerships/{p}/members", status_code=201, tags=["set-up"])
async def enrol_member(
    request: Request, p: str, body: EnrolMember, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    ensure(viewer.role != "admin" or body.role != "admin", 422, "admins are made with `hub admin create`")
    weak = weakness(body.password, body.role)
    ensure(weak is None, 422, weak or "")
    found = hub_of(request).queries.users().get(body.username)
    # a revoked member of this partnership may be enrolled again; any other name is taken
    ensure(
        found is None or (found[0] == p and not found[1]["active"]), 409, f"username {body.username} is taken"
    )
    command = commands.EnrolMember(
        username=body.username, role=body.role, venue=body.venue, password_hash=hash_password(body.password)
    )
    return await submit(request, viewer, p, command)


@router.get("/partnerships/{p}/members", tags=["set-up"])
async def list_members(
    request: Request, p: str, viewer: Viewer = May("manage_members")
) -> list[dict[str, Any]]:
    members = hub_of(request).view(p).members.values()
    return [{k: v for k, v in m.items() if k not in ("password_hash", "codes")} for m in members]


@router.post("/partnerships/{p}/members/{username}/enrolment-code", status_code=201, tags=["set-up"])
async def enrolment_code(
    request: Request,
    p: str,
    username: str,
    body: EnrolmentCode | None = None,
    viewer: Viewer = May("manage_members"),
) -> dict[str, Any]:
    """A one-time code to sign in a member's device, shown once: only its hash is kept."""
    hub = hub_of(request)
    member = hub.view(p).members.get(username)
    ensure(member is not None and member["active"], 404, f"no active member {username}")
    code_id = hub.new_id()
    code = new_code(code_id)
    hours = (body or EnrolmentCode()).hours
    expires_at = iso(hub.clock.now() + timedelta(hours=hours))
    command = commands.IssueEnrolmentCode(
        username=username, code_id=code_id, code_hash=hash_password(code), expires_at=expires_at
    )
    answer = await submit(request, viewer, p, command)
    return {**answer, "code": code, "expires_at": expires_at}


@router.post("/partnerships/{p}/members/{username}/revoke", status_code=201, tags=["set-up"])
async def revoke_member(
    request: Request, p: str, username: str, viewer: Viewer = May("manage_members")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    return await submit(request, viewer, p, commands.RevokeMember(username=username))
