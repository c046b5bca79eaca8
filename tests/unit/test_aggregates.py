"""The streams' cached decision states: a bounded LRU, the rest folded from the log."""

from __future__ import annotations

from typing import Any

from hub.application.aggregates import KEPT, Aggregates


class Log:
    """Each alert stream broadcast, then acknowledged by one member; reads counted."""

    def __init__(self) -> None:
        self.reads = 0

    def read_stream(self, p: str, stream: str) -> list[dict[str, Any]]:
        self.reads += 1
        return [
            {"type": "alert.broadcast", "data": {}, "stream_version": 1},
            {"type": "alert.acknowledged", "data": {"user": "door"}, "stream_version": 2},
        ]


def test_the_cache_keeps_the_most_recently_used_states_only() -> None:
    log = Log()
    aggregates = Aggregates(log, kept=3)  # type: ignore[arg-type]
    for k in range(10):
        aggregates.state("north", f"alert-a{k}")
    assert len(aggregates._states) == 3
    aggregates.state("north", "alert-a9")
    assert log.reads == 10  # cached
    state, version = aggregates.state("north", "alert-a0")  # forgotten: folded again
    assert log.reads == 11
    assert (state.status, state.acknowledged_by, version) == ("active", frozenset({"door"}), 2)


def test_the_default_bound_is_minutes_of_a_busy_night_not_hours() -> None:
    """A county night writes ~4 acknowledged alerts a second: 50,000 states (the old
    bound) were three and a half hours of them, tens of MiB reached only slowly, so a
    long-running hub looked as if it leaked (bench/soak.py)."""
    assert KEPT <= 10_000
