"""Kafka mode: the event topic is the log, and every node keeps a SQLite replica of it.

Topics, all keyed by partnership and co-partitioned (a partnership's commands and events
share a partition number):

- `hub.commands`: commands from API nodes to the worker that owns the partition;
- `hub.events`: one record per decided command: its events (stamped with positions and
  the hash chain by the worker, the partnership's single writer) and its answer, or the
  command's rejection; a record is atomic, so a command's events land all or none;
- `hub.keys`: subjects' keys, compacted; erasure writes a tombstone.

The worker appends by producing a record and then storing it in its replica; API nodes
consume `hub.events` into their replicas, which feeds their views and live frames, and
match answers to the commands they sent by command id.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from hub import failpoints
from hub.application.refusals import refusal
from hub.domain import Actor
from hub.log.chain import answer_of, expect_version, recorded_now, stamp
from hub.log.port import Appended, Commit, Pending, Unavailable, Verification
from hub.log.sqlite import Replicated, SqliteLog
from schemas.commands import Submission

log = logging.getLogger("hub.kafka")

DEFAULT_PARTITIONS = 12
# A command is decided only until its deadline (wall clock, set by the API node when it
# sends it). The node waits DEADLINE + GRACE (GRACE covers the worker's produce timeout)
# for the answer; then it reads the event partition to its end, and answers the first
# answer if it is there, or 503 "nothing was written" (which is then true), or, when the
# broker does not answer, 503 "cannot tell yet": a retry with the same Idempotency-Key
# settles it either way.
COMMAND_DEADLINE = 8.0
PRODUCE_TIMEOUT_MS = 5000
COMMAND_GRACE = PRODUCE_TIMEOUT_MS / 1000 + 1.0
COMMAND_TIMEOUT = COMMAND_DEADLINE + COMMAND_GRACE
RESYNC_TIMEOUT = 15.0
# How long an append waits for this worker to be assigned partitions (start-up, rebalance).
OWNER_WAIT = 60.0
SETTLE_TIMEOUT = 3.0
NOT_WRITTEN = "nothing was written"
UNKNOWN = "the hub cannot tell yet whether it was written"

# The deadline of the command being decided on this task (worker side), if it has one.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("hub_command_deadline", default=None)


class Expired(Unavailable):
    """A command reached the worker after its deadline: refused, nothing written."""


class NotOwner(Unavailable):
    """This worker does not own the partnership's partition (now): nothing written."""


@dataclass(frozen=True)
class Topics:
    """The hub's topic names: `hub.*` unless a prefix is chosen (HUB_TOPICS)."""

    prefix: str = "hub"

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def keys(self) -> str:
        return f"{self.prefix}.keys"

    def settings(self) -> dict[str, dict[str, str]]:
        """Unlimited retention for commands and events; keys compacted."""
        return {
            self.commands: {"cleanup.policy": "delete", "retention.ms": "-1"},
            self.events: {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
            self.keys: {"cleanup.policy": "compact"},
        }


def bootstrap_of(url: str) -> str:
    """`kafka://host:port[,host:port]` → `host:port[,host:port]`."""
    return url.removeprefix("kafka://").rstrip("/")


def partition_of(partnership: str, partitions: int) -> int:
    """The partition of both topics that carries a partnership: stable across processes."""
    return zlib.crc32(partnership.encode()) % partitions


async def ensure_topics(
    bootstrap: str, partitions: int = DEFAULT_PARTITIONS, topics: Topics = Topics()
) -> None:
    """Create the hub's topics if missing; refuse to run on topics set up differently."""
    wanted = topics.settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, 1, topic_configs=settings)
            for name, settings in wanted.items()
            if name not in existing
        ]
        if missing:
            # another node may create them at the same moment
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        # Just created topics may show no partitions (or be unknown) for a moment.
        for attempt in range(100):
            described = await admin.describe_topics(list(wanted))
            counts = {topic["topic"]: len(topic["partitions"]) for topic in described}
            settled = all(counts.get(name, 0) > 0 for name in wanted)
            if settled or attempt == 99:
                break
            await asyncio.sleep(0.1)
        for name in wanted:
            count = counts.get(name, 0)
            if count != partitions:
                raise RuntimeError(f"topic {name} has {count} partitions, the hub expects {partitions}")
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        for response in await admin.describe_configs(resources):
            for _, _, _, name, configs in response.resources:
                actual = {entry[0]: entry[1] for entry in configs}
                for key, value in wanted[name].items():
                    if actual.get(key) != value:
                        raise RuntimeError(f"topic {name} has {key}={actual.get(key)}, the hub needs {value}")
    finally:
        await admin.close()


def producer(bootstrap: str, idempotent: bool = True) -> AIOKafkaProducer:
    # acks=all and idempotence: an answered append is on the broker, once. A send that
    # cannot be delivered fails after PRODUCE_TIMEOUT_MS (the batch expires).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=0,
        request_timeout_ms=PRODUCE_TIMEOUT_MS,
    )


class ReplicaReads:
    """What every Kafka-mode log shares: its topics, and reads served by the node's
    local replica, whose commit hook feeds the hub."""

    def __init__(
        self,
        bootstrap: str,
        replica: SqliteLog,
        partitions: int = DEFAULT_PARTITIONS,
        topics: Topics = Topics(),
    ) -> None:
        self.bootstrap = bootstrap
        self.replica = replica
        self.partitions = partitions
        self.topics = topics

    def subscribe(self, on_commit: Commit) -> None:
        self.replica.subscribe(on_commit)

    def answer_for(self, partnership: str, command_id: str) -> dict[str, Any] | None:
        return self.replica.answer_for(partnership, command_id)

    def read(
        self, partnership: str, from_position: int = 1, to_position: int | None = None
    ) -> Iterator[dict[str, Any]]:
        return self.replica.read(partnership, from_position, to_position)

    def read_stream(self, partnership: str, stream: str) -> list[dict[str, Any]]:
        return self.replica.read_stream(partnership, stream)

    def partnerships(self) -> list[str]:
        return self.replica.partnerships()

    def head(self, partnership: str) -> int:
        return self.replica.head(partnership)

    def verify(self, partnership: str) -> Verification:
        return self.replica.verify(partnership)


class KafkaWriterLog(ReplicaReads):
    """The worker's log: it stamps positions and hashes (single writer per partnership),
    produces the record, then stores it in its replica, whose commit hook feeds the hub.

    Appends are serialised per partition, so the replica stores the records of a
    partition in the order they are on the broker and its offsets never skip one. A
    produce that fails leaves the broker's state uncertain (the record may have landed):
    the log is then out of sync, and before the next append it reopens its producer and
    reads the event topic to its end, so it never stamps a position twice.
    """

    def __init__(
        self,
        bootstrap: str,
        replica: SqliteLog,
        partitions: int = DEFAULT_PARTITIONS,
        topics: Topics = Topics(),
    ) -> None:
        super().__init__(bootstrap, replica, partitions, topics)
        self.producer = producer(bootstrap)
        self._locks: dict[int, asyncio.Lock] = {}
        self._sync = asyncio.Lock()
        self.in_sync = True
        # None: this log writes every partition (a lone writer). A worker narrows it to
        # the partitions the consumer group assigned it, and appends wait for that.
        self.owned: set[int] | None = None
        self._assigned = asyncio.Event()
        self._assigned.set()

    async def start(self) -> None:
        await self.producer.start()

    async def catch_up(self) -> int:
        """Store every record the replica lacks (written before a crash, or by another worker)."""
        return await catch_up(self.bootstrap, self.replica, self.partitions, self.topics)

    # -- ownership (a worker in a consumer group) ---------------------------------------

    def hold(self) -> None:
        """Own nothing until `claim`: appends wait (a rebalance is under way)."""
        self.owned = set()
        self._assigned.clear()

    def claim(self, partitions: set[int]) -> None:
        self.owned = set(partitions)
        self._assigned.set()

    def owns(self, partnership: str) -> bool:
        return self.owned is None or partition_of(partnership, self.partitions) in self.owned

    async def _ensure_owner(self, partnership: str) -> None:
        if not self._assigned.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._assigned.wait(), OWNER_WAIT)
        if not self._assigned.is_set() or not self.owns(partnership):
            raise NotOwner(f"this worker does not write partnership {partnership} now")

    # -- writing ----------------------------------------------------------------------------

    async def resync(self) -> None:
        """After a failed produce: a fresh producer, and the replica read to the topic's end."""
        async with self._sync:
            if self.in_sync:
                return
            try:
                async with asyncio.timeout(RESYNC_TIMEOUT):
                    with contextlib.suppress(Exception):
                        await self.producer.stop()
                    self.producer = producer(self.bootstrap)
                    await self.producer.start()
                    stored = await self.catch_up()
            except (KafkaError, OSError, TimeoutError) as error:
                raise Unavailable(f"the event log is unavailable: {error!r}") from error
            log.warning("event log back in sync (%d records read back)", stored)
            self.in_sync = True

    async def append(self, pending: Pending) -> Appended:
        p = pending.partnership
        await self._ensure_owner(p)
        if not self.in_sync:
            await self.resync()
        partition = partition_of(p, self.partitions)
        lock = self._locks.setdefault(partition, asyncio.Lock())
        async with lock:
            if not self.in_sync:
                raise Unavailable("the event log is resynchronising; retry")
            first = self.replica.answer_for(p, pending.command_id)
            if first is not None:
                return Appended(first, [], duplicate=True)
            version = self.replica.stream_version(p, pending.stream)
            expect_version(pending, version)
            deadline = DEADLINE.get()
            if deadline is not None and time.time() > deadline:
                raise Expired("the command reached the hub's worker after its deadline; nothing was written")
            position, prev = self.replica.head_and_hash(p)
            stored = stamp(pending, position, prev, version, recorded_now())
            answer = answer_of(pending, stored)
            record = {"partnership": p, "command_id": pending.command_id, "answer": answer, "events": stored}
            try:
                await failpoints.reached("worker.before_produce")
                offset = await self._produce(p, record)
                await failpoints.reached("worker.after_produce")
                await self.replica.replicate(Replicated(stored, p, pending.command_id, answer, offset))
            except BaseException as error:
                # The record may be on the broker, or not: read it back before going on.
                self.in_sync = False
                if isinstance(error, KafkaError):
                    raise Unavailable(f"the event log is unavailable: {error!r}") from error
                raise
            return Appended(answer, stored)

    async def answer(self, partnership: str, command_id: str, answer: dict[str, Any]) -> None:
        """Repeat a first answer for a command sent again (nothing new is written)."""
        await self._produce_or_unavailable(
            partnership,
            {"partnership": partnership, "command_id": command_id, "answer": answer, "events": []},
        )

    async def refuse(self, partnership: str, command_id: str, status: int, detail: Any) -> None:
        record = {
            "partnership": partnership,
            "command_id": command_id,
            "error": {"status": status, "detail": detail},
        }
        await self._produce_or_unavailable(partnership, record)

    async def _produce_or_unavailable(self, partnership: str, record: dict[str, Any]) -> None:
        try:
            await self._produce(partnership, record)
        except KafkaError as error:
            raise Unavailable(f"the event log is unavailable: {error!r}") from error

    async def _produce(self, partnership: str, record: dict[str, Any]) -> tuple[int, int]:
        partition = partition_of(partnership, self.partitions)
        sent = await self.producer.send_and_wait(
            self.topics.events, orjson.dumps(record), key=partnership.encode(), partition=partition
        )
        return partition, sent.offset + 1

    def close(self) -> None:
        self.replica.close()

    async def stop(self) -> None:
        await self.producer.stop()


def _replicated(partition: int, offset: int, record: dict[str, Any]) -> Replicated:
    if "error" in record:
        return Replicated([], offset=(partition, offset + 1))
    return Replicated(
        record["events"],
        record["partnership"],
        record["command_id"],
        record["answer"],
        (partition, offset + 1),
    )


def events_consumer(bootstrap: str) -> AIOKafkaConsumer:
    # Low fetch waits: a frame should reach the sockets within milliseconds of its commit.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        max_poll_records=2000,
    )


async def reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer has read every partition up to the offsets in `ends`."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def resume(
    consumer: AIOKafkaConsumer, topics: Topics, partitions: int, replica: SqliteLog
) -> dict[TopicPartition, int]:
    """Point the consumer at every event partition, where the replica left off; returns
    each partition's current end."""
    assigned = [TopicPartition(topics.events, n) for n in range(partitions)]
    consumer.assign(assigned)
    done = replica.offsets()
    for tp in assigned:
        consumer.seek(tp, done.get(tp.partition, 0))
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    return ends


async def catch_up(bootstrap: str, replica: SqliteLog, partitions: int, topics: Topics) -> int:
    """Consume `hub.events` from the replica's offsets to the current end; returns records stored."""
    consumer = events_consumer(bootstrap)
    await consumer.start()
    try:
        ends = await resume(consumer, topics, partitions, replica)
        stored = 0
        while not await reached(consumer, ends):
            batch = await consumer.getmany(timeout_ms=500)
            items = [
                _replicated(tp.partition, m.offset, orjson.loads(m.value))
                for tp, ms in batch.items()
                for m in ms
            ]
            await asyncio.gather(*(replica.replicate(item) for item in items))
            stored += len(items)
        return stored
    finally:
        await consumer.stop()


class KafkaNodeLog(ReplicaReads):
    """An API node's log and command gateway: commands go to the worker over
    `hub.commands`; events come back through `hub.events` into the replica (feeding views
    and live frames), and each waiting command gets its answer, or its refusal, by
    command id. `before_submit` runs before each command is sent (the node's new subject
    keys are published first, so no event is sealed with a key the others lack)."""

    def __init__(
        self,
        bootstrap: str,
        replica: SqliteLog,
        partitions: int = DEFAULT_PARTITIONS,
        topics: Topics = Topics(),
        before_submit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(bootstrap, replica, partitions, topics)
        # Commands may be sent twice (the worker answers a repeat with the first answer).
        self.producer = producer(bootstrap, idempotent=False)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._feed: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.caught_up = asyncio.Event()
        self.before_submit = before_submit

    async def start(self) -> None:
        await self.producer.start()
        self._feed = asyncio.create_task(self._follow())
        await self.caught_up.wait()

    async def submit(self, partnership: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        """Send a command to the worker and wait for its answer, or its refusal.

        Unavailable (503) says whether nothing was written (the worker decides a command
        only before its deadline, and this node read the event partition past it), or
        that this cannot be told yet (the broker does not answer).
        """
        first = self.replica.answer_for(partnership, submission.id)
        if first is not None:
            return first
        if self.before_submit is not None:
            await self.before_submit()
        loop = asyncio.get_running_loop()
        future = self.waiting.get(submission.id)
        if future is None:
            future = self.waiting[submission.id] = loop.create_future()
        give_up = loop.time() + COMMAND_TIMEOUT
        deadline = time.time() + COMMAND_DEADLINE
        message = {
            "partnership": partnership,
            "command": submission.to_wire(),
            "actor": actor.as_dict(),
            "deadline": deadline,
        }
        try:
            try:
                await self.producer.send_and_wait(
                    self.topics.commands,
                    orjson.dumps(message),
                    key=partnership.encode(),
                    partition=partition_of(partnership, self.partitions),
                )
            except KafkaError as error:
                raise Unavailable(
                    f"the hub's command log is unavailable ({type(error).__name__}); {UNKNOWN}: "
                    "retry with the same Idempotency-Key"
                ) from error
            try:
                return await asyncio.wait_for(asyncio.shield(future), max(0.0, give_up - loop.time()))
            except TimeoutError:
                pass
            # Past the deadline the worker writes nothing more; whether it wrote this command
            # shows once this node has read the event partition to its end.
            await self._settle(partnership)
            if future.done():
                return future.result()
            first = self.replica.answer_for(partnership, submission.id)
            if first is not None:
                return first
            raise Unavailable(
                f"the hub's worker did not answer in time; {NOT_WRITTEN}: retry with the same Idempotency-Key"
            )
        finally:
            if future.done() or self.waiting.get(submission.id) is future:
                self.waiting.pop(submission.id, None)

    async def _settle(self, partnership: str) -> None:
        """Read the partnership's event partition to its current end, or raise Unavailable."""
        tp = TopicPartition(self.topics.events, partition_of(partnership, self.partitions))
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                consumer = self._consumer
                if consumer is None:
                    raise TimeoutError
                end = (await consumer.end_offsets([tp]))[tp]
                while self.replica.offsets().get(tp.partition, 0) < end:
                    await asyncio.sleep(0.02)
        except (KafkaError, TimeoutError) as error:
            raise Unavailable(
                f"the hub's worker did not answer in time and the event log does not answer; {UNKNOWN}: "
                "retry with the same Idempotency-Key"
            ) from error

    async def _follow(self) -> None:
        """Consume `hub.events` for ever: store each record, then settle its command."""
        while True:
            consumer = events_consumer(self.bootstrap)
            try:
                await consumer.start()
                self._consumer = consumer
                ends = await resume(consumer, self.topics, self.partitions, self.replica)
                while True:
                    if not self.caught_up.is_set() and await reached(consumer, ends):
                        self.caught_up.set()
                    batch = await consumer.getmany(timeout_ms=200)
                    records = [
                        (tp.partition, m.offset, orjson.loads(m.value))
                        for tp, ms in batch.items()
                        for m in ms
                    ]
                    if records:
                        await self._store(records)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event feed failed; reconnecting")
                await asyncio.sleep(1)
            finally:
                self._consumer = None
                await consumer.stop()

    async def _store(self, records: list[tuple[int, int, dict[str, Any]]]) -> None:
        await asyncio.gather(*(self.replica.replicate(_replicated(*r)) for r in records))
        for _, _, record in records:
            future = self.waiting.get(record["command_id"])
            if future is None or future.done():
                continue
            if "error" in record:
                future.set_exception(refusal(record["error"]))
            else:
                future.set_result(record["answer"])

    def close(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
        self.replica.close()

    async def stop(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
        await self.producer.stop()
