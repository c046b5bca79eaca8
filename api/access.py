"""The role matrix of DESIGN.md, enforced on the server: one table, one check."""

from __future__ import annotations

from fastapi import HTTPException

from api.auth import EVERY_PARTNERSHIP
from projections.live import Viewer

DOOR = frozenset({"door_staff", "retail_staff"})
RECEIVE = DOOR | {"cctv_operator", "police", "coordinator"}

CAN = {
    "receive": RECEIVE,
    "broadcast": RECEIVE,
    "report": RECEIVE,
    "gallery": RECEIVE | {"auditor"},
    "manage_subjects": frozenset({"coordinator"}),
    "exclude": frozenset({"coordinator"}),
    "close_alert": frozenset({"cctv_operator", "police", "coordinator"}),
    "crime_reference": frozenset({"police", "coordinator"}),
    "follow": frozenset({"cctv_operator", "police", "coordinator"}),
    "audit": frozenset({"coordinator", "auditor"}),
    "statistics": frozenset({"coordinator", "auditor", "police"}),
    "manage_members": frozenset({"coordinator", "admin"}),
    "manage_partnerships": frozenset({"admin"}),
}


def member_of(viewer: Viewer, partnership: str) -> bool:
    return partnership in viewer.partnerships or EVERY_PARTNERSHIP in viewer.partnerships


def require(viewer: Viewer, action: str, partnership: str | None = None) -> None:
    """403 unless the viewer's role may do `action` in `partnership`."""
    if partnership is not None and not member_of(viewer, partnership):
        raise HTTPException(403, f"you are not a member of partnership {partnership}")
    if viewer.role not in CAN[action]:
        raise HTTPException(403, f"the {viewer.role} role may not {action.replace('_', ' ')}")
