"""The radio net: broadcast, acknowledge, resolve, and the active alerts and radio log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.access import require
from api.common import Signed, ensure, hub_of, submit
from projections.live import Viewer, audience
from schemas.commands import BroadcastAlert, ResolveAlert

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["alerts"])


@router.post("/alerts", status_code=201)
async def broadcast(
    request: Request, p: str, body: BroadcastAlert, viewer: Viewer = Signed
) -> dict[str, Any]:
    require(viewer, "broadcast", p)
    view = hub_of(request).view(p)
    ensure(body.subject_id is None or body.subject_id in view.subjects, 422, f"no subject {body.subject_id}")
    args = {**body.model_dump(), "alert_id": hub_of(request).new_id(), "breach_of": None}
    return await submit(request, viewer, p, "broadcast_alert", args)


@router.post("/alerts/{alert_id}/ack", status_code=201)
async def acknowledge(request: Request, p: str, alert_id: str, viewer: Viewer = Signed) -> dict[str, Any]:
    require(viewer, "receive", p)
    _visible_alert(request, p, alert_id, viewer)
    return await submit(request, viewer, p, "acknowledge_alert", {"alert_id": alert_id})


@router.post("/alerts/{alert_id}/resolve", status_code=201)
async def resolve(
    request: Request, p: str, alert_id: str, body: ResolveAlert | None = None, viewer: Viewer = Signed
) -> dict[str, Any]:
    require(viewer, "receive", p)
    alert = _visible_alert(request, p, alert_id, viewer)
    ensure(
        viewer.role in ("cctv_operator", "police", "coordinator") or alert["posted_by"] == viewer.user,
        403,
        "only whoever posted an alert, the control room, police or the coordinator may close it",
    )
    body = body or ResolveAlert()
    args = {"alert_id": alert_id, "note": body.note, "cancelled": body.cancelled}
    return await submit(request, viewer, p, "close_alert", args)


@router.get("/alerts")
def list_alerts(
    request: Request, p: str, active: bool = False, limit: int = 200, viewer: Viewer = Signed
) -> list[dict[str, Any]]:
    """Alerts the user may see, newest first: the active ones, or the radio log."""
    require(viewer, "receive", p)
    ensure(1 <= limit <= 5000, 422, "limit must be between 1 and 5000")
    view = hub_of(request).view(p)
    found = []
    for alert in reversed(view.alerts.values()):
        if active and alert["status"] != "active":
            continue
        if _admits(view, alert, viewer):
            found.append(alert)
            if len(found) >= limit:
                break
    return found


def _admits(view: Any, alert: dict[str, Any], viewer: Viewer) -> bool:
    event = {"type": "alert.broadcast", "data": alert}
    return audience(view, event).admits(viewer)


def _visible_alert(request: Request, p: str, alert_id: str, viewer: Viewer) -> dict[str, Any]:
    view = hub_of(request).view(p)
    alert = view.alerts.get(alert_id)
    ensure(alert is not None and _admits(view, alert, viewer), 404, f"no alert {alert_id}")
    assert alert is not None
    return alert
