"""The EventLog contract on KafkaWriterLog (the worker's log), against a real broker.

Each test gets a fresh topic prefix and replica; reopening uses the same prefix and
replica path. The contract runs every append under its own `asyncio.run`, while an
aiokafka producer belongs to one event loop: `Threaded` keeps the log on a loop in a
background thread and forwards each call there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from hub.log.kafka import KafkaWriterLog, Topics, ensure_topics, partition_of, reached
from hub.log.port import Appended, Pending, Verification
from hub.log.sqlite import SqliteLog
from tests.contract.log_contract import LogContract, pending, run
from tests.kafka.support import require_broker, unique_prefix

pytestmark = pytest.mark.kafka

T = TypeVar("T")
PARTITIONS = 3


class Threaded:
    """A KafkaWriterLog living on an event loop in its own thread."""

    def __init__(self, bootstrap: str, prefix: str, replica: Path) -> None:
        self.topics = Topics(prefix)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"kafka-log-{prefix}", daemon=True)
        self.thread.start()
        self.inner = self.call(self._open(bootstrap, replica))

    async def _open(self, bootstrap: str, replica: Path) -> KafkaWriterLog:
        # an aiokafka producer is made on the loop it will run on
        await ensure_topics(bootstrap, PARTITIONS, self.topics)
        log = KafkaWriterLog(bootstrap, SqliteLog(replica, durable=False), PARTITIONS, self.topics)
        await log.start()
        await log.catch_up()
        return log

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def append(self, pending: Pending) -> Appended:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self.inner.append(pending), self.loop)
        )

    def subscribe(self, hook: Any) -> None:
        self.inner.subscribe(hook)

    def answer_for(self, partnership: str, command_id: str) -> dict[str, Any] | None:
        return self.inner.answer_for(partnership, command_id)

    def read(self, partnership: str, from_position: int = 1, to_position: int | None = None) -> Any:
        return self.inner.read(partnership, from_position, to_position)

    def read_stream(self, partnership: str, stream: str) -> list[dict[str, Any]]:
        return self.inner.read_stream(partnership, stream)

    def partnerships(self) -> list[str]:
        return self.inner.partnerships()

    def head(self, partnership: str) -> int:
        return self.inner.head(partnership)

    def verify(self, partnership: str) -> Verification:
        return self.inner.verify(partnership)

    def close(self) -> None:
        try:
            self.call(self.inner.stop())
        finally:
            self.inner.close()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


class TestKafkaWriterLog(LogContract):
    prefixes: dict[Path, str] = {}

    def make_log(self, tmp_path: Path) -> Threaded:
        bootstrap = require_broker()
        prefix = self.prefixes.setdefault(tmp_path, unique_prefix("contract"))
        return Threaded(bootstrap, prefix, tmp_path / "replica.db")


# -- what only the Kafka log can show ----------------------------------------------------------


async def _topic_records(bootstrap: str, topics: Topics) -> list[dict[str, Any]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topics.events, n) for n in range(PARTITIONS)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[dict[str, Any]] = []
        while not await reached(consumer, ends):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    assert message.key is not None
                    record = orjson.loads(message.value)
                    record["_partition"] = tp.partition
                    record["_key"] = message.key.decode()
                    records.append(record)
        return records
    finally:
        await consumer.stop()


@pytest.fixture
def threaded(tmp_path: Path) -> Iterator[Threaded]:
    log = Threaded(require_broker(), unique_prefix("kafka-only"), tmp_path / "replica.db")
    try:
        yield log
    finally:
        log.close()


def test_each_command_is_one_record_keyed_by_partnership_on_its_partition(threaded: Threaded) -> None:
    run(threaded.append(pending("north", "a", 0, 3, command_id="three")))
    run(threaded.append(pending("south", "a", 0, 1, command_id="one")))
    run(threaded.append(pending("north", "a", 3, 0, command_id="none")))
    records = asyncio.run(_topic_records(require_broker(), threaded.topics))
    by_command = {r["command_id"]: r for r in records}
    assert sorted(by_command) == ["none", "one", "three"]
    assert len(records) == 3
    assert [e["position"] for e in by_command["three"]["events"]] == [1, 2, 3]
    assert by_command["three"]["answer"]["positions"] == [1, 2, 3]
    assert by_command["none"]["events"] == []
    for record in records:
        assert record["_key"] == record["partnership"]
        assert record["_partition"] == partition_of(record["partnership"], PARTITIONS)
    # What is on the broker is exactly what the replica stored.
    assert by_command["three"]["events"] == list(threaded.read("north"))


def test_a_fresh_replica_rebuilds_the_same_log_from_the_topic(threaded: Threaded, tmp_path: Path) -> None:
    async def go() -> None:
        await asyncio.gather(*(threaded.append(pending("north", f"s{i}", 0, 1 + i % 3)) for i in range(30)))
        await threaded.append(pending("south", "a", 0, 2, command_id="south-1"))

    run(go())
    rebuilt = Threaded(require_broker(), threaded.topics.prefix, tmp_path / "other-replica.db")
    try:
        for p in ("north", "south"):
            assert list(rebuilt.read(p)) == list(threaded.read(p))
            assert rebuilt.verify(p).ok
        assert rebuilt.answer_for("south", "south-1") == threaded.answer_for("south", "south-1")
        # and it writes on from there, as the next single writer would
        appended = run(rebuilt.append(pending("north", "s0", 1, 1)))
        assert appended.answer["positions"] == [threaded.head("north") + 1]
    finally:
        rebuilt.close()


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "lost"])
def test_a_failed_produce_is_read_back_before_anything_else_is_written(
    threaded: Threaded, landed: bool
) -> None:
    """A produce that fails may still have put the record on the broker. The next append
    must find out (resync) instead of stamping the same position a second time."""
    from aiokafka.errors import KafkaTimeoutError

    from hub.log.port import Unavailable

    run(threaded.append(pending("north", "a", 0, 1, command_id="first")))
    original = threaded.inner._send

    async def failing(partition: int, records: list[Any], deadline: float | None = None) -> list[int]:
        if landed:
            await original(partition, records, deadline)
        raise KafkaTimeoutError()

    threaded.inner._send = failing  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        run(threaded.append(pending("north", "b", 0, 2, command_id="uncertain")))
    threaded.inner._send = original  # type: ignore[method-assign]
    assert threaded.inner.in_sync is False
    assert threaded.head("north") == 1  # the replica stored nothing it was not sure of

    retried = run(threaded.append(pending("north", "b", 0, 2, command_id="uncertain")))
    assert threaded.inner.in_sync is True
    assert retried.duplicate is landed
    assert retried.answer["positions"] == [2, 3]
    after = run(threaded.append(pending("north", "c", 0, 1, command_id="after")))
    assert after.answer["positions"] == [4]
    records = asyncio.run(_topic_records(require_broker(), threaded.topics))
    stamped = [e["position"] for r in records for e in r.get("events", [])]
    assert stamped == [1, 2, 3, 4]  # each position once on the broker: no fork
    assert [e["position"] for e in threaded.read("north")] == [1, 2, 3, 4]
    assert threaded.verify("north").ok
