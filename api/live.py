"""The live socket, `/v1/live`: hello, welcome, every frame since, then live; and acks.

A resume from the last position a client saw delivers every frame it may see exactly
once, in order: the subscription starts before the backlog is read, and a frame is sent
only if its position is past the last one sent for its partnership.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import replace
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.access import member_of
from api.auth import Unauthorised, read_token, still_enrolled
from api.metrics import LIVE_CONNECTIONS
from api.transport import writer
from hub.application.refusals import status_of
from hub.bootstrap import SYSTEM_PARTNERSHIP, Hub
from hub.domain import Actor
from projections.audience import Viewer, audience, sees_alert
from projections.live import Subscription, frame
from schemas.commands import AcknowledgeAlert, Submission
from schemas.roles import RECEIVERS

router = APIRouter()

HELLO_SECONDS = 10
# Frames a socket may fall behind before it is closed with 1013 (HUB_OUTBOX_LIMIT).
OUTBOX_LIMIT = int(os.environ.get("HUB_OUTBOX_LIMIT", "10000"))
BACKLOG_CHUNK = 2_000
POLICY = 1008
TRY_AGAIN_LATER = 1013


class Refused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _hello(hub: Hub, secret: str, text: str) -> tuple[Viewer, dict[str, int]]:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise Refused('first message must be JSON: {"op": "hello", "token": ...}') from error
    if not isinstance(message, dict) or message.get("op") != "hello":
        raise Refused('first message must be {"op": "hello", "token": ..., "since": {...}}')
    token = message.get("token")
    if not isinstance(token, str):
        raise Refused("hello needs a token")
    try:
        viewer = read_token(secret, token)
    except Unauthorised as error:
        raise Refused(str(error)) from error
    if not still_enrolled(hub, viewer):
        raise Refused("access revoked")
    if viewer.role not in RECEIVERS:
        raise Refused(f"the {viewer.role} role does not receive alerts")
    since = message.get("since") or {}
    if not isinstance(since, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in since.items()
    ):
        raise Refused("since must map partnership ids to positions (integers from 0)")
    mine = [p for p in hub.views if p != SYSTEM_PARTNERSHIP and member_of(viewer, p)]
    foreign = [p for p in since if p not in mine]
    if foreign:
        raise Refused(f"not a member of partnership {foreign[0]}")
    ahead = [p for p in since if since[p] > hub.views[p].position]
    if ahead:
        p = ahead[0]
        raise Refused(
            f"since {p}: {since[p]} is past the head ({hub.views[p].position}); resume from it or 0"
        )
    return viewer, {p: since.get(p, 0) for p in mine}


@router.websocket("/v1/live")
async def live(socket: WebSocket) -> None:
    hub: Hub = socket.app.state.hub
    await socket.accept()
    try:
        text = await asyncio.wait_for(socket.receive_text(), HELLO_SECONDS)
        viewer, since = _hello(hub, socket.app.state.secret, text)
    except (TimeoutError, Refused, KeyError, WebSocketDisconnect, RuntimeError) as error:
        detail = error.detail if isinstance(error, Refused) else "expected a hello"
        with contextlib.suppress(Exception):
            await socket.send_text(orjson.dumps({"op": "error", "detail": detail}).decode())
            await socket.close(POLICY, detail[:120])
        return
    subscription = Subscription(
        replace(viewer, partnerships=frozenset(since)),
        OUTBOX_LIMIT,
        since,
        writer(socket.scope),
    )
    hub.live.add(subscription)
    LIVE_CONNECTIONS.inc()
    expiry = _Expiry(subscription)
    try:
        heads = {p: hub.views[p].position for p in since}
        await socket.send_text(orjson.dumps({"op": "welcome", "positions": heads}).decode())
        sender = asyncio.create_task(_send(hub, socket, subscription, heads))
        receiver = asyncio.create_task(_receive(hub, socket, subscription, expiry))
        behind = asyncio.create_task(subscription.fell_behind.wait())
        tasks = {sender, receiver, behind}
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        # a client that went away ends its tasks with exceptions nobody needs to see
        await asyncio.gather(*tasks, return_exceptions=True)
        if subscription.ended:
            hub.live.remove(subscription)
            with contextlib.suppress(Exception):
                await socket.send_text(orjson.dumps({"op": "error", "detail": subscription.ended}).decode())
                await socket.close(POLICY, subscription.ended[:120])
            return
        if subscription.overflowed:
            # Let go of its frames at once; the close waits behind what the client has not
            # read yet (a client that reads nothing is dropped by the keepalive instead).
            hub.live.remove(subscription)
            subscription.frames.clear()
            with contextlib.suppress(Exception):
                await socket.close(TRY_AGAIN_LATER, "too far behind: resume from your last position")
    finally:
        expiry.cancel()
        hub.live.remove(subscription)
        LIVE_CONNECTIONS.dec()


async def _send(hub: Hub, socket: WebSocket, subscription: Subscription, heads: dict[str, int]) -> None:
    """Backlog (since, head] from the log, then live frames past what was sent.

    Once the backlog is sent the broadcaster may write frames to the socket itself
    (`subscription.live`), but only while the outbox is empty and no send is under way
    here; both paths record what they sent in `subscription.last`.
    """
    last = subscription.last
    try:
        for p, head in heads.items():
            while last[p] < head:
                await _backlog(hub, socket, subscription, p, min(head, last[p] + BACKLOG_CHUNK))
                if subscription.overflowed:
                    return
        subscription.live = True
        while not subscription.overflowed:
            await subscription.wake.wait()
            subscription.wake.clear()
            while subscription.frames and not subscription.overflowed:
                p, position, text = subscription.frames.popleft()
                if position > last.get(p, 0):
                    subscription.sending = True
                    await socket.send_text(text)
                    subscription.sending = False
                    last[p] = position
    finally:
        subscription.live = False
        subscription.direct = None


async def _backlog(hub: Hub, socket: WebSocket, subscription: Subscription, p: str, upto: int) -> None:
    """Send the frames of (last sent, upto] the socket may see, read from the log.

    A function of its own so that the events read are let go of once sent: kept in
    `_send`'s frame they stayed in memory as long as the socket was open (found by
    bench/soak.py: every resumed device held its backlog, ~7 MiB a minute).
    """
    last = subscription.last
    events = await asyncio.to_thread(_read, hub, p, last[p] + 1, upto)
    view = hub.views[p]
    for event in events:
        if audience(view, event).admits(subscription.viewer):
            await socket.send_text(frame(event, hub.live.reveal))
    last[p] = upto


def _read(hub: Hub, p: str, first: int, last: int) -> list[dict[str, Any]]:
    return list(hub.log.read(p, first, last))


class _Expiry:
    """Ends a socket when its token expires; a fresh token moves the moment. One timer a
    socket, no polling: ten thousand idle sockets cost nothing until their hour is up."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.handle: asyncio.TimerHandle | None = None
        self.move(subscription.viewer.expires)

    def move(self, expires: int) -> None:
        self.cancel()
        delay = max(0.0, expires - time.time())
        reason = "token expired: sign in again, or send a fresh token before it expires"
        self.handle = asyncio.get_running_loop().call_later(delay, self.subscription.end, reason)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


def _refresh(
    hub: Hub, secret: str, subscription: Subscription, expiry: _Expiry, token: Any
) -> dict[str, Any]:
    """`{"op": "token", "token": ...}`: a fresh token for the same member keeps the socket open."""
    try:
        fresh = read_token(secret, token if isinstance(token, str) else "")
    except Unauthorised as error:
        return {"op": "error", "detail": str(error)}
    viewer = subscription.viewer
    if (fresh.user, fresh.role) != (viewer.user, viewer.role) or not still_enrolled(hub, fresh):
        return {"op": "error", "detail": "that token is not this member's"}
    subscription.viewer = replace(viewer, expires=fresh.expires)
    expiry.move(fresh.expires)
    return {"op": "token", "expires_in": max(0, fresh.expires - int(time.time()))}


async def _receive(hub: Hub, socket: WebSocket, subscription: Subscription, expiry: _Expiry) -> None:
    """Acks and fresh tokens from the client; anything else gets an error frame and
    changes nothing."""
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            reply: dict[str, Any] = {"op": "error", "detail": "send JSON text frames, not binary"}
        else:
            reply = await _on_message(hub, socket.app.state.secret, subscription, expiry, text)
        await socket.send_text(orjson.dumps(reply).decode())


async def _on_message(
    hub: Hub, secret: str, subscription: Subscription, expiry: _Expiry, text: str
) -> dict[str, Any]:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"op": "error", "detail": "messages must be JSON objects"}
    if isinstance(message, dict) and message.get("op") == "ping":
        return {"op": "pong"}
    if isinstance(message, dict) and message.get("op") == "token":
        return _refresh(hub, secret, subscription, expiry, message.get("token"))
    if not isinstance(message, dict) or message.get("op") != "ack":
        return {
            "op": "error",
            "detail": 'unknown op: send {"op": "ack", "alert_id": ...}, "token" or "ping"',
        }
    viewer = subscription.viewer
    if not still_enrolled(hub, viewer):  # revoked, and its frame not yet published here
        subscription.end("access revoked")
        return {"op": "error", "detail": "access revoked"}
    alert_id = message.get("alert_id")
    partnership = message.get("partnership")
    if not isinstance(alert_id, str) or not alert_id:
        return {"op": "error", "detail": "ack needs an alert_id"}
    candidates = [p for p in hub.views if member_of(viewer, p) and p != SYSTEM_PARTNERSHIP]
    if isinstance(partnership, str):
        candidates = [p for p in candidates if p == partnership]
    for p in candidates:
        view = hub.views[p]
        alert = hub.queries.record(p, "alerts", alert_id)  # from the log if it left memory
        if alert is None or not sees_alert(view, alert, viewer):
            continue
        command_id = message.get("command_id") if isinstance(message.get("command_id"), str) else None
        submission = Submission(
            f"{viewer.user}:{command_id}" if command_id else hub.new_id(), AcknowledgeAlert(alert_id=alert_id)
        )
        try:
            answer = await hub.submit(p, submission, Actor(viewer.user, viewer.role))
        except Exception as error:
            if status_of(error) == 500:
                raise
            return {"op": "error", "detail": str(error)}
        return {
            "op": "acked",
            "alert_id": alert_id,
            "partnership": p,
            "positions": answer.get("positions", []),
        }
    return {"op": "error", "detail": f"no alert {alert_id}"}
