"""What the API answers, as its OpenAPI document says it does.

Every refusal (4xx, and the 503 of a log that does not answer) is `{"detail": ...}`: a
reason in words, or for a malformed request the list of the fields at fault. Which
refusals an operation documents is decided here, once, from what its route is: signed
in, guarded by a capability, a command, with a body. A route names only what it alone
gives (sign-in's 401 and 429), and the answers that are not JSON (images, NDJSON,
Prometheus text).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.access import capability
from api.auth import viewer_from
from api.common import IDEMPOTENCY_KEY_MAX


class FieldError(BaseModel):
    """One field at fault in a malformed request."""

    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field")
    msg: str
    type: str


class Refusal(BaseModel):
    """Why the hub refused a request (it wrote nothing)."""

    detail: str | list[FieldError] = Field(
        description="A reason in words; for a malformed request, the fields at fault"
    )


WHY: dict[int, str] = {
    400: f"The Idempotency-Key is not 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
    401: "Not signed in, or the token expired, is not the hub's, or its member was revoked",
    403: "Not a member of the partnership, or the role may not do this",
    404: "No such partnership, or nothing with that id that you may see",
    409: "The hub's rules refuse it as things stand (already closed, name taken, ...)",
    413: "The body is over 64 KiB (JSON) or 9 MiB (multipart), or an image over 8 MB or 40 megapixels",
    422: "Malformed (`detail` lists the fields at fault), or refused with a reason (unknown venue, ...)",
    429: "Too many failed sign-ins: try again after Retry-After seconds",
    503: "The event log or the hub's writer does not answer: retry with the same Idempotency-Key",
}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key (per member, per kind of request) answers a retry with the first answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": "^[ -~]+$"},
}


def content(media_type: str, description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route whose 200 is not JSON (its response_class
    `Response`, so the document lists no JSON beside it)."""
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


JPEG = content("image/jpeg", "A JPEG, stripped of metadata", {"type": "string", "format": "binary"})
NDJSON = content("application/x-ndjson", "One JSON object a line", {"type": "string"})
PROMETHEUS = content("text/plain", "Prometheus text exposition format 0.0.4", {"type": "string"})


HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "enum": ["Bearer"]}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these refusals."""
    return {
        status: {"description": WHY[status], "model": Refusal}
        | ({"headers": HEADERS[status]} if status in HEADERS else {})
        for status in statuses
    }


def refusals_of(route: APIRoute) -> list[int]:
    """The refusals a route can give, from what it is."""
    signed = _calls(route.dependant, viewer_from)
    guarded = capability(route) is not None
    command = guarded and bool((route.methods or set()) & WRITES)
    body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    parameters = bool(route.dependant.path_params or route.dependant.query_params) or body
    found = {
        400: command,
        401: signed,
        403: guarded or (signed and bool(route.dependant.path_params)),
        404: bool(route.dependant.path_params),
        409: command,
        413: body,
        422: parameters or command,
        503: command,
    }
    return [status for status, given in found.items() if given]


def describe_refusals(router: APIRouter) -> None:
    """Document each route's refusals, with the one shape they all have (before the router
    is included in the app); a command route also documents its Idempotency-Key."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        found = answers(*refusals_of(route))
        route.responses = {
            **route.responses,
            **{status: {**answer, **route.responses.get(status, {})} for status, answer in found.items()},
        }
        if 400 in found:
            extra = route.openapi_extra or {}
            route.openapi_extra = {**extra, "parameters": [*extra.get("parameters", []), IDEMPOTENCY_HEADER]}


def _calls(dependant: Dependant, call: Any) -> bool:
    return dependant.call is call or any(_calls(d, call) for d in dependant.dependencies)
