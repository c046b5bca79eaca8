"""The EventLog port's contract, for any adapter (SQLite now, Kafka later).

Subclass `LogContract` in a module whose name starts with `test_`, name the subclass
`Test...`, and implement `make_log(tmp_path)`. Calling `make_log` twice with the same
`tmp_path` must give a log on the same storage (the reopen test closes the first).

Only the port's behaviour is tested here: positions, stream versions, optimistic
concurrency, idempotency, atomicity, reads, the envelope, the hash chain, reopening and
(when the adapter has one) the commit hook (`subscribe`). Appends run under `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hub.log.chain import GENESIS, canonical, chain
from hub.log.port import Appended, Conflict, EventLog, Pending

T = TypeVar("T")

OCCURRED = "2026-03-01T21:00:00.000000Z"
ACTOR = {"user": "door.pub", "role": "door_staff"}
ENVELOPE_FIELDS = {
    "id",
    "type",
    "schema_version",
    "partnership",
    "stream",
    "stream_version",
    "position",
    "occurred_at",
    "recorded_at",
    "actor",
    "command_id",
    "correlation_id",
    "causation_id",
    "data",
    "hash",
}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def event(
    n: int = 0,
    type: str = "note.added",
    occurred_at: str = OCCURRED,
    actor: dict[str, str] | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    return {
        "type": type,
        "data": {"n": n, **data},
        "occurred_at": occurred_at,
        "actor": actor or ACTOR,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
    }


_counter = iter(range(10**9))


def pending(
    p: str,
    stream: str,
    expected: int,
    n_events: int = 1,
    command_id: str | None = None,
    answer: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Pending:
    command_id = command_id or f"cmd-{next(_counter)}"
    events = events if events is not None else [event(i, cmd=command_id) for i in range(n_events)]
    return Pending(p, stream, expected, command_id, events, answer or {"id": command_id})


def positions(log: EventLog, p: str) -> list[int]:
    return [e["position"] for e in log.read(p)]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LogContract:
    """Behaviour every EventLog adapter must show."""

    def make_log(self, tmp_path: Path) -> EventLog:
        raise NotImplementedError

    @pytest.fixture
    def log(self, tmp_path: Path) -> Iterator[EventLog]:
        log = self.make_log(tmp_path)
        try:
            yield log
        finally:
            log.close()

    # -- positions and versions -----------------------------------------------------------

    def test_positions_start_at_one_and_are_gapless_per_partnership(self, log: EventLog) -> None:
        async def go() -> list[Appended]:
            return [
                await log.append(pending("north", "a", 0, 2)),
                await log.append(pending("south", "a", 0, 1)),
                await log.append(pending("north", "b", 0, 3)),
                await log.append(pending("south", "b", 0, 2)),
            ]

        n1, s1, n2, s2 = run(go())
        assert n1.answer["positions"] == [1, 2]
        assert s1.answer["positions"] == [1]
        assert n2.answer["positions"] == [3, 4, 5]
        assert s2.answer["positions"] == [2, 3]
        assert positions(log, "north") == [1, 2, 3, 4, 5]
        assert positions(log, "south") == [1, 2, 3]
        assert [e["position"] for e in n2.events] == [3, 4, 5]

    def test_stream_version_increments_per_stream(self, log: EventLog) -> None:
        async def go() -> None:
            await log.append(pending("north", "a", 0, 2))
            await log.append(pending("north", "b", 0, 1))
            await log.append(pending("north", "a", 2, 1))
            await log.append(pending("south", "a", 0, 1))  # same stream name, other partnership

        run(go())
        assert [e["stream_version"] for e in log.read_stream("north", "a")] == [1, 2, 3]
        assert [e["stream_version"] for e in log.read_stream("north", "b")] == [1]
        assert [e["stream_version"] for e in log.read_stream("south", "a")] == [1]
        assert [(e["stream"], e["stream_version"]) for e in log.read("north")] == [
            ("a", 1),
            ("a", 2),
            ("b", 1),
            ("a", 3),
        ]

    # -- optimistic concurrency --------------------------------------------------------------

    def test_a_stale_expected_version_raises_conflict_and_writes_nothing(self, log: EventLog) -> None:
        run(log.append(pending("north", "a", 0, 2)))
        before = list(log.read("north"))
        for stale in (0, 1, 3, 7):
            with pytest.raises(Conflict):
                run(log.append(pending("north", "a", stale, 2, command_id=f"stale-{stale}")))
            assert log.answer_for("north", f"stale-{stale}") is None
        with pytest.raises(Conflict):
            run(log.append(pending("north", "fresh", 1, command_id="fresh-1")))
        assert list(log.read("north")) == before
        assert log.head("north") == 2
        assert log.read_stream("north", "fresh") == []
        # A refused command id is not remembered: the retry at the right version is written.
        retried = run(log.append(pending("north", "a", 2, command_id="stale-0")))
        assert not retried.duplicate
        assert retried.answer["positions"] == [3]

    def test_a_conflict_does_not_harm_other_appends_made_at_the_same_time(self, log: EventLog) -> None:
        run(log.append(pending("north", "a", 0)))

        async def go() -> list[Any]:
            return list(
                await asyncio.gather(
                    log.append(pending("north", "b", 0, 2)),
                    log.append(pending("north", "a", 0, 2)),  # stale
                    log.append(pending("north", "c", 0, 1)),
                    return_exceptions=True,
                )
            )

        good, bad, other = run(go())
        assert isinstance(bad, Conflict)
        assert isinstance(good, Appended) and isinstance(other, Appended)
        assert log.head("north") == 4
        assert positions(log, "north") == [1, 2, 3, 4]
        assert len(log.read_stream("north", "a")) == 1

    # -- idempotency --------------------------------------------------------------------------

    def test_a_repeated_command_id_returns_the_first_answer_and_writes_nothing(self, log: EventLog) -> None:
        first = run(log.append(pending("north", "a", 0, 2, command_id="c1", answer={"id": "x1"})))
        assert not first.duplicate
        assert first.answer == {"id": "x1", "positions": [1, 2]}
        # Same id, other content, even a stale version: the first answer, nothing written.
        again = run(log.append(pending("north", "a", 0, 3, command_id="c1", answer={"id": "other"})))
        assert again.duplicate
        assert again.answer == first.answer
        later = run(log.append(pending("north", "b", 0, 1, command_id="c1")))
        assert later.duplicate and later.answer == first.answer
        assert log.head("north") == 2
        assert log.read_stream("north", "b") == []
        assert log.answer_for("north", "c1") == first.answer
        assert log.answer_for("north", "never-seen") is None

    def test_command_ids_are_remembered_per_partnership(self, log: EventLog) -> None:
        north = run(log.append(pending("north", "a", 0, command_id="same")))
        south = run(log.append(pending("south", "a", 0, 2, command_id="same")))
        assert not south.duplicate
        assert north.answer["positions"] == [1]
        assert south.answer["positions"] == [1, 2]

    def test_concurrent_duplicates_write_once_and_all_get_the_first_answer(self, log: EventLog) -> None:
        async def go() -> list[Appended]:
            return await asyncio.gather(
                *(log.append(pending("north", "a", 0, 2, command_id="dup")) for _ in range(25))
            )

        results = run(go())
        assert sum(not r.duplicate for r in results) == 1
        assert {tuple(r.answer["positions"]) for r in results} == {(1, 2)}
        assert log.head("north") == 2
        assert len(log.read_stream("north", "a")) == 2

    def test_an_answered_command_with_no_events_is_remembered(self, log: EventLog) -> None:
        empty = run(log.append(pending("north", "a", 0, events=[], command_id="nothing")))
        assert not empty.duplicate
        assert empty.answer["positions"] == []
        assert log.head("north") == 0
        again = run(log.append(pending("north", "a", 0, events=[], command_id="nothing")))
        assert again.duplicate and again.answer == empty.answer

    # -- atomicity --------------------------------------------------------------------------------

    def test_one_commands_events_are_atomic_and_contiguous(self, log: EventLog) -> None:
        async def go() -> list[Appended]:
            return await asyncio.gather(
                *(log.append(pending("north", f"s{i}", 0, 1 + i % 4)) for i in range(60))
            )

        results = run(go())
        total = sum(1 + i % 4 for i in range(60))
        assert log.head("north") == total
        by_position = {e["position"]: e for e in log.read("north")}
        for result in results:
            got = result.answer["positions"]
            assert got == list(range(got[0], got[0] + len(got)))
            stored = [by_position[p] for p in got]
            assert {e["command_id"] for e in stored} == {result.events[0]["command_id"]}
            assert [e["stream_version"] for e in stored] == list(range(1, len(got) + 1))
            assert [e["data"]["n"] for e in stored] == list(range(len(got)))

    # -- reading ------------------------------------------------------------------------------------

    def test_read_honours_from_and_to_bounds(self, log: EventLog) -> None:
        run(log.append(pending("north", "a", 0, 6)))
        assert positions(log, "north") == [1, 2, 3, 4, 5, 6]
        assert [e["position"] for e in log.read("north", 3, 5)] == [3, 4, 5]
        assert [e["position"] for e in log.read("north", 4)] == [4, 5, 6]
        assert [e["position"] for e in log.read("north", 1, 1)] == [1]
        assert [e["position"] for e in log.read("north", 6, 100)] == [6]
        assert list(log.read("north", 7)) == []
        assert list(log.read("north", 4, 3)) == []
        assert list(log.read("nowhere")) == []

    def test_read_stream_returns_one_streams_events_in_version_order(self, log: EventLog) -> None:
        async def go() -> None:
            await log.append(pending("north", "a", 0, 2))
            await log.append(pending("north", "b", 0, 1))
            await log.append(pending("south", "a", 0, 1))
            await log.append(pending("north", "a", 2, 2))

        run(go())
        stream = log.read_stream("north", "a")
        assert [e["stream_version"] for e in stream] == [1, 2, 3, 4]
        assert [e["position"] for e in stream] == [1, 2, 4, 5]
        assert {(e["partnership"], e["stream"]) for e in stream} == {("north", "a")}
        assert stream == [e for e in log.read("north") if e["stream"] == "a"]
        assert log.read_stream("north", "missing") == []
        assert log.read_stream("nowhere", "a") == []

    def test_head_and_partnerships(self, log: EventLog) -> None:
        assert log.head("north") == 0
        assert list(log.partnerships()) == []

        async def go() -> None:
            await log.append(pending("north", "a", 0, 3))
            await log.append(pending("south", "a", 0, 1))

        run(go())
        assert log.head("north") == 3
        assert log.head("south") == 1
        assert log.head("east") == 0
        assert sorted(log.partnerships()) == ["north", "south"]

    # -- the envelope --------------------------------------------------------------------------------

    def test_the_envelope_carries_every_field_with_the_right_values(self, log: EventLog) -> None:
        events = [
            event(1, type="alert.broadcast", text="hello"),
            event(2, type="alert.acknowledged", correlation_id="corr-9", causation_id="cause-7"),
        ]
        before = datetime.now(UTC) - timedelta(seconds=5)
        appended = run(log.append(pending("north", "alert-1", 0, command_id="cmd-env", events=events)))
        after = datetime.now(UTC) + timedelta(seconds=5)
        stored = list(log.read("north"))
        assert len(stored) == 2
        for envelope in stored:
            assert set(envelope) == ENVELOPE_FIELDS
        first, second = stored
        assert first["type"] == "alert.broadcast" and second["type"] == "alert.acknowledged"
        assert first["data"] == {"n": 1, "text": "hello"}
        assert second["data"] == {"n": 2}
        for envelope in stored:
            assert envelope["partnership"] == "north"
            assert envelope["stream"] == "alert-1"
            assert envelope["command_id"] == "cmd-env"
            assert envelope["actor"] == ACTOR
            assert envelope["occurred_at"] == OCCURRED
            assert isinstance(envelope["schema_version"], int) and envelope["schema_version"] >= 1
            assert before <= parse_time(envelope["recorded_at"]) <= after
            assert parse_time(envelope["recorded_at"]).utcoffset() == timedelta(0)
            assert HEX64.match(envelope["hash"])
            assert isinstance(envelope["id"], str) and envelope["id"]
        assert [e["position"] for e in stored] == [1, 2]
        assert [e["stream_version"] for e in stored] == [1, 2]
        assert first["correlation_id"] == "cmd-env"  # defaults to the command id
        assert first["causation_id"] is None
        assert second["correlation_id"] == "corr-9"
        assert second["causation_id"] == "cause-7"
        # What the append answered is what was stored.
        assert appended.events == stored

    def test_event_ids_are_unique_and_time_ordered(self, log: EventLog) -> None:
        async def go() -> None:
            for i in range(30):
                await log.append(pending("north", f"s{i % 3}", 2 * (i // 3), 2))
                await log.append(pending("south", "x", i, 1))

        run(go())
        north = [e["id"] for e in log.read("north")]
        south = [e["id"] for e in log.read("south")]
        assert len(set(north + south)) == len(north) + len(south) == 90
        assert north == sorted(north)
        assert south == sorted(south)
        # Ids order across partnerships by when they were written, too.
        assert sorted(north + south)[0] == north[0]
        assert sorted(north + south)[-1] == south[-1]

    # -- the hash chain ------------------------------------------------------------------------------

    def _assert_chained(self, log: EventLog, p: str) -> None:
        prev = GENESIS
        for envelope in log.read(p):
            assert envelope["hash"] == chain(prev, canonical(envelope)), envelope["position"]
            prev = envelope["hash"]

    def test_hashes_chain_per_partnership_from_genesis(self, log: EventLog) -> None:
        async def go() -> None:
            for i in range(5):
                await log.append(pending("north", "a", 2 * i, 2))
                await log.append(pending("south", "a", i, 1))

        run(go())
        self._assert_chained(log, "north")
        self._assert_chained(log, "south")
        [first] = log.read("north", 1, 1)
        assert first["hash"] == chain(GENESIS, canonical(first))

    def test_verify_passes_on_an_intact_log(self, log: EventLog) -> None:
        async def go() -> None:
            await log.append(pending("north", "a", 0, 4))
            await log.append(pending("south", "a", 0, 2))

        run(go())
        result = log.verify("north")
        assert result.ok
        assert result.partnership == "north"
        assert result.checked == 4
        assert result.first_bad_position is None
        assert log.verify("south").ok and log.verify("south").checked == 2
        empty = log.verify("nowhere")
        assert empty.ok and empty.checked == 0

    # -- under load ------------------------------------------------------------------------------------

    def test_many_concurrent_appends_all_succeed_without_gaps(self, log: EventLog) -> None:
        """500 commands on 50 streams at once: each retries on a conflict, as a writer would."""
        streams, per_stream = 50, 10

        async def one(i: int) -> Appended:
            stream = f"s{i % streams}"
            for _ in range(1000):
                version = len(log.read_stream("north", stream))
                try:
                    return await log.append(pending("north", stream, version, 1 + i % 3, command_id=f"c{i}"))
                except Conflict:
                    await asyncio.sleep(0)
            raise AssertionError(f"command {i} never got in")

        async def go() -> list[Appended]:
            return await asyncio.gather(*(one(i) for i in range(streams * per_stream)))

        results = run(go())
        total = sum(1 + i % 3 for i in range(streams * per_stream))
        assert all(not r.duplicate for r in results)
        assert log.head("north") == total
        stored = list(log.read("north"))
        assert [e["position"] for e in stored] == list(range(1, total + 1))
        by_position = {e["position"]: e for e in stored}
        for i, result in enumerate(results):
            for envelope in result.events:
                assert by_position[envelope["position"]] == envelope
            assert [by_position[p]["command_id"] for p in result.answer["positions"]] == [f"c{i}"] * (
                1 + i % 3
            )
        for s in range(streams):
            versions = [e["stream_version"] for e in log.read_stream("north", f"s{s}")]
            assert versions == list(range(1, len(versions) + 1))
        assert log.verify("north").ok

    # -- reopening ------------------------------------------------------------------------------------

    def test_a_reopened_log_continues_positions_versions_answers_and_the_chain(self, tmp_path: Path) -> None:
        log = self.make_log(tmp_path)
        try:
            run(log.append(pending("north", "a", 0, 3, command_id="before")))
            run(log.append(pending("south", "a", 0, 1)))
        finally:
            log.close()
        log = self.make_log(tmp_path)
        try:
            assert log.head("north") == 3
            assert sorted(log.partnerships()) == ["north", "south"]
            assert log.answer_for("north", "before") == {"id": "before", "positions": [1, 2, 3]}
            assert run(log.append(pending("north", "a", 3, command_id="before"))).duplicate
            with pytest.raises(Conflict):
                run(log.append(pending("north", "a", 0)))
            after = run(log.append(pending("north", "a", 3, 2)))
            assert after.answer["positions"] == [4, 5]
            assert [e["stream_version"] for e in log.read_stream("north", "a")] == [1, 2, 3, 4, 5]
            assert run(log.append(pending("south", "b", 0))).answer["positions"] == [2]
            self._assert_chained(log, "north")
            self._assert_chained(log, "south")
            assert log.verify("north").ok and log.verify("north").checked == 5
        finally:
            log.close()

    # -- the commit hook ---------------------------------------------------------------------------------

    def test_on_commit_receives_committed_events_in_position_order(self, log: EventLog) -> None:
        assert hasattr(log, "subscribe"), "every adapter feeds the hub through subscribe"
        seen: list[dict[str, Any]] = []
        lock = threading.Lock()

        def hook(events: list[dict[str, Any]]) -> None:
            with lock:
                seen.extend(events)

        log.subscribe(hook)
        run(log.append(pending("north", "z", 0, 1)))
        with pytest.raises(Conflict):
            run(log.append(pending("north", "z", 0, 1)))

        async def one(i: int) -> Appended:
            appended = await log.append(pending("north" if i % 2 else "south", f"s{i}", 0, 1 + i % 3))
            with lock:  # published before the writer was answered
                ids = {e["id"] for e in seen}
            assert all(e["id"] in ids for e in appended.events)
            return appended

        async def go() -> list[Appended]:
            return await asyncio.gather(*(one(i) for i in range(100)))

        run(go())
        run(log.append(pending("north", "z", 1, 1, command_id="dup")))
        run(log.append(pending("north", "z", 1, 1, command_id="dup")))  # a duplicate: nothing new
        for p in ("north", "south"):
            mine = [e for e in seen if e["partnership"] == p]
            assert [e["position"] for e in mine] == list(range(1, log.head(p) + 1))
            assert mine == list(log.read(p))
