"""The event envelope: what every event in the log carries around its data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

ROLES = (
    "door_staff",
    "retail_staff",
    "cctv_operator",
    "police",
    "coordinator",
    "auditor",
    "admin",
)


class Actor(BaseModel):
    """Who caused an event: a user and the role they acted in, or a processor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    user: str
    role: str


class Envelope(BaseModel):
    """One event as stored: immutable, hash chained per partnership."""

    model_config = ConfigDict(extra="forbid")
    id: str
    type: str
    schema_version: int = 1
    partnership: str
    stream: str
    stream_version: int
    position: int
    occurred_at: str
    recorded_at: str
    actor: Actor
    command_id: str
    correlation_id: str
    causation_id: str | None = None
    data: dict[str, Any]
    hash: str
