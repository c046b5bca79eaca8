"""Who may see which event as a live frame, and the frame itself.

The audience of an event is worked out once, when it is published; each socket then
only checks its viewer against it. Frames never carry personal data or password hashes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from projections.views import PartnershipView

VENUE_ROLES = frozenset({"door_staff", "retail_staff"})
RECEIVERS = frozenset({"door_staff", "retail_staff", "cctv_operator", "police", "coordinator"})
CONTROL = frozenset({"cctv_operator", "police", "coordinator"})
COORDINATOR = frozenset({"coordinator"})
EVERY_VENUE = None


@dataclass(frozen=True)
class Viewer:
    """A connected user, as their token describes them."""

    user: str
    role: str
    partnerships: frozenset[str]
    venue: str | None


@dataclass(frozen=True)
class Audience:
    """Roles that see an event; venue staff see it only at `venues` (None: at every venue)."""

    roles: frozenset[str]
    venues: frozenset[str] | None = frozenset()

    def admits(self, viewer: Viewer) -> bool:
        if viewer.role not in self.roles:
            return False
        if viewer.role in VENUE_ROLES:
            return self.venues is None or viewer.venue in self.venues
        return True


NOBODY = Audience(frozenset())


def _at(venues: list[str] | None) -> Audience:
    """Control room, police, coordinator, and venue staff at `venues` (empty: all)."""
    return Audience(CONTROL | VENUE_ROLES, frozenset(venues) if venues else None)


def audience(view: PartnershipView, event: dict[str, Any]) -> Audience:
    """Who may see `event`, given the partnership's view after it was applied."""
    kind, data = event["type"], event["data"]
    family = kind.split(".", 1)[0]
    if family == "alert":
        alert = view.alerts.get(data["alert_id"], data)
        if alert.get("breach_of"):
            return _at([alert["venue"]])
        return Audience(RECEIVERS, EVERY_VENUE)
    if kind == "exclusion.breached" or family in ("incident", "sighting"):
        venue = data.get("venue") or view.incidents.get(data.get("incident_id", ""), {}).get("venue")
        return _at([venue] if venue else None)
    if kind in ("exclusion.issued", "exclusion.served", "exclusion.revoked", "exclusion.expired"):
        exclusion = view.exclusions.get(data["exclusion_id"], {})
        return _at(exclusion.get("venues"))
    if family in ("exclusion", "warning", "subject", "partnership", "venue", "channel", "member"):
        return Audience(COORDINATOR)
    return NOBODY


PRIVATE_FIELDS = ("personal", "password_hash", "code_hash")


def frame(event: dict[str, Any]) -> str:
    """The live frame for an event, encoded once and shared by every socket."""
    data = {k: v for k, v in event["data"].items() if k not in PRIVATE_FIELDS}
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


class Subscription:
    """One live socket's outbox: frames wait here until its writer sends them.

    A reader that falls more than `limit` frames behind is marked overflowed; its
    socket is then closed with 1013 and it resumes from its last position. Nobody
    else waits for it.
    """

    def __init__(self, viewer: Viewer, limit: int) -> None:
        self.viewer = viewer
        self.limit = limit
        self.frames: deque[tuple[str, int, str]] = deque()
        self.overflowed = False
        self.wake = asyncio.Event()
        self.fell_behind = asyncio.Event()

    def push(self, partnership: str, position: int, text: str) -> None:
        if len(self.frames) >= self.limit:
            self.overflowed = True
            self.fell_behind.set()
        else:
            self.frames.append((partnership, position, text))
        self.wake.set()


class Broadcaster:
    """Fans each published event out to the subscriptions that may see it."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        for partnership in subscription.viewer.partnerships:
            self.subscriptions.setdefault(partnership, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        for partnership in subscription.viewer.partnerships:
            self.subscriptions.get(partnership, set()).discard(subscription)

    def publish(self, view: PartnershipView, event: dict[str, Any]) -> None:
        subscribers = self.subscriptions.get(event["partnership"])
        if not subscribers:
            return
        who = audience(view, event)
        text: str | None = None
        for subscription in subscribers:
            if who.admits(subscription.viewer):
                text = text or frame(event)
                subscription.push(event["partnership"], event["position"], text)

    def count(self) -> int:
        return len({s for subs in self.subscriptions.values() for s in subs})
