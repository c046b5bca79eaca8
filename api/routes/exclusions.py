"""Warnings and exclusions: issue, confirm, serve, appeal, revoke; the gallery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request

from api.access import May
from api.common import ensure, hub_of, submit
from api.routes.subjects import matches, present
from hub.domain import iso
from projections.audience import Viewer
from schemas import commands
from schemas.bodies import ExclusionStep, IssueExclusion
from schemas.roles import VENUE_ROLES

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["exclusions"])

Status = Literal["active", "proposed", "revoked", "expired", "all"]


@router.post("/exclusions", status_code=201)
async def issue(
    request: Request, p: str, body: IssueExclusion, viewer: Viewer = May("exclude")
) -> dict[str, Any]:
    """A warning (yellow card), or an exclusion notice on the board's decision."""
    hub = hub_of(request)
    hub.view(p)  # 404 for a partnership that does not exist
    venues = sorted(set(body.venues))
    command: commands.IssueWarning | commands.IssueExclusion
    if body.kind == "warning":
        command = commands.IssueWarning(
            warning_id=hub.new_id(), subject_id=body.subject_id, venues=venues, reason=body.reason
        )
    else:
        command = commands.IssueExclusion(
            exclusion_id=hub.new_id(),
            subject_id=body.subject_id,
            venues=venues,
            starts_at=iso(body.starts_at) if body.starts_at else None,
            ends_at=iso(body.ends_at) if body.ends_at else None,
            reason=body.reason,
        )
    return await submit(request, viewer, p, command)


STEPS: dict[str, Callable[..., commands.Command]] = {
    "confirm": commands.ConfirmExclusion,
    "serve": commands.ServeExclusion,
    "appeal": commands.AppealExclusion,
    "revoke": commands.RevokeExclusion,
}


@router.post("/exclusions/{exclusion_id}/{step}", status_code=201)
async def take_step(
    request: Request,
    p: str,
    exclusion_id: str,
    step: Literal["confirm", "serve", "appeal", "revoke"],
    body: ExclusionStep | None = None,
    viewer: Viewer = May("exclude"),
) -> dict[str, Any]:
    exclusion = hub_of(request).view(p).exclusions.get(exclusion_id)
    ensure(exclusion is not None, 404, f"no exclusion {exclusion_id}")
    assert exclusion is not None
    command = STEPS[step](
        exclusion_id=exclusion_id, subject_id=exclusion["subject_id"], note=(body or ExclusionStep()).note
    )
    return await submit(request, viewer, p, command)


@router.get("/exclusions")
async def gallery(
    request: Request, p: str, status: Status = "active", q: str = "", viewer: Viewer = May("gallery")
) -> list[dict[str, Any]]:
    """The gallery: exclusions (active ones by default) with the subject's photo and terms.

    Door and retail staff see only those whose scope covers their venue.
    """
    hub = hub_of(request)
    view = hub.view(p)
    now = iso(hub.clock.now())
    found = []
    for x in view.exclusions.values():
        state = x["status"]
        if state == "active" and not x["starts_at"] <= now < x["ends_at"]:
            state = "pending" if now < x["starts_at"] else "ended"
        if status != "all" and state != status:
            continue
        if viewer.role in VENUE_ROLES and x["venues"] and viewer.venue not in x["venues"]:
            continue
        if status != "active" and viewer.role != "coordinator" and viewer.role != "auditor":
            continue
        subject = present(hub, p, x["subject_id"])
        if not matches(subject, q):
            continue
        venues = [view.venues.get(v, {"id": v, "name": v})["name"] for v in x["venues"]]
        found.append(
            {
                **hub.queries.revealed(x),
                "status": state,
                "subject": subject,
                "venue_names": venues or ["all member venues"],
            }
        )
    return sorted(found, key=lambda x: x["ends_at"])


@router.get("/warnings")
async def warnings(request: Request, p: str, viewer: Viewer = May("exclude")) -> list[dict[str, Any]]:
    hub = hub_of(request)
    cutoff = iso(hub.clock.now() - timedelta(days=365))
    return [
        {
            **hub.queries.revealed(w),
            "live": not w["lapsed"] and w["issued_at"] > cutoff,
            "subject": present(hub, p, w["subject_id"]),
        }
        for w in hub.view(p).warnings.values()
    ]
