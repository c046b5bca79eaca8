"""Web Push, the pure part: the subscriptions index, who is pushed which event, and what
the push says. The sender (hub/push/sender.py) encrypts and sends.

- The index is the push sender's own small projection of the `push` streams: folded
  from the log at start-up (`load`), then kept in step with each published event.
- Pushed: every urgent or emergency alert, breach alerts among them, to each active
  subscription of a member the live socket would send its frame to
  (projections/audience.py, the same rule), whose member is still enrolled, and
  enrolled before it subscribed (a username enrolled again starts with none).
- The payload names no subject and carries none of an alert's free text (which may
  describe a person): only its priority, whether it is a breach, the venue's name and
  the channel's, which are the partnership's set-up, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.log.port import EventReader
from projections.audience import Viewer, audience
from projections.views import PartnershipView
from schemas.events import AlertBroadcast, PushSubscribed, PushUnsubscribed

STREAM = "push"
PUSHED_PRIORITIES = frozenset({"urgent", "emergency"})


@dataclass(frozen=True)
class Recipient:
    subscription_id: str
    username: str
    sealed: dict[str, str]  # the endpoint and keys, sealed with the member's key
    subscribed_position: int


class PushIndex:
    """Active subscriptions by partnership, as of each partnership's `position`."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, dict[str, Any]]] = {}
        self.positions: dict[str, int] = {}

    def load(self, log: EventReader) -> None:
        """Fold every partnership's push stream (a few events each) from the log."""
        for p in log.partnerships():
            for event in log.read_stream(p, STREAM):
                self.apply(event)
            self.positions[p] = max(self.positions.get(p, 0), log.head(p))

    def apply(self, event: dict[str, Any]) -> None:
        p = event["partnership"]
        if event["position"] <= self.positions.get(p, 0):
            return
        self.positions[p] = event["position"]
        data = event["data"]
        if event["type"] == PushSubscribed.TYPE:
            self.subscriptions.setdefault(p, {})[data["subscription_id"]] = {
                "username": data["username"],
                "subscription": data["subscription"],
                "position": event["position"],
                "at": event["occurred_at"],
            }
        elif event["type"] == PushUnsubscribed.TYPE:
            self.subscriptions.get(p, {}).pop(data["subscription_id"], None)

    def count(self) -> int:
        return sum(len(s) for s in self.subscriptions.values())


def pushed(event: dict[str, Any]) -> bool:
    """Whether an event is pushed at all: an urgent or emergency alert (breaches' included)."""
    return event["type"] == AlertBroadcast.TYPE and event["data"]["priority"] in PUSHED_PRIORITIES


def recipients(index: PushIndex, view: PartnershipView, event: dict[str, Any]) -> list[Recipient]:
    """The subscriptions `event` is pushed to: those of members who may see its frame."""
    if not pushed(event):
        return []
    p = event["partnership"]
    who = audience(view, event)
    found = []
    for subscription_id, record in index.subscriptions.get(p, {}).items():
        member = view.members.get(record["username"])
        if member is None or not member["active"] or member["enrolled_at"] > record["at"]:
            continue
        viewer = Viewer(record["username"], member["role"], frozenset({p}), member["venue"])
        if who.admits(viewer):
            found.append(
                Recipient(subscription_id, record["username"], record["subscription"], record["position"])
            )
    return found


def payload(view: PartnershipView, event: dict[str, Any]) -> dict[str, Any]:
    """What the push says: no subject, no free text; the priority in the title."""
    data = event["data"]
    priority = str(data["priority"]).capitalize()
    title = f"{priority}: exclusion breach" if data.get("breach_of") else f"{priority} alert"
    where = [view.channels.get(data["channel"], data["channel"])]
    if data.get("venue"):
        where.insert(0, view.venues.get(data["venue"], {}).get("name", data["venue"]))
    return {
        "partnership": event["partnership"],
        "position": event["position"],
        "type": event["type"],
        "title": title,
        "body": " · ".join(where),
    }
