"""The event log port: what the hub needs from a log, whichever adapter backs it.

An adapter gives each partnership's events gapless positions (1, 2, 3...), chains them
with `hash = sha256(prev_hash + canonical bytes)`, refuses a write whose expected stream
version is stale, and remembers the answer to each command id so a retry writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class Conflict(Exception):
    """The stream moved on since the writer read it (answered 409): nothing was written."""


class Unavailable(Exception):
    """The log's writer did not answer in time (answered 503: retry with the same Idempotency-Key)."""


@dataclass
class Pending:
    """One command's events, appended all or nothing.

    Each event is a dict with type, data, occurred_at, actor, correlation_id and
    causation_id; the log adds id, partnership, stream, stream_version, position,
    recorded_at, command_id, schema_version and hash.
    """

    partnership: str
    stream: str
    expected_version: int
    command_id: str
    events: list[dict[str, Any]]
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Appended:
    """What an append did: the answer (with positions) and the stored envelopes.

    `duplicate` is true when the command id had been seen: nothing new was written and
    `answer` is the first answer. `void` (Kafka replicas) names why a record from the
    event topic was not taken into the history: it claimed a position another record
    holds, or did not follow the head; nothing of it was stored and no one is answered
    from it.
    """

    answer: dict[str, Any]
    events: list[dict[str, Any]]
    duplicate: bool = False
    void: str | None = None


@dataclass
class Verification:
    partnership: str
    ok: bool
    checked: int
    first_bad_position: int | None = None
    reason: str | None = None


Commit = Callable[[list[dict[str, Any]]], None]


class EventReader(Protocol):
    """What a log does for its readers: history, heads, first answers, verification."""

    def answer_for(self, partnership: str, command_id: str) -> dict[str, Any] | None: ...

    def read(
        self, partnership: str, from_position: int = 1, to_position: int | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def read_stream(self, partnership: str, stream: str) -> list[dict[str, Any]]: ...

    def partnerships(self) -> list[str]: ...

    def head(self, partnership: str) -> int: ...

    def verify(self, partnership: str) -> Verification: ...

    def close(self) -> None: ...


class EventSource(EventReader, Protocol):
    """A log whose commits this process follows as they happen."""

    def subscribe(self, on_commit: Commit) -> None:
        """Call `on_commit` with each commit's events, in log order, from the log's thread."""


class EventLog(EventSource, Protocol):
    """A log this process writes: appends at an expected stream version, all or nothing."""

    async def append(self, pending: Pending) -> Appended: ...
