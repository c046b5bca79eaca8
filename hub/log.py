"""The event log port: what the hub needs from a log, whichever adapter backs it.

An adapter gives each partnership's events gapless positions (1, 2, 3...), chains them
with `hash = sha256(prev_hash + canonical bytes)`, refuses a write whose expected stream
version is stale, and remembers the answer to each command id so a retry writes nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from hub.domain import NotFound, Rejected

GENESIS = "0" * 64


class Conflict(Exception):
    """The stream moved on since the writer read it (answered 409): nothing was written."""


class Unavailable(Exception):
    """The log's writer did not answer in time (answered 503: retry with the same Idempotency-Key)."""


def refused(error: Exception) -> dict[str, Any]:
    """A refusal as it travels between processes: the HTTP status it is answered with."""
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, (Rejected, Conflict)):
        status = 409
    elif isinstance(error, Unavailable):
        status = 503
    else:
        status = 500
    return {"status": status, "detail": str(error) if status < 500 else type(error).__name__}


def refusal(error: dict[str, Any]) -> Exception:
    """The exception for a refusal that came from another process (see `refused`)."""
    status, detail = error["status"], error["detail"]
    if status == 404:
        return NotFound(detail)
    if status == 409:
        return Rejected(detail)
    if status == 503:
        return Unavailable(detail)
    if status >= 500:
        return RuntimeError(f"the hub's writer failed on this command: {detail}")
    return Conflict(detail)


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
    `answer` is the first answer.
    """

    answer: dict[str, Any]
    events: list[dict[str, Any]]
    duplicate: bool = False


@dataclass
class Verification:
    partnership: str
    ok: bool
    checked: int
    first_bad_position: int | None = None
    reason: str | None = None


class EventLog(Protocol):
    async def append(self, pending: Pending) -> Appended: ...

    def answer_for(self, partnership: str, command_id: str) -> dict[str, Any] | None: ...

    def read(
        self, partnership: str, from_position: int = 1, to_position: int | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def read_stream(self, partnership: str, stream: str) -> list[dict[str, Any]]: ...

    def partnerships(self) -> list[str]: ...

    def head(self, partnership: str) -> int: ...

    def verify(self, partnership: str) -> Verification: ...

    def close(self) -> None: ...


def canonical(envelope: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the envelope without its hash, keys sorted."""
    body = {k: v for k, v in envelope.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


class _Ids:
    """Time-ordered unique ids: 48-bit milliseconds then 80 random bits, monotonic here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def new(self) -> str:
        with self._lock:
            value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
            self._last = value = max(value, self._last + 1)
        return f"{value:032x}"


new_id = _Ids().new


def stamp(
    pending: Pending, position: int, prev_hash: str, version: int, recorded_at: str
) -> list[dict[str, Any]]:
    """The stored envelopes of a pending append that follows `position`, `prev_hash` and
    the stream's `version`: ids, positions, stream versions and the hash chain added."""
    return [envelope for envelope, _ in stamp_bodies(pending, position, prev_hash, version, recorded_at)]


def stamp_bodies(
    pending: Pending, position: int, prev_hash: str, version: int, recorded_at: str
) -> list[tuple[dict[str, Any], bytes]]:
    """`stamp`, with each envelope's canonical bytes (what was hashed, and is stored)."""
    stored = []
    for event in pending.events:
        position += 1
        version += 1
        envelope = {
            "id": new_id(),
            "type": event["type"],
            "schema_version": 1,
            "partnership": pending.partnership,
            "stream": pending.stream,
            "stream_version": version,
            "position": position,
            "occurred_at": event["occurred_at"],
            "recorded_at": recorded_at,
            "actor": event["actor"],
            "command_id": pending.command_id,
            "correlation_id": event.get("correlation_id") or pending.command_id,
            "causation_id": event.get("causation_id"),
            "data": event["data"],
        }
        body = canonical(envelope)
        prev_hash = envelope["hash"] = chain(prev_hash, body)
        stored.append((envelope, body))
    return stored


def check_chain(partnership: str, envelopes: Iterator[tuple[bytes, str]]) -> Verification:
    """Walk (canonical body, stored hash) pairs in position order and find the first break.

    Catches an altered event (hash mismatch), a removed or inserted one (position gap or
    a broken link) and a reordering (positions out of sequence).
    """
    prev = GENESIS
    checked = 0
    for expected_position, (body, stored_hash) in enumerate(envelopes, start=1):
        checked = expected_position
        try:
            envelope = orjson.loads(body)
            position, owner = envelope["position"], envelope["partnership"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return Verification(partnership, False, checked, expected_position, "unreadable event")
        if owner != partnership or position != expected_position:
            return Verification(partnership, False, checked, expected_position, "event out of place")
        if chain(prev, body) != stored_hash:
            return Verification(partnership, False, checked, expected_position, "hash mismatch")
        prev = stored_hash
    return Verification(partnership, True, checked)
