"""The command path: one command decided against its stream and appended, for every
caller (REST, the live socket's acks, processors, the relay's followers, the Kafka
worker). Load, guard, decide, append, at the stream's expected version."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from hub.application.aggregates import Aggregates
from hub.application.guards import Guards
from hub.clock import Clock
from hub.domain import Actor, Context, Refusal, iso, registry
from hub.domain.partnership import STREAM as PARTNERSHIP_STREAM
from hub.log.port import EventLog, Pending
from schemas.commands import Submission


class CommandHandler:
    def __init__(self, log: EventLog, aggregates: Aggregates, guards: Guards, clock: Clock) -> None:
        self.log = log
        self.aggregates = aggregates
        self.guards = guards
        self.clock = clock
        # A stream's lock lives only while someone holds it or waits for it.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def handle(self, p: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        """Decide and append one command; the answer has the new id and the positions.

        A command id already seen returns the first answer and writes nothing: the log
        finds it when it appends, or, when a retry is refused against the state its
        first attempt made, the refusal looks it up. Raises a Refusal (or the log's
        Conflict or Unavailable); then nothing was written.
        """
        command = submission.command
        ctx = Context(actor.user, actor.role, self.clock.now())
        try:
            setup = self.aggregates.state(p, PARTNERSHIP_STREAM)[0]
            self.guards.check(p, command, actor, setup)
            stream = registry.stream_of(command)
            async with self._lock((p, stream)):
                fresh = command.CREATES
                state, version = (self.aggregates.fresh if fresh else self.aggregates.state)(p, stream)
                events = registry.decide(command, state, ctx, setup)
                at = iso(ctx.at)
                stored = [
                    {
                        "type": event.TYPE,
                        "data": event.data,
                        "occurred_at": at,
                        "actor": actor.as_dict(),
                        "causation_id": submission.causation_id,
                    }
                    for event in events
                ]
                pending = Pending(p, stream, version, submission.id, stored, command.answer())
                appended = await self.log.append(pending)
        except Refusal:
            first = self.log.answer_for(p, submission.id)
            if first is not None:
                return first
            raise
        return appended.answer
