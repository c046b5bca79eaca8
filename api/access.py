"""The role matrix of DESIGN.md (schemas/roles.py), enforced on the server: one check.

A route names the capability it needs once, `viewer: Viewer = May("exclude")`: the
dependency refuses everyone else with 403, and the OpenAPI document lists the roles
that may call the route (`x-roles`, and its 403), from the same table.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.routing import APIRoute

from api.auth import EVERY_PARTNERSHIP, viewer_from
from projections.audience import Viewer
from schemas.roles import CAN, may


def member_of(viewer: Viewer, partnership: str) -> bool:
    return partnership in viewer.partnerships or EVERY_PARTNERSHIP in viewer.partnerships


def require(viewer: Viewer, action: str, partnership: str | None = None) -> None:
    """403 unless the viewer's role may do `action` in `partnership`."""
    if partnership is not None and not member_of(viewer, partnership):
        raise HTTPException(403, f"you are not a member of partnership {partnership}")
    if not may(viewer.role, action):
        raise HTTPException(403, f"the {viewer.role} role may not {action.replace('_', ' ')}")


def May(action: str) -> Any:
    """The signed-in member, who may do `action` in the path's partnership `{p}` (or 403)."""
    assert action in CAN, f"no capability {action}"

    async def allowed(request: Request, viewer: Viewer = Depends(viewer_from)) -> Viewer:
        require(viewer, action, request.path_params.get("p"))
        return viewer

    allowed.capability = action  # type: ignore[attr-defined]
    return Depends(allowed)


def capability(route: APIRoute) -> str | None:
    """The capability a route names with May(...), if it names one."""
    actions = [getattr(d.call, "capability", None) for d in route.dependant.dependencies]
    return next((a for a in actions if a is not None), None)


def describe_roles(router: APIRouter) -> None:
    """Name, in each route's OpenAPI, the roles that may call it and the 403 for the rest
    (before the router is included in the app)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        action = capability(route)
        if action is None:
            continue
        roles = sorted(CAN[action])
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": roles}
        route.responses = {
            **route.responses,
            403: {"description": f"Only {', '.join(roles)} (capability `{action}`); or not a member"},
        }
