"""Pure domain: one decider per stream (initial, evolve, decide), and the processors.

Nothing here reads a clock, a file or a socket: time and identifiers arrive in the
command and its context, so every rule is a given/when/then test and replay is
deterministic. `hub.domain.registry` joins the deciders into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TWELVE_MONTHS = timedelta(days=365)
SIX_MONTHS = timedelta(days=182)


@dataclass(frozen=True)
class Context:
    """Who is acting, and when: the only outside facts a decider sees."""

    user: str
    role: str
    at: datetime


@dataclass(frozen=True)
class Actor:
    """Who gives a command: a member and the role they act in, or a processor."""

    user: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role}


class Refusal(Exception):
    """A command the hub will not carry out; nothing was written."""


class Rejected(Refusal):
    """A command the rules refuse (answered 409)."""


class NotFound(Refusal):
    """A command aimed at something that does not exist (answered 404)."""


class Forbidden(Refusal):
    """A command this member may not give (answered 403)."""


class Invalid(Refusal):
    """A command that names something it may not (answered 422)."""


def iso(moment: datetime) -> str:
    """The one text form of a moment in the log: UTC, microseconds, 'Z' (a four-digit year)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
