"""The radio net: broadcast, acknowledge, resolve, and the active alerts and radio log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.access import May
from api.common import ensure, hub_of, submit
from projections.audience import Viewer, sees_alert
from schemas import commands
from schemas.bodies import BroadcastAlert, ResolveAlert
from schemas.roles import may

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["alerts"])


@router.post("/alerts", status_code=201)
async def broadcast(
    request: Request, p: str, body: BroadcastAlert, viewer: Viewer = May("broadcast")
) -> dict[str, Any]:
    hub_of(request).view(p)  # 404 for a partnership that does not exist
    command = commands.BroadcastAlert(alert_id=hub_of(request).new_id(), **body.model_dump())
    return await submit(request, viewer, p, command)


@router.post("/alerts/{alert_id}/ack", status_code=201)
async def acknowledge(
    request: Request, p: str, alert_id: str, viewer: Viewer = May("receive")
) -> dict[str, Any]:
    _visible_alert(request, p, alert_id, viewer)
    return await submit(request, viewer, p, commands.AcknowledgeAlert(alert_id=alert_id))


@router.post("/alerts/{alert_id}/resolve", status_code=201)
async def resolve(
    request: Request, p: str, alert_id: str, body: ResolveAlert | None = None, viewer: Viewer = May("receive")
) -> dict[str, Any]:
    alert = _visible_alert(request, p, alert_id, viewer)
    ensure(
        may(viewer.role, "close_alert") or alert["posted_by"] == viewer.user,
        403,
        "only whoever posted an alert, the control room, police or the coordinator may close it",
    )
    body = body or ResolveAlert()
    command = commands.CloseAlert(alert_id=alert_id, note=body.note, cancelled=body.cancelled)
    return await submit(request, viewer, p, command)


@router.get("/alerts")
async def list_alerts(
    request: Request, p: str, active: bool = False, limit: int = 200, viewer: Viewer = May("receive")
) -> list[dict[str, Any]]:
    """Alerts the user may see, newest first: the active ones, or the radio log (every
    active alert and the last 500 done ones; the audit log holds them all)."""
    ensure(1 <= limit <= 5000, 422, "limit must be between 1 and 5000")
    hub = hub_of(request)
    view = hub.view(p)
    found = []
    for alert in reversed(view.alerts.values()):
        if active and alert["status"] != "active":
            continue
        if sees_alert(view, alert, viewer):
            found.append(hub.queries.revealed(alert))
            if len(found) >= limit:
                break
    return found


def _visible_alert(request: Request, p: str, alert_id: str, viewer: Viewer) -> dict[str, Any]:
    hub = hub_of(request)
    view = hub.view(p)
    alert = hub.queries.record(p, "alerts", alert_id)
    ensure(alert is not None and sees_alert(view, alert, viewer), 404, f"no alert {alert_id}")
    assert alert is not None
    return alert
