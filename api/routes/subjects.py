"""Subjects (persons of interest): registration, photos, identification, access export, erasure."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response

from api.access import May
from api.answers import JPEG
from api.common import command_id, ensure, first_answer, hub_of, made_id, submit
from hub.bootstrap import Hub
from hub.domain import exclusion, subject
from hub.privacy.photos import MAX_BYTES, BadImage
from projections.audience import Viewer
from schemas import commands
from schemas.bodies import EraseSubject, IdentifySubject, RegisterSubject
from schemas.events import PRIVATE_FIELDS

router = APIRouter(prefix="/v1/partnerships/{p}", tags=["subjects"])


def present(hub: Hub, p: str, subject_id: str) -> dict[str, Any]:
    """A subject as screens show it: personal data opened, or marked erased."""
    record = hub.view(p).subjects[subject_id]
    personal = hub.queries.personal(p, subject_id)
    return {
        "subject_id": subject_id,
        "id_sought": record["id_sought"],
        "erased": record["erased"] or personal is None,
        "name": personal.get("name") if personal else None,
        "aliases": personal.get("aliases", []) if personal else [],
        "date_of_birth": personal.get("date_of_birth") if personal else None,
        "description": personal.get("description", "") if personal else "",
        "photos": record["photos"] if personal else [],
        "registered_at": record["registered_at"],
    }


def _known(hub: Hub, p: str, subject_id: str, viewer: Viewer) -> None:
    view = hub.view(p)
    ensure(
        subject_id in view.subjects
        and subject_id in hub.queries.visible_subjects(p, viewer.role, viewer.venue),
        404,
        f"no subject {subject_id}",
    )


@router.post("/subjects", status_code=201)
async def register(
    request: Request, p: str, body: RegisterSubject, viewer: Viewer = May("manage_subjects")
) -> dict[str, Any]:
    hub = hub_of(request)
    hub.view(p)  # 404 for a partnership that does not exist
    command = commands.RegisterSubject(
        subject_id=hub.new_id(), personal=body.model_dump(), id_sought=body.name is None
    )
    return await submit(request, viewer, p, command)


@router.get("/subjects")
async def list_subjects(
    request: Request, p: str, q: str = "", viewer: Viewer = May("manage_subjects")
) -> list[dict[str, Any]]:
    hub = hub_of(request)
    subjects = [present(hub, p, s) for s in hub.view(p).subjects]
    return [s for s in subjects if matches(s, q)]


def matches(subject: dict[str, Any], query: str) -> bool:
    if not query:
        return True
    text = " ".join([subject["name"] or "", *subject["aliases"], subject["description"]]).lower()
    return all(word in text for word in query.lower().split())


@router.get("/subjects/{subject_id}")
async def get_subject(
    request: Request, p: str, subject_id: str, viewer: Viewer = May("gallery")
) -> dict[str, Any]:
    hub = hub_of(request)
    _known(hub, p, subject_id, viewer)
    return present(hub, p, subject_id)


@router.post("/subjects/{subject_id}/photos", status_code=201)
async def add_photo(
    request: Request, p: str, subject_id: str, image: UploadFile, viewer: Viewer = May("manage_subjects")
) -> dict[str, Any]:
    hub = hub_of(request)
    _known(hub, p, subject_id, viewer)
    command_id(request, viewer)  # a bad Idempotency-Key is refused before the photo is kept
    answered = first_answer(request, viewer, p, "add_photo")
    if answered is not None:
        return answered
    photo_id = made_id(request, viewer, p, "photo")
    await save_image(hub, subject_id, photo_id, await read_upload(image))
    return await submit(request, viewer, p, commands.AddPhoto(subject_id=subject_id, photo_id=photo_id))


async def read_upload(image: UploadFile) -> bytes:
    raw = await image.read(MAX_BYTES + 1)
    ensure(len(raw) <= MAX_BYTES, 413, f"image is larger than {MAX_BYTES // (1024 * 1024)} MB")
    ensure(len(raw) > 0, 422, "image is empty")
    return raw


async def save_image(hub: Hub, key_id: str, photo_id: str, raw: bytes) -> None:
    """Check, strip, thumbnail and seal an image: slow work, done off the event loop so
    the hub answers everyone else meanwhile."""
    try:
        await asyncio.to_thread(hub.photos.save, key_id, photo_id, raw)
    except BadImage as error:
        ensure(False, 413 if error.too_large else 422, str(error))


@router.get("/subjects/{subject_id}/photos/{photo_id}", response_class=Response, responses=JPEG)
def get_photo(
    request: Request,
    p: str,
    subject_id: str,
    photo_id: str,
    size: Literal["full", "thumb"] = "thumb",
    viewer: Viewer = May("gallery"),
) -> Response:
    hub = hub_of(request)
    _known(hub, p, subject_id, viewer)
    ensure(photo_id in hub.view(p).subjects[subject_id]["photos"], 404, f"no photo {photo_id}")
    image = hub.photos.load(subject_id, photo_id, size)
    ensure(image is not None, 404, "photo erased or unavailable")
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.post("/subjects/{subject_id}/identify", status_code=201)
async def identify(
    request: Request, p: str, subject_id: str, body: IdentifySubject, viewer: Viewer = May("manage_subjects")
) -> dict[str, Any]:
    hub = hub_of(request)
    _known(hub, p, subject_id, viewer)
    old = hub.queries.personal(p, subject_id) or {}
    command = commands.IdentifySubject(subject_id=subject_id, personal={**old, **body.model_dump()})
    return await submit(request, viewer, p, command)


@router.get("/subjects/{subject_id}/export")
async def export(
    request: Request, p: str, subject_id: str, viewer: Viewer = May("manage_subjects")
) -> dict[str, Any]:
    """Subject access: everything the partnership holds about one person."""
    hub = hub_of(request)
    _known(hub, p, subject_id, viewer)
    view = hub.view(p)
    involved = view.subjects[subject_id]["involved"]

    def involving(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            hub.queries.revealed(r)
            for r in records.values()
            if r.get("subject_id") == subject_id or subject_id in r.get("subject_ids", ())
        ]

    def records() -> list[list[dict[str, Any]]]:
        """Each kind's records about the subject; those out of memory are read from the log."""
        return [
            [hub.queries.revealed(r) for r in hub.queries.records(p, kind, involved[kind])]
            for kind in ("incidents", "sightings", "alerts")
        ]

    incidents, sightings, alerts = await asyncio.to_thread(records)

    events = [
        {k: v for k, v in e.items() if k != "data"}
        | {"data": hub.queries.revealed({k: v for k, v in e["data"].items() if k not in PRIVATE_FIELDS})}
        for stream in (subject.stream(subject_id), exclusion.stream(subject_id))
        for e in hub.log.read_stream(p, stream)
    ]
    return {
        "subject": present(hub, p, subject_id),
        "warnings": involving(view.warnings),
        "exclusions": involving(view.exclusions),
        "incidents": incidents,
        "sightings": sightings,
        "alerts": alerts,
        "events": events,
    }


@router.post("/subjects/{subject_id}/erase", status_code=201)
async def erase(
    request: Request,
    p: str,
    subject_id: str,
    body: EraseSubject | None = None,
    viewer: Viewer = May("manage_subjects"),
) -> dict[str, Any]:
    _known(hub_of(request), p, subject_id, viewer)
    reason = (body or EraseSubject()).reason
    return await submit(request, viewer, p, commands.EraseSubject(subject_id=subject_id, reason=reason))
