"""The hash chain: canonical bytes, the chained hash, stamping pending events into
envelopes, time-ordered ids, and the walk that finds the first altered event."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.domain import iso
from hub.log.port import Conflict, Pending, Verification

GENESIS = "0" * 64


def canonical(envelope: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the envelope without its hash, keys sorted."""
    body = {k: v for k, v in envelope.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


class _Ids:
    """Time-ordered unique ids: 48-bit milliseconds then 80 random bits, monotonic here.

    The random bits come from the system's CSPRNG, read 256 ids' worth at a time (one
    `getrandom` call per id cost more than the rest of the id)."""

    BATCH = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._random = b""
        self._used = 0

    def new(self) -> str:
        with self._lock:
            if self._used >= len(self._random):
                self._random, self._used = os.urandom(10 * self.BATCH), 0
            bits = int.from_bytes(self._random[self._used : self._used + 10], "big")
            self._used += 10
            value = (int(time.time() * 1000) << 80) | bits
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


def recorded_now() -> str:
    """The moment a writer records a batch: UTC, the log's one text form of a moment."""
    return iso(datetime.now(UTC))


def expect_version(pending: Pending, version: int) -> None:
    """Refuse a write whose stream moved on since the writer read it (nothing is written)."""
    if version != pending.expected_version:
        raise Conflict(f"stream {pending.stream} is at version {version}, not {pending.expected_version}")


def answer_of(pending: Pending, stored: list[dict[str, Any]]) -> dict[str, Any]:
    """A command's answer: what its decider named (the new id) and its events' positions."""
    return {**pending.answer, "positions": [e["position"] for e in stored]}


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
