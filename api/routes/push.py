"""Web Push: the hub's VAPID public key, and a member's browser subscriptions.

A subscription belongs to the member who made it, in their partnership's log (sealed
with the member's key: its endpoint and keys are the browser's secrets). Its id is an
HMAC of the member (and their enrolment) and the endpoint under the hub's secret, so
the same browser subscribing again gets the same id and writes nothing new. The endpoint must be https
on a public address (hub/push/endpoints.py), checked here and again before each push.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.access import May
from api.answers import answers
from api.common import ensure, hub_of, submit
from hub.domain import Invalid
from hub.push.endpoints import MAX_LENGTH, check, insecure_endpoints
from hub.push.vapid import Vapid, unb64url
from projections.audience import Viewer
from schemas.commands import PushKeys, SubscribePush, UnsubscribePush

router = APIRouter(prefix="/v1/push", tags=["push"])


class Keys(BaseModel):
    model_config = ConfigDict(extra="ignore")
    p256dh: str = Field(
        min_length=80, max_length=100, description="The browser's P-256 public key, base64url"
    )
    auth: str = Field(
        min_length=16, max_length=30, description="The browser's 16-byte auth secret, base64url"
    )


class PushSubscriptionBody(BaseModel):
    """A browser's PushSubscription as `subscription.toJSON()` gives it."""

    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime
    endpoint: str = Field(min_length=8, max_length=MAX_LENGTH)
    keys: Keys


class PublicKey(BaseModel):
    public_key: str = Field(description="The VAPID application server key: a raw P-256 point, base64url")


@router.get("/key")
async def public_key(request: Request) -> PublicKey:
    """The key a browser subscribes with (`applicationServerKey`). Not a secret."""
    vapid: Vapid = request.app.state.vapid
    return PublicKey(public_key=vapid.public_key)


def _checked_keys(keys: Keys) -> None:
    try:
        point, auth = unb64url(keys.p256dh), unb64url(keys.auth)
    except ValueError as error:
        raise Invalid("keys.p256dh and keys.auth must be base64url") from error
    if len(auth) != 16:
        raise Invalid("keys.auth must be 16 bytes")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as error:
        raise Invalid("keys.p256dh must be an uncompressed P-256 public key") from error
    if len(point) != 65:
        raise Invalid("keys.p256dh must be an uncompressed P-256 public key")


def subscription_id(secret: str, p: str, username: str, enrolled_at: str, endpoint: str) -> str:
    """The same for the same browser of the same enrolment: a username enrolled again
    starts afresh (its old subscriptions are not pushed to, hub/application/push.py)."""
    named = f"push\0{p}\0{username}\0{enrolled_at}\0{endpoint}".encode()
    return hmac.new(secret.encode(), named, hashlib.sha256).hexdigest()[:32]


def _partnership(viewer: Viewer) -> str:
    return sorted(viewer.partnerships)[0]


@router.post("/subscriptions", status_code=201, responses=answers(404))
async def subscribe(
    request: Request, body: PushSubscriptionBody, viewer: Viewer = May("receive")
) -> dict[str, Any]:
    """Push this browser every urgent or emergency alert and breach its member may see."""
    _checked_keys(body.keys)
    await check(body.endpoint, insecure_endpoints())
    p = _partnership(viewer)
    member = hub_of(request).view(p).members.get(viewer.user)
    ensure(member is not None, 404, f"no member {viewer.user} in partnership {p}")
    assert member is not None
    sid = subscription_id(request.app.state.secret, p, viewer.user, member["enrolled_at"], body.endpoint)
    keys = PushKeys(endpoint=body.endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth)
    command = SubscribePush(username=viewer.user, subscription_id=sid, subscription=keys)
    return await submit(request, viewer, p, command)


@router.delete("/subscriptions/{subscription_id}")
async def unsubscribe(
    request: Request, subscription_id: str, viewer: Viewer = May("receive")
) -> dict[str, Any]:
    """Stop pushing to a subscription of your own (any other: 404)."""
    p = _partnership(viewer)
    command = UnsubscribePush(subscription_id=subscription_id, username=viewer.user)
    return await submit(request, viewer, p, command)
