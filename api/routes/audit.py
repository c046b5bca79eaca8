"""The auditors' door: the whole history, its verification, and any view as of a moment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.access import May
from api.answers import NDJSON
from api.common import ensure, hub_of
from api.routes.subjects import present
from hub.bootstrap import Hub
from hub.domain import iso
from projections.audience import Viewer
from projections.views import PartnershipView
from schemas.bodies import Moment
from schemas.events import AlertBroadcast, SightingRecorded

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["audit"])

# No log holds more events than this: a larger position is a mistake, not a question.
MAX_POSITION = 2**62


@router.get("/audit/events", response_class=Response, responses=NDJSON)
def events(
    request: Request,
    p: str,
    from_position: Annotated[int, Query(ge=1, le=MAX_POSITION)] = 1,
    to_position: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
    type: str | None = None,
    stream: str | None = None,
    actor: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    viewer: Viewer = May("audit"),
) -> StreamingResponse:
    """The log itself as NDJSON, one envelope per line, optionally filtered."""
    hub = hub_of(request)
    hub.view(p)
    ensure(from_position >= 1, 422, "from_position must be at least 1")
    ensure(
        to_position is None or to_position >= from_position,
        422,
        "to_position must not be before from_position",
    )
    ensure(since is None or since.tzinfo is not None, 422, "since must include a timezone")
    ensure(until is None or until.tzinfo is not None, 422, "until must include a timezone")
    after = iso(since) if since else None
    before = iso(until) if until else None

    def lines() -> Iterator[bytes]:
        for e in hub.log.read(p, from_position, to_position):
            if type and e["type"] != type and not e["type"].startswith(type + "."):
                continue
            if stream and e["stream"] != stream:
                continue
            if actor and e["actor"]["user"] != actor:
                continue
            if (after and e["occurred_at"] < after) or (before and e["occurred_at"] > before):
                continue
            yield orjson.dumps(e) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/audit/verify")
def verify(request: Request, p: str, viewer: Viewer = May("audit")) -> dict[str, Any]:
    hub = hub_of(request)
    hub.view(p)
    result = hub.log.verify(p)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "first_bad_position": result.first_bad_position,
        "reason": result.reason,
    }


@router.get("/audit/state")
def state(
    request: Request,
    p: str,
    as_of: Moment | None = None,
    position: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
    viewer: Viewer = May("audit"),
) -> dict[str, Any]:
    """Every view of the partnership as it was at `as_of` (recorded time) or at `position`."""
    hub = hub_of(request)
    hub.view(p)
    ensure(as_of is None or as_of.tzinfo is not None, 422, "as_of must include a timezone")
    ensure(position is None or position >= 0, 422, "position must not be negative")
    view = hub.queries.state_as_of(p, iso(as_of) if as_of else None, position)
    return describe(hub, view)


def describe(hub: Hub, view: PartnershipView) -> dict[str, Any]:
    """A whole view for auditors, with subjects shown as they can be seen now (erased stays erased)."""
    current = hub.view(view.id).subjects
    subjects = [
        present(hub, view.id, s) if s in current else {"subject_id": s, "erased": True} for s in view.subjects
    ]
    data = {k: v for k, v in view.to_dict().items() if k != "done"}
    for records in ("alerts", "sightings", "warnings", "exclusions"):
        data[records] = {k: hub.queries.revealed(r) for k, r in data[records].items()}
    data["members"] = [
        {k: v for k, v in m.items() if k not in ("password_hash", "codes")} for m in view.members.values()
    ]
    data["subjects"] = subjects
    return data


@router.get("/statistics")
async def statistics(request: Request, p: str, viewer: Viewer = May("statistics")) -> dict[str, Any]:
    """Figures for partnership meetings and police: incidents by category and venue, losses."""
    view = hub_of(request).view(p)
    tally = view.tally
    return {
        "incidents_by_category": tally["by_category"],
        "incidents_by_venue": tally["by_venue"],
        "loss_value_total": tally["loss_value_total"],
        "incidents_with_crime_reference": tally["with_crime_reference"],
        "alerts": view.counts[AlertBroadcast.TYPE],
        "sightings": view.counts[SightingRecorded.TYPE],
        "warnings_issued": len(view.warnings),
        "exclusions_by_status": dict(Counter(x["status"] for x in view.exclusions.values())),
        "breaches": sum(len(x["breaches"]) for x in view.exclusions.values()),
        "events_by_type": dict(view.counts),
    }
