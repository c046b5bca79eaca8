"""The Safer Socialising Award: inspections recorded, and each night-time venue's standing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.access import May
from api.common import hub_of, submit
from hub.domain import award, iso
from projections.audience import Viewer
from schemas import bodies, commands

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["awards"])


@router.post("/awards/inspections", status_code=201)
async def record_inspection(
    request: Request, p: str, body: bodies.RecordInspection, viewer: Viewer = May("record_inspection")
) -> dict[str, Any]:
    """An inspection by the panel: passed (awarded) with every criterion met, or failed with actions."""
    hub = hub_of(request)
    hub.view(p)  # 404 for a partnership that does not exist
    command = commands.RecordInspection(
        inspection_id=hub.new_id(),
        venue=body.venue,
        inspected_at=iso(body.inspected_at or hub.clock.now()),
        panel=body.panel,
        criteria=body.criteria,
        outcome=body.outcome,
        actions=body.actions,
    )
    return await submit(request, viewer, p, command)


@router.get("/awards")
async def awards(request: Request, p: str, viewer: Viewer = May("awards")) -> list[dict[str, Any]]:
    """Every night-time venue's award: awarded, due, lapsed, failed or none, as of now."""
    hub = hub_of(request)
    view = hub.view(p)
    now = hub.clock.now()
    found = []
    for venue_id, venue in sorted(view.venues.items(), key=lambda item: item[1]["name"]):
        if venue["kind"] != "night_time":
            continue
        record = view.awards.get(venue_id)
        inspections = record["inspections"] if record else []
        found.append(
            {
                "venue": venue_id,
                "name": venue["name"],
                **award.status(record, now),
                "inspections": inspections,
            }
        )
    return found
