"""What every route shares: the hub, the signed-in member, idempotent command submission."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from fastapi import Depends, HTTPException, Request

from api.auth import viewer_from
from hub import failpoints
from hub.bootstrap import Hub
from hub.domain import Actor
from projections.audience import Viewer
from schemas.commands import Command, Submission

IDEMPOTENCY_KEY_MAX = 200
# printable ASCII, as the OpenAPI document says (api/answers.py)
IDEMPOTENCY_KEY = re.compile(f"[ -~]{{1,{IDEMPOTENCY_KEY_MAX}}}")

Signed = Depends(viewer_from)


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def command_id(request: Request, viewer: Viewer) -> str:
    """The command id: the client's Idempotency-Key (scoped to the user), or a fresh one."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return hub_of(request).new_id()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise HTTPException(
            400, f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"
        )
    return f"{viewer.user}:{key}"


def _bound_id(request: Request, viewer: Viewer, action: str) -> str:
    """The command id; a client's key is bound to its kind of request."""
    cid = command_id(request, viewer)
    return f"{cid}:{action}" if "idempotency-key" in request.headers else cid


def first_answer(request: Request, viewer: Viewer, p: str, action: str) -> dict[str, Any] | None:
    """A retried request's first answer, if the log has one: the retry then does nothing."""
    if "idempotency-key" not in request.headers:
        return None
    return hub_of(request).log.answer_for(p, _bound_id(request, viewer, action))


def made_id(request: Request, viewer: Viewer, p: str, what: str) -> str:
    """The id of a thing a request makes before its command (a still, a photo, an ID-sought
    subject): with an Idempotency-Key, derived from it, so every retry names the same thing
    and leaves no second file or key behind; without one, fresh."""
    if "idempotency-key" not in request.headers:
        return hub_of(request).new_id()
    named = f"{p}\0{command_id(request, viewer)}\0{what}"
    return hashlib.sha256(named.encode()).hexdigest()[:32]


async def submit(
    request: Request, viewer: Viewer, p: str, command: Command, part: str = ""
) -> dict[str, Any]:
    """Submit a command as the signed-in member; a refusal becomes its 4xx by the app's
    handlers (hub/application/refusals.py).

    A request that makes two commands names the first one's `part`, so a retry of the
    request finds both first answers.
    """
    cid = _bound_id(request, viewer, command.action)
    submission = Submission(f"{cid}:{part}" if part else cid, command)
    answer = await hub_of(request).submit(p, submission, Actor(viewer.user, viewer.role))
    await failpoints.reached("api.before_answer")
    return answer


def ensure(condition: bool, status: int, detail: str) -> None:
    if not condition:
        raise HTTPException(status, detail)
