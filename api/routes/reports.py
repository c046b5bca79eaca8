"""Sightings (with a still, or an ID-sought image) and incident reports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.access import May
from api.answers import JPEG
from api.common import command_id, ensure, first_answer, hub_of, made_id, submit
from api.routes.subjects import read_upload, save_image
from hub.application.guards import own_venue
from hub.domain import iso
from projections.audience import Viewer
from schemas import commands
from schemas.bodies import CloseIncident, CrimeReference, LinkSubject, PostSighting, ReportIncident
from schemas.roles import VENUE_ROLES

router = APIRouter(prefix="/v1/partnerships/{p}")


async def _sighting_body(request: Request) -> tuple[PostSighting, Any]:
    """JSON, or multipart with the fields and a `still` image."""
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            fields = {k: v for k, v in form.items() if k != "still" and isinstance(v, str) and v != ""}
            still = form.get("still")
            return PostSighting.model_validate(fields), still if hasattr(still, "read") else None
        return PostSighting.model_validate_json(await request.body()), None
    except ValidationError as error:
        detail = error.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(422, detail) from error


def _sighting_form() -> dict[str, Any]:
    """The multipart form: the body's fields as text, and a still image."""
    schema = PostSighting.model_json_schema()
    fields = {name: {"type": "string", **_text(field)} for name, field in schema["properties"].items()}
    still = {"type": "string", "format": "binary", "description": "A JPEG, PNG or WEBP image"}
    return {**schema, "properties": {**fields, "still": still}}


def _text(field: dict[str, Any]) -> dict[str, Any]:
    """A field's constraints as a form's text carries them (a missing field is null)."""
    options = [o for o in field.get("anyOf", [field]) if o.get("type") != "null"]
    return {k: v for k, v in options[0].items() if k in ("maxLength", "minLength", "pattern", "format")}


SIGHTING_CONTENT = {
    "application/json": {"schema": PostSighting.model_json_schema()},
    "multipart/form-data": {"schema": _sighting_form()},
}


@router.post(
    "/sightings",
    status_code=201,
    tags=["sightings"],
    openapi_extra={"requestBody": {"required": True, "content": SIGHTING_CONTENT}},
)
async def post_sighting(request: Request, p: str, viewer: Viewer = May("report")) -> dict[str, Any]:
    """A subject seen at a venue; with no subject, an ID-sought person is registered."""
    hub = hub_of(request)
    view = hub.view(p)
    body, still = await _sighting_body(request)
    # checked here too, before a still is kept or an ID-sought subject registered for a
    # sighting that would then be refused
    own_venue(body.venue, viewer.role, viewer.venue, view.venues)
    known = body.subject_id is None or body.subject_id in hub.queries.visible_subjects(
        p, viewer.role, viewer.venue
    )
    ensure(known, 422, f"no subject {body.subject_id}")
    raw = await read_upload(still) if still is not None else None
    command_id(request, viewer)  # a bad Idempotency-Key is refused before the still is kept
    answered = first_answer(request, viewer, p, "record_sighting")
    if answered is not None:
        return answered
    subject_id = body.subject_id or made_id(request, viewer, p, "id-sought subject")
    still_id = None
    if raw is not None:
        # checked and kept before anything is written, so a bad image writes nothing
        still_id = made_id(request, viewer, p, "still")
        await save_image(hub, subject_id, still_id, raw)
    if body.subject_id is None:
        personal: dict[str, Any] = {
            "name": None,
            "aliases": [],
            "date_of_birth": None,
            "description": body.note,
        }
        registration = commands.RegisterSubject(subject_id=subject_id, personal=personal, id_sought=True)
        subject_id = (await submit(request, viewer, p, registration, "id-sought"))["id"]
    sighting = commands.RecordSighting(
        sighting_id=hub.new_id(),
        subject_id=subject_id,
        venue=body.venue,
        seen_at=iso(body.seen_at or hub.clock.now()),
        camera=body.camera,
        note=body.note,
        still_id=still_id,
    )
    return await submit(request, viewer, p, sighting)


@router.get("/sightings", tags=["sightings"])
async def list_sightings(request: Request, p: str, viewer: Viewer = May("report")) -> list[dict[str, Any]]:
    hub = hub_of(request)
    sightings = hub.view(p).sightings.values()
    return [hub.queries.revealed(s) for s in reversed(sightings) if _at_own_venue(viewer, s["venue"])][:500]


@router.get("/sightings/{sighting_id}/still", tags=["sightings"], response_class=Response, responses=JPEG)
def get_still(
    request: Request,
    p: str,
    sighting_id: str,
    size: Literal["full", "thumb"] = "full",
    viewer: Viewer = May("report"),
) -> Response:
    hub = hub_of(request)
    sighting = hub.queries.record(p, "sightings", sighting_id)
    ensure(
        sighting is not None and _at_own_venue(viewer, sighting["venue"]), 404, f"no sighting {sighting_id}"
    )
    assert sighting is not None
    image = (
        hub.photos.load(sighting["subject_id"], sighting["still_id"] or "", size)
        if sighting["still_id"]
        else None
    )
    ensure(image is not None, 404, "no still for this sighting, or its subject was erased")
    return Response(image, media_type="image/jpeg")


def _at_own_venue(viewer: Viewer, venue: str) -> bool:
    return viewer.role not in VENUE_ROLES or viewer.venue == venue


@router.post("/incidents", status_code=201, tags=["incidents"])
async def report(
    request: Request, p: str, body: ReportIncident, viewer: Viewer = May("report")
) -> dict[str, Any]:
    hub = hub_of(request)
    hub.view(p)  # 404 for a partnership that does not exist
    command = commands.ReportIncident(
        incident_id=hub.new_id(),
        category=body.category,
        venue=body.venue,
        occurred_at=iso(body.occurred_at or hub.clock.now()),
        description=body.description,
        loss_value=body.loss_value,
        subject_ids=list(dict.fromkeys(body.subject_ids)),
    )
    return await submit(request, viewer, p, command)


@router.get("/incidents", tags=["incidents"])
async def list_incidents(
    request: Request, p: str, status: str | None = None, viewer: Viewer = May("report")
) -> list[dict[str, Any]]:
    incidents = hub_of(request).view(p).incidents.values()
    return [
        i
        for i in reversed(incidents)
        if _at_own_venue(viewer, i["venue"]) and (status is None or i["status"] == status)
    ][:500]


def _incident(request: Request, p: str, incident_id: str, viewer: Viewer) -> dict[str, Any]:
    incident = hub_of(request).queries.record(p, "incidents", incident_id)
    ensure(
        incident is not None and _at_own_venue(viewer, incident["venue"]), 404, f"no incident {incident_id}"
    )
    assert incident is not None
    return incident


@router.get("/incidents/{incident_id}", tags=["incidents"])
async def get_incident(
    request: Request, p: str, incident_id: str, viewer: Viewer = May("report")
) -> dict[str, Any]:
    return _incident(request, p, incident_id, viewer)


@router.post("/incidents/{incident_id}/crime-reference", status_code=201, tags=["incidents"])
async def crime_reference(
    request: Request, p: str, incident_id: str, body: CrimeReference, viewer: Viewer = May("crime_reference")
) -> dict[str, Any]:
    _incident(request, p, incident_id, viewer)
    command = commands.RecordCrimeReference(incident_id=incident_id, crime_reference=body.crime_reference)
    return await submit(request, viewer, p, command)


@router.post("/incidents/{incident_id}/link-subject", status_code=201, tags=["incidents"])
async def link_subject(
    request: Request, p: str, incident_id: str, body: LinkSubject, viewer: Viewer = May("follow")
) -> dict[str, Any]:
    _incident(request, p, incident_id, viewer)
    command = commands.LinkSubject(incident_id=incident_id, subject_id=body.subject_id)
    return await submit(request, viewer, p, command)


@router.post("/incidents/{incident_id}/close", status_code=201, tags=["incidents"])
async def close(
    request: Request,
    p: str,
    incident_id: str,
    body: CloseIncident | None = None,
    viewer: Viewer = May("follow"),
) -> dict[str, Any]:
    _incident(request, p, incident_id, viewer)
    outcome = (body or CloseIncident()).outcome
    return await submit(request, viewer, p, commands.CloseIncident(incident_id=incident_id, outcome=outcome))
