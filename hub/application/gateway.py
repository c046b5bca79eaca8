"""Where a command is decided: the command-gateway port, and its local adapter.

Embedded, commands are decided in this process (`LocalGateway`). A follower of `hub serve
--processes` sends them to its leader (hub/log/relay.py), a Kafka API node to the worker
that owns the partnership (hub/log/kafka.py). Whichever it is, the answer is the same:
the new id and the events' positions, or the same refusal (hub/application/refusals.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from hub.application.handler import CommandHandler
from hub.domain import Actor
from schemas.commands import Submission


class CommandGateway(Protocol):
    async def submit(self, p: str, submission: Submission, actor: Actor) -> dict[str, Any]: ...


class LocalGateway:
    """Decides commands here. `synced`, when given, is awaited before each answer (the
    leader of `hub serve --processes` waits until its followers have the events)."""

    def __init__(self, handler: CommandHandler, synced: Callable[[], Awaitable[None]] | None = None) -> None:
        self.handler = handler
        self.synced = synced

    async def submit(self, p: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        answer = await self.handler.handle(p, submission, actor)
        if self.synced is not None:
            await self.synced()
        return answer
