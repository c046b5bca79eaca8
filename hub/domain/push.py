"""The push stream: a partnership's Web Push subscriptions, one stream for all of them.

A member of a receiving role subscribes their browser; the subscription's endpoint and
keys arrive sealed with the member's key (they are the browser's secrets) and are never
read here. The same subscription again adds nothing; only its member removes it, or the
processor when the push service says it is gone (404/410). Whether a member may still
be pushed to (not revoked) is checked where pushes are sent, against the views.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from hub.domain import Context, NotFound, Rejected
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership
from schemas.commands import SubscribePush, UnsubscribePush
from schemas.events import Event, PushSubscribed, PushUnsubscribed
from schemas.roles import RECEIVERS

STREAM = "push"


@dataclass(frozen=True)
class Subscriptions:
    """Active subscriptions: id to the member it belongs to."""

    owners: dict[str, str] = field(default_factory=dict)


Commands = SubscribePush | UnsubscribePush


def initial() -> Subscriptions:
    return Subscriptions()


def _subscribed(state: Subscriptions, data: dict[str, Any]) -> Subscriptions:
    return replace(state, owners={**state.owners, data["subscription_id"]: data["username"]})


def _unsubscribed(state: Subscriptions, data: dict[str, Any]) -> Subscriptions:
    return replace(state, owners={k: v for k, v in state.owners.items() if k != data["subscription_id"]})


EVOLUTIONS: dict[str, Evolution[Subscriptions]] = {
    PushSubscribed.TYPE: _subscribed,
    PushUnsubscribed.TYPE: _unsubscribed,
}


def decide(command: Commands, state: Subscriptions, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case SubscribePush():
            return subscribe(state, setup, command.subscription_id, command.username, command.subscription)
        case UnsubscribePush():
            return unsubscribe(state, command.subscription_id, command.username, command.reason)
        case _:
            assert_never(command)


def subscribe(
    state: Subscriptions, setup: Partnership, subscription_id: str, username: str, subscription: Any
) -> list[Event]:
    """An active member of a receiving role subscribes; the same subscription again is a no-op."""
    member = setup.members.get(username)
    if member is None or not member["active"]:
        raise NotFound(f"no active member {username}")
    if member["role"] not in RECEIVERS:
        raise Rejected(f"a {member['role']} receives no alerts, so no pushes")
    owner = state.owners.get(subscription_id)
    if owner == username:
        return []
    if owner is not None:
        raise Rejected(f"push subscription {subscription_id} belongs to another member")
    data = {"subscription_id": subscription_id, "username": username, "subscription": subscription}
    return [PushSubscribed.model_validate(data)]


def unsubscribe(state: Subscriptions, subscription_id: str, username: str, reason: str) -> list[Event]:
    """Only the subscription's own member removes it (anyone else: as if it did not exist)."""
    if state.owners.get(subscription_id) != username:
        raise NotFound(f"no push subscription {subscription_id}")
    return [
        PushUnsubscribed.model_validate(
            {"subscription_id": subscription_id, "username": username, "reason": reason}
        )
    ]


decider = Decider.of(STREAM, Commands, lambda command: STREAM, initial, EVOLUTIONS, decide)
evolve = decider.evolve
