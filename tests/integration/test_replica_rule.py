"""The rule every Kafka-mode replica applies to the event topic, in the topic's order: the
first record at a position wins; a record that claims a taken position, skips one or does
not link to the head is void (nothing of it is stored, its answer neither, and it is
counted); the same record read twice is stored once. On real SQLite files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.log.chain import GENESIS, stamp
from hub.log.port import Appended
from hub.log.sqlite import Replicated, SqliteLog
from tests.contract.log_contract import pending

P = "north"


def _record(
    command_id: str, at: int, prev: str, n: int = 1, stream: str = "a", version: int = 0
) -> Replicated:
    """What a writer whose replica stood at (`at`, `prev`) would produce for a command."""
    events = stamp(
        pending(P, stream, version, n, command_id=command_id), at, prev, version, "2026-12-02T18:00:00Z"
    )
    answer = {"id": command_id, "positions": [e["position"] for e in events]}
    return Replicated(events, P, command_id, answer)


def _take(replica: SqliteLog, records: list[Replicated]) -> list[Appended]:
    async def go() -> list[Appended]:
        return [await replica.replicate(r) for r in records]

    return asyncio.run(go())


def _history(replica: SqliteLog) -> list[tuple[int, str]]:
    return [(e["position"], e["command_id"]) for e in replica.read(P)]


def test_the_first_record_at_a_position_wins_on_every_replica(tmp_path: Path) -> None:
    first = _record("first", 0, GENESIS, n=2)
    head = first.events[-1]
    # a stale writer stamped position 2 from position 1, and one skipped to 4
    stale = _record("stale", 1, first.events[0]["hash"], stream="b")
    gap = _record("gap", 3, head["hash"], stream="c")
    forged = _record("forged", 2, "f" * 64, stream="d")  # the next position, a wrong link
    after = _record("after", 2, head["hash"], stream="e")
    topic = [first, stale, gap, forged, after]
    for n, record in enumerate(topic):
        record.offset = (0, n + 1)

    replicas = [SqliteLog(tmp_path / f"replica-{i}.db", durable=False) for i in range(2)]
    try:
        outcomes = [_take(replica, topic) for replica in replicas]
        for replica, taken in zip(replicas, outcomes, strict=True):
            assert [t.void is None for t in taken] == [True, False, False, False, True]
            assert "already taken" in (taken[1].void or "")
            assert "does not follow" in (taken[2].void or "")
            assert "does not link" in (taken[3].void or "")
            assert _history(replica) == [(1, "first"), (2, "first"), (3, "after")]
            assert replica.answer_for(P, "stale") is None  # no one is answered from a void record
            assert replica.answer_for(P, "after") == after.answer
            assert replica.voided == {P: 3}
            assert replica.verify(P).ok
            assert replica.offsets() == {0: 5}  # void records are read past, not stuck on
        assert _history(replicas[0]) == _history(replicas[1])
    finally:
        for replica in replicas:
            replica.close()


def test_the_same_record_read_again_is_stored_once_and_not_void(tmp_path: Path) -> None:
    replica = SqliteLog(tmp_path / "replica.db", durable=False)
    try:
        first = _record("first", 0, GENESIS)
        again: dict[str, Any] = {"events": first.events, "partnership": P, "command_id": "first"}
        taken = _take(replica, [first, Replicated(**again, answer=first.answer)])
        assert taken[1].void is None and taken[1].duplicate is True and taken[1].events == []
        assert _history(replica) == [(1, "first")]
        assert replica.voided == {}
    finally:
        replica.close()
