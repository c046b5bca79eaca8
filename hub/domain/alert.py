"""The alert stream: one radio-net message, its acknowledgements and its end.

Every alert is also the radio log entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hub.domain import Fact, NotFound, Rejected


@dataclass(frozen=True)
class Alert:
    exists: bool = False
    status: str = "none"  # active, resolved, cancelled
    acknowledged_by: frozenset[str] = frozenset()


def stream(alert_id: str) -> str:
    return f"alert-{alert_id}"


def initial() -> Alert:
    return Alert()


def evolve(state: Alert, type: str, data: dict[str, Any]) -> Alert:
    if type == "alert.broadcast":
        return replace(state, exists=True, status="active")
    if type == "alert.acknowledged":
        return replace(state, acknowledged_by=state.acknowledged_by | {data["user"]})
    if type == "alert.resolved":
        return replace(state, status="resolved")
    if type == "alert.cancelled":
        return replace(state, status="cancelled")
    return state


def broadcast(state: Alert, alert: dict[str, Any], channels: frozenset[str]) -> list[Fact]:
    if state.exists:
        raise Rejected(f"alert {alert['alert_id']} already exists")
    if alert["channel"] not in channels:
        raise Rejected(f"no open channel {alert['channel']}")
    return [Fact("alert.broadcast", alert)]


def acknowledge(state: Alert, alert_id: str, user: str) -> list[Fact]:
    """Acknowledge once per user; a second acknowledgement by the same user changes nothing."""
    if not state.exists:
        raise NotFound(f"no alert {alert_id}")
    if user in state.acknowledged_by:
        return []
    return [Fact("alert.acknowledged", {"alert_id": alert_id, "user": user})]


def close(state: Alert, alert_id: str, note: str | None, cancelled: bool) -> list[Fact]:
    if not state.exists:
        raise NotFound(f"no alert {alert_id}")
    if state.status != "active":
        raise Rejected(f"alert {alert_id} is already {state.status}")
    kind = "alert.cancelled" if cancelled else "alert.resolved"
    return [Fact(kind, {"alert_id": alert_id, "note": note})]
