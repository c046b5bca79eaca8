"""Streams' decision states: recently used ones in memory (LRU), the rest folded from
the log when a command needs them, and every cached one kept in step as events are
published."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hub.domain.registry import decider_for_stream
from hub.log.port import EventReader

# Streams whose state is kept: those written to again (acknowledged alerts, subjects,
# exclusions) are hot for minutes; any other is folded from the log when a command needs it.
KEPT = 10_000


class Aggregates:
    def __init__(self, log: EventReader, kept: int = KEPT) -> None:
        self.log = log
        self.kept = kept
        self._states: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()

    def state(self, p: str, stream: str) -> tuple[Any, int]:
        """The stream's state and version, folded from the log if not cached."""
        key = (p, stream)
        cached = self._states.get(key)
        if cached is not None:
            self._states.move_to_end(key)
            return cached
        decider = decider_for_stream(stream)
        state, version = decider.initial(), 0
        for event in self.log.read_stream(p, stream):
            state = decider.evolve(state, event["type"], event["data"])
            version = event["stream_version"]
        self._states[key] = (state, version)
        if len(self._states) > self.kept:
            self._states.popitem(last=False)
        return state, version

    def fresh(self, p: str, stream: str) -> tuple[Any, int]:
        """The state of a stream a command starts under a fresh id: initial, unless it is
        cached (then the id was taken, and the append conflicts or the decider refuses)."""
        cached = self._states.get((p, stream))
        return cached if cached is not None else (decider_for_stream(stream).initial(), 0)

    def advance(self, event: dict[str, Any]) -> None:
        """Fold a published event into its stream's cached state, if cached and in step."""
        key = (event["partnership"], event["stream"])
        cached = self._states.get(key)
        if cached is None:
            return
        state, version = cached
        if event["stream_version"] == version + 1:
            evolved = decider_for_stream(event["stream"]).evolve(state, event["type"], event["data"])
            self._states[key] = (evolved, version + 1)
        else:
            del self._states[key]
