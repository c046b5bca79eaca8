"""Live frames: each published event's frame, the sockets' outboxes, and the broadcaster.

The audience of an event (projections/audience.py) is worked out once, when it is
published; each socket then only checks its viewer against it. Frames never carry
personal data or secrets (`PRIVATE_FIELDS`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from projections.audience import Audience, Viewer, audience
from projections.views import PartnershipView
from schemas.events import FREE_TEXT_FIELDS, PRIVATE_FIELDS, MemberAccessRevoked

Reveal = Callable[[dict[str, Any]], dict[str, Any]]


def _hidden(data: dict[str, Any]) -> dict[str, Any]:
    """Sealed free text left out, where nothing may open it."""
    return {k: None if k in FREE_TEXT_FIELDS and isinstance(v, dict) else v for k, v in data.items()}


def frame(event: dict[str, Any], reveal: Reveal = _hidden) -> str:
    """The live frame for an event, encoded once and shared by every socket; its free text
    about a subject opened by `reveal`."""
    data = reveal({k: v for k, v in event["data"].items() if k not in PRIVATE_FIELDS})
    message = {
        "op": "event",
        "partnership": event["partnership"],
        "position": event["position"],
        "type": event["type"],
        "id": event["id"],
        "occurred_at": event["occurred_at"],
        "actor": event["actor"]["user"],
        "data": data,
    }
    return orjson.dumps(message).decode()


def ws_frame(text: str) -> bytes:
    """`text` as one unmasked, unfragmented WebSocket text frame (a server's frame)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class Subscription:
    """One live socket's outbox: frames wait here until its writer sends them.

    A reader that falls more than `limit` frames behind is marked overflowed; its
    socket is then closed with 1013 and it resumes from its last position. Nobody
    else waits for it.

    `last` is the position last sent per partnership (a frame at or before it is not
    sent again). `direct`, when the server offers one, writes a ready-made frame to the
    socket's transport and says whether it did; the broadcaster uses it only once the
    backlog is sent (`live`), while the outbox is empty and no send is under way
    (`sending`), so frames still go out in order.
    """

    def __init__(
        self,
        viewer: Viewer,
        limit: int,
        since: dict[str, int] | None = None,
        direct: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.viewer = viewer
        self.limit = limit
        self.frames: deque[tuple[str, int, str]] = deque()
        self.overflowed = False
        self.wake = asyncio.Event()
        self.fell_behind = asyncio.Event()
        # Why the hub ends this socket now (its member revoked, its token expired), or None.
        self.ended: str | None = None
        self.last: dict[str, int] = dict(since or {})
        self.direct = direct
        self.live = False
        self.sending = False

    def end(self, reason: str) -> None:
        """Close this socket at once, whatever it is doing (its live loop sees `ended`)."""
        self.ended = reason
        self.fell_behind.set()
        self.wake.set()

    def push(self, partnership: str, position: int, text: str) -> None:
        if len(self.frames) >= self.limit:
            self.overflowed = True
            self.fell_behind.set()
        else:
            self.frames.append((partnership, position, text))
        self.wake.set()


@dataclass(frozen=True)
class Queued:
    """An event waiting to be sent: who may see it, its frame as text and as wire bytes."""

    partnership: str
    position: int
    audience: Audience
    text: str
    data: bytes


# After a flush of several events that took longer than LONG_FLUSH_SECONDS (events come
# faster than they can be sent one by one), the next flush waits REST times as long:
# events meanwhile go out together, one write per socket for all of them. Under a flood
# of alerts to thousands of sockets this keeps the hub delivering every frame instead of
# falling behind; a lone alert, or a flush to a few sockets, never waits.
LONG_FLUSH_SECONDS = 0.02
REST = 0.5


class Broadcaster:
    """Fans each published event out to the subscriptions that may see it.

    Events are queued as they are applied (`queue`) and sent together (`flush`): a socket
    that may see several of them gets them in one write. Each frame is encoded once per
    event, and a batch's bytes once per kind of viewer (role, venue, partnerships).
    """

    def __init__(self, reveal: Reveal = _hidden) -> None:
        self.reveal = reveal
        self.subscriptions: dict[str, set[Subscription]] = {}
        self.queued: list[Queued] = []
        self.resting_until = 0.0
        self._due: asyncio.TimerHandle | None = None

    def add(self, subscription: Subscription) -> None:
        for partnership in subscription.viewer.partnerships:
            self.subscriptions.setdefault(partnership, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        for partnership in subscription.viewer.partnerships:
            self.subscriptions.get(partnership, set()).discard(subscription)

    def __call__(self, view: PartnershipView, event: dict[str, Any]) -> None:
        """A reaction to each published event: a member revoked loses their open sockets
        at once (their token also stops working on REST and in a new hello)."""
        if event["type"] == MemberAccessRevoked.TYPE:
            username = event["data"]["username"]
            for subscription in list(self.subscriptions.get(event["partnership"], ())):
                if subscription.viewer.user == username:
                    subscription.end("access revoked")

    def publish(self, view: PartnershipView, event: dict[str, Any]) -> None:
        self.queue(view, event)
        self.flush()

    def queue(self, view: PartnershipView, event: dict[str, Any]) -> None:
        """Note `event` for the next flush, with its audience as of `view` (just applied)."""
        if not self.subscriptions.get(event["partnership"]):
            return
        who = audience(view, event)
        if who.roles:
            text = frame(event, self.reveal)
            self.queued.append(Queued(event["partnership"], event["position"], who, text, ws_frame(text)))

    def flush(self) -> None:
        """Send what was queued now or, resting after a long flush, when the rest is over."""
        if self._due is not None:
            return  # a flush is already due, and takes these too
        wait = self.resting_until - time.monotonic()
        if wait > 0:
            try:
                self._due = asyncio.get_running_loop().call_later(wait, self._send_due)
                return
            except RuntimeError:  # no event loop (tests of pure code): send now
                pass
        self._send()

    def _send_due(self) -> None:
        self._due = None
        self._send()

    def _send(self) -> None:
        """One write per idle socket, the outbox for the others."""
        batch, self.queued = self.queued, []
        if not batch:
            return
        started = time.monotonic()
        self._fan_out(batch)
        took = time.monotonic() - started
        busy = took > LONG_FLUSH_SECONDS and len(batch) > 1  # events already arrive faster than one flush
        self.resting_until = time.monotonic() + REST * took if busy else 0.0

    def _fan_out(self, batch: list[Queued]) -> None:
        """Each subscriber's share of the batch; none to a socket the hub is ending (its
        member was revoked by an event of this very batch, perhaps, before the others)."""
        partnerships = {item.partnership for item in batch}
        subscribers: set[Subscription] = {
            s for p in partnerships for s in self.subscriptions.get(p, ()) if s.ended is None
        }
        kinds: dict[tuple[str, str | None, frozenset[str]], tuple[list[Queued], bytes]] = {}
        for subscription in subscribers:
            viewer = subscription.viewer
            kind = (viewer.role, viewer.venue, viewer.partnerships)
            found = kinds.get(kind)
            if found is None:
                seen = [
                    q for q in batch if q.partnership in viewer.partnerships and q.audience.admits(viewer)
                ]
                found = kinds[kind] = (seen, b"".join(q.data for q in seen))
            items, data = found
            if items and not self._write(subscription, items, data):
                for q in items:
                    subscription.push(q.partnership, q.position, q.text)

    @staticmethod
    def _write(subscription: Subscription, items: list[Queued], data: bytes) -> bool:
        """Write `items` straight to an idle, live socket in one go, if it has none of them yet."""
        direct, last = subscription.direct, subscription.last
        if (
            direct is None
            or not subscription.live
            or subscription.frames
            or subscription.sending
            or subscription.overflowed
            or any(q.position <= last.get(q.partnership, 0) for q in items)
            or not direct(data)
        ):
            return False
        for q in items:
            last[q.partnership] = q.position
        return True

    def count(self) -> int:
        return len({s for subs in self.subscriptions.values() for s in subs})
