"""The alert stream: one radio-net message, its acknowledgements and its end.

Every alert is also the radio log entry. A breach alert is an urgent alert on the main
net, sent to the venue where an excluded subject was placed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, assert_never

from hub.domain import Context, NotFound, Rejected
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership, require_venue
from schemas.commands import AcknowledgeAlert, BroadcastAlert, CloseAlert, RaiseBreachAlert
from schemas.events import AlertAcknowledged, AlertBroadcast, AlertCancelled, AlertResolved, Event


@dataclass(frozen=True)
class Alert:
    exists: bool = False
    status: str = "none"  # active, resolved, cancelled
    acknowledged_by: frozenset[str] = frozenset()
    venue: str | None = None
    breach_of: str | None = None

    @property
    def where(self) -> dict[str, str | None]:
        """Carried by each event that follows the broadcast: who may see it."""
        return {"venue": self.venue, "breach_of": self.breach_of}


Commands = BroadcastAlert | RaiseBreachAlert | AcknowledgeAlert | CloseAlert


def stream(alert_id: str) -> str:
    return f"alert-{alert_id}"


def initial() -> Alert:
    return Alert()


EVOLUTIONS: dict[str, Evolution[Alert]] = {
    AlertBroadcast.TYPE: lambda s, d: replace(
        s, exists=True, status="active", venue=d.get("venue"), breach_of=d.get("breach_of")
    ),
    AlertAcknowledged.TYPE: lambda s, d: replace(s, acknowledged_by=s.acknowledged_by | {d["user"]}),
    AlertResolved.TYPE: lambda s, d: replace(s, status="resolved"),
    AlertCancelled.TYPE: lambda s, d: replace(s, status="cancelled"),
}


def decide(command: Commands, state: Alert, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case BroadcastAlert():
            require_venue(setup, command.venue)
            return broadcast(state, command.model_dump(exclude={"action"}), setup.channels)
        case RaiseBreachAlert():
            return broadcast(state, breach_alert(command, setup), setup.channels)
        case AcknowledgeAlert():
            return acknowledge(state, command.alert_id, ctx.user)
        case CloseAlert():
            return close(state, command.alert_id, command.note, command.cancelled)
        case _:
            assert_never(command)


def breach_alert(command: RaiseBreachAlert, setup: Partnership) -> dict[str, Any]:
    """The alert a breach raises: urgent, on the main net, to the breached venue."""
    name = setup.venues.get(command.venue, {}).get("name", command.venue)
    return {
        "alert_id": command.alert_id,
        "channel": "main",
        "priority": "urgent",
        "text": f"Exclusion breach at {name}: excluded subject seen (exclusion {command.exclusion_id})",
        "venue": command.venue,
        "location": None,
        "subject_id": command.subject_id,
        "breach_of": command.exclusion_id,
    }


def broadcast(state: Alert, alert: dict[str, Any], channels: frozenset[str]) -> list[Event]:
    if state.exists:
        raise Rejected(f"alert {alert['alert_id']} already exists")
    if alert["channel"] not in channels:
        raise Rejected(f"no open channel {alert['channel']}")
    return [AlertBroadcast(**alert)]


def acknowledge(state: Alert, alert_id: str, user: str) -> list[Event]:
    """Acknowledge once per user; a second acknowledgement by the same user changes nothing."""
    if not state.exists:
        raise NotFound(f"no alert {alert_id}")
    if user in state.acknowledged_by:
        return []
    return [AlertAcknowledged(alert_id=alert_id, user=user, **state.where)]


def close(state: Alert, alert_id: str, note: str | None, cancelled: bool) -> list[Event]:
    if not state.exists:
        raise NotFound(f"no alert {alert_id}")
    if state.status != "active":
        raise Rejected(f"alert {alert_id} is already {state.status}")
    kind = AlertCancelled if cancelled else AlertResolved
    return [kind(alert_id=alert_id, note=note, **state.where)]


decider = Decider.of("alert", Commands, lambda c: stream(c.alert_id), initial, EVOLUTIONS, decide)
evolve = decider.evolve
