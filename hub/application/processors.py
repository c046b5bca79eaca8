"""The processors at work: each published event's consequences, and the clock's, carried
out as commands through the gateway, as the processor. A refusal is logged, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from hub.application.gateway import CommandGateway
from hub.clock import Clock
from hub.domain import Refusal
from hub.domain.processors import PROCESSOR, due, react
from projections.views import PartnershipView
from schemas.commands import Submission

log = logging.getLogger("hub.processors")


class Processors:
    def __init__(
        self,
        gateway: CommandGateway,
        views: dict[str, PartnershipView],
        clock: Clock,
        owns: Callable[[str], bool] = lambda p: True,
    ) -> None:
        self.gateway = gateway
        self.views = views
        self.clock = clock
        self.owns = owns  # a Kafka worker runs the clock only for the partnerships it writes
        self._tasks: set[asyncio.Task[Any]] = set()
        # More reactions that run only where the processors run, once per event however
        # many processes serve (the Web Push sender, hub/push/sender.py).
        self.also: list[Callable[[PartnershipView, dict[str, Any]], None]] = []

    def __call__(self, view: PartnershipView, event: dict[str, Any]) -> None:
        """A reaction to a published event (hub/application/publisher.py)."""
        for submission in react(event):
            self._spawn(self.carry_out(event["partnership"], submission))
        for reaction in self.also:
            try:
                reaction(view, event)
            except Exception:
                log.exception("a reaction to event %s failed", event["id"])

    def tick(self, now: datetime | None = None) -> int:
        """Run the clock-driven processors once; returns how many commands they issued."""
        now = now or self.clock.now()
        count = 0
        for p, view in list(self.views.items()):
            if not self.owns(p):
                continue
            for submission in due(view, now):
                self._spawn(self.carry_out(p, submission))
                count += 1
        return count

    async def run_clock(self, every: float = 1.0) -> None:
        while True:
            self.tick()
            await asyncio.sleep(every)

    async def carry_out(self, p: str, submission: Submission) -> None:
        try:
            await self.gateway.submit(p, submission, PROCESSOR)
        except Refusal as refusal:
            log.info("processor command %s refused: %s", submission.id, refusal)
        except Exception:
            log.exception("processor command %s failed", submission.id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (offline replay): processors do not run
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every processor command in flight is done (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
