"""Pure domain: deciders (initial, evolve, decide) for each stream, and the processors.

Nothing here reads a clock, a file or a socket: time and identifiers arrive in the
command's context, so every rule is a given/when/then test and replay is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TWELVE_MONTHS = timedelta(days=365)
SIX_MONTHS = timedelta(days=182)


@dataclass(frozen=True)
class Fact:
    """An event as a decider states it, before the log gives it a place."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Context:
    """Who is acting, and when: the only outside facts a decider sees."""

    user: str
    role: str
    at: datetime


@dataclass(frozen=True)
class Command:
    """What someone (or a processor) asks of the hub: an action and its arguments.

    `id` makes retries harmless: a command id already answered writes nothing again.
    """

    id: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    causation_id: str | None = None


class Rejected(Exception):
    """A command the rules refuse (answered 409)."""


class NotFound(Exception):
    """A command aimed at something that does not exist (answered 404)."""


def iso(moment: datetime) -> str:
    """The one text form of a moment in the log: UTC, microseconds, 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
