"""The role matrix of DESIGN.md (schemas/roles.py), enforced on the server: one check."""

from __future__ import annotations

from fastapi import HTTPException

from api.auth import EVERY_PARTNERSHIP
from projections.audience import Viewer
from schemas.roles import may


def member_of(viewer: Viewer, partnership: str) -> bool:
    return partnership in viewer.partnerships or EVERY_PARTNERSHIP in viewer.partnerships


def require(viewer: Viewer, action: str, partnership: str | None = None) -> None:
    """403 unless the viewer's role may do `action` in `partnership`."""
    if partnership is not None and not member_of(viewer, partnership):
        raise HTTPException(403, f"you are not a member of partnership {partnership}")
    if not may(viewer.role, action):
        raise HTTPException(403, f"the {viewer.role} role may not {action.replace('_', ' ')}")
