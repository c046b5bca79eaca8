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
from dataclasses import dataclass, replace
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, ProducerFenced, TopicAlreadyExistsError

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
# A worker commits a command's record no later than this past its deadline.
COMMIT_MARGIN = 1.0
COMMAND_TIMEOUT = COMMAND_DEADLINE + COMMAND_GRACE
RESYNC_TIMEOUT = 15.0
# How long an append waits for this worker to be assigned partitions (start-up, rebalance).
OWNER_WAIT = 60.0
SETTLE_TIMEOUT = 3.0
GROUP_COMMIT_SECONDS = 1.0
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
    """The hub's topics: names (`hub.*` unless a prefix is chosen, HUB_TOPICS), and how
    they are kept. `replication` (HUB_KAFKA_REPLICATION) is the replication factor, None
    for 3 or the broker count when smaller; `min_insync` (HUB_KAFKA_MIN_INSYNC) defaults to
    one less than that, at least 1, so acks=all survives one broker lost. `keys_segment_ms`
    (HUB_KAFKA_KEYS_SEGMENT_MS) bounds how long an erased subject's key stays on the broker:
    a segment of `hub.keys` rolls after it, and is then compacted at once."""

    prefix: str = "hub"
    replication: int | None = None
    min_insync: int | None = None
    keys_segment_ms: int = 60_000

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def keys(self) -> str:
        return f"{self.prefix}.keys"

    def factor(self, brokers: int) -> int:
        return self.replication or min(3, brokers)

    def insync(self, factor: int) -> int:
        return self.min_insync or max(1, factor - 1)

    def settings(self, factor: int) -> dict[str, dict[str, str]]:
        """Unlimited retention for commands and events; keys compacted within a bound."""
        insync = {"min.insync.replicas": str(self.insync(factor))}
        segment = str(self.keys_segment_ms)
        return {
            self.commands: {"cleanup.policy": "delete", "retention.ms": "-1", **insync},
            self.events: {
                "cleanup.policy": "delete",
                "retention.ms": "-1",
                "retention.bytes": "-1",
                **insync,
            },
            self.keys: {
                "cleanup.policy": "compact",
                "segment.ms": segment,
                "max.compaction.lag.ms": segment,
                "min.cleanable.dirty.ratio": "0.01",
                **insync,
            },
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
    """Create the hub's topics if missing; refuse to run on topics set up differently
    (partitions, replication factor, settings), or with more replicas than brokers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        factor = topics.factor(brokers)
        wanted = topics.settings(factor)
        if factor > brokers:
            raise RuntimeError(f"HUB_KAFKA_REPLICATION={factor}, but the cluster has {brokers} broker(s)")
        if topics.insync(factor) > factor:
            raise RuntimeError(f"HUB_KAFKA_MIN_INSYNC is above the replication factor {factor}")
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, factor, topic_configs=settings)
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
        for topic in described:
            replicas = {len(part["replicas"]) for part in topic["partitions"]}
            if replicas != {factor}:
                raise RuntimeError(
                    f"topic {topic['topic']} has {sorted(replicas)} replicas a partition, "
                    f"the hub expects {factor}"
                )
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        for response in await admin.describe_configs(resources):
            for _, _, _, name, configs in response.resources:
                actual = {entry[0]: entry[1] for entry in configs}
                for key, value in wanted[name].items():
                    if actual.get(key) != value:
                        raise RuntimeError(
                            f"topic {name} has {key}={actual.get(key)}, the hub needs {value} "
                            f"(kafka-configs.sh --alter --entity-type topics --entity-name {name} "
                            f"--add-config {key}={value})"
                        )
    finally:
        await admin.close()


def producer(
    bootstrap: str, idempotent: bool = True, transactional_id: str | None = None
) -> AIOKafkaProducer:
    # acks=all and idempotence: an answered append is on the broker, once. A send that
    # cannot be delivered fails after PRODUCE_TIMEOUT_MS (the batch expires).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent or transactional_id is not None,
        transactional_id=transactional_id,
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


MAX_BATCH = 500  # records a transaction at most


@dataclass
class _Queued:
    pending: Pending
    deadline: float | None
    future: asyncio.Future[Appended]


def _wire(record: Replicated | dict[str, Any]) -> dict[str, Any]:
    """A record as it goes on the event topic."""
    if isinstance(record, dict):
        return record
    return {
        "partnership": record.partnership,
        "command_id": record.command_id,
        "answer": record.answer,
        "events": record.events,
    }


class Fenced(NotOwner):
    """Another writer took the partition: this one's record is void or was never committed."""


class KafkaWriterLog(ReplicaReads):
    """The worker's log: it stamps positions and hashes (single writer per partnership),
    produces the record, then stores it in its replica, whose commit hook feeds the hub.

    Fencing: each partition is written through a transactional producer whose id names
    the partition, one batch of records a transaction, and every reader reads committed records
    only. Opening that producer fences the partition's previous writer (its open
    transaction is aborted, it can commit nothing more), and only then does this writer
    read the partition to its end and stamp from there; so no two writers ever stamp the
    same position, and behind that, every replica applies the first-record-wins rule
    (hub/log/sqlite.py) in the topic's order. An answer is given only from a record this
    writer's replica took, in the topic's order, into the history every node keeps.

    Appends are written per partition in order: those that queue up while a transaction
    is in flight go out together as the next one. A produce that fails leaves the broker's state
    uncertain (the record may have landed): the partition is then unsure, and before its
    next append the writer reopens its producer (which settles the transaction) and reads
    the partition to its end, so it never stamps a position twice.
    """

    def __init__(
        self,
        bootstrap: str,
        replica: SqliteLog,
        partitions: int = DEFAULT_PARTITIONS,
        topics: Topics = Topics(),
    ) -> None:
        super().__init__(bootstrap, replica, partitions, topics)
        # One fenced producer per partition this writer writes, opened on first use.
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._queued: dict[int, list[_Queued]] = {}
        self._flushers: dict[int, asyncio.Task[None]] = {}
        # Partitions whose last produce failed: reopened and read back before the next.
        self.unsure: set[int] = set()
        # Each partition's last batch: set once it is back in the replica (or failed).
        self._landed: dict[int, asyncio.Event] = {}
        # None: this log writes every partition (a lone writer). A worker narrows it to
        # the partitions the consumer group assigned it, and appends wait for that.
        self.owned: set[int] | None = None
        self._assigned = asyncio.Event()
        self._assigned.set()

    @property
    def in_sync(self) -> bool:
        return not self.unsure

    async def start(self) -> None:
        """Nothing to connect yet: each partition's producer opens on its first write."""

    async def catch_up(self, only: set[int] | None = None) -> int:
        """Store every record the replica lacks (written before a crash, or by another worker)."""
        return await catch_up(self.bootstrap, self.replica, self.partitions, self.topics, only)

    # -- ownership (a worker in a consumer group) ---------------------------------------

    def hold(self) -> None:
        """Own nothing until `claim`: appends wait (a rebalance is under way)."""
        self.owned = set()
        self._assigned.clear()

    def claim(self, partitions: set[int]) -> None:
        """Write these partitions from now on. One newly given may have been written by
        another worker meanwhile: its producer is reopened (fencing that worker) and the
        partition read to its end before this one stamps anything there."""
        self.unsure |= set(partitions) - (self.owned or set())
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

    async def decidable(self, partnership: str) -> None:
        """Wait until a command of `partnership` can be decided against everything written
        to its partition: this worker writes it, the partition is in sync (read to its end
        after a claim or a failed produce), and no batch of it is between the broker and
        the replica. Another node may have answered that batch already, so its client's
        next command can depend on it (a venue added to the partnership just registered).
        A batch begun after this command arrived cannot hold anything it depends on: it
        is not waited for (under a steady load there is always one in flight)."""
        await self._ensure_owner(partnership)
        partition = partition_of(partnership, self.partitions)
        while True:
            if partition in self.unsure:
                async with self._lock(partition):
                    await self._writer(partition)
            await self._landing(partition).wait()
            if partition not in self.unsure:
                return

    def _landing(self, partition: int) -> asyncio.Event:
        """The partition's last batch's event (set when there has been none)."""
        event = self._landed.get(partition)
        if event is None:
            event = self._landed[partition] = asyncio.Event()
            event.set()
        return event

    # -- writing ----------------------------------------------------------------------------

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    async def _writer(self, partition: int) -> AIOKafkaProducer:
        """The partition's fenced producer, opened (and the partition read to its end)
        if it is not open or its last produce failed. Called under the partition's lock."""
        current = self._producers.get(partition)
        if current is not None and partition not in self.unsure:
            return current
        try:
            async with asyncio.timeout(RESYNC_TIMEOUT):
                await self._close_producer(partition)
                fresh = producer(self.bootstrap, transactional_id=f"{self.topics.prefix}.writer.{partition}")
                await fresh.start()
                self._producers[partition] = fresh
                # An empty transaction: the broker fences (and settles) the previous
                # holder of this id before it answers; then its last record is readable.
                await fresh.begin_transaction()
                await fresh.commit_transaction()
                stored = await self.catch_up({partition})
        except (KafkaError, OSError, TimeoutError) as error:
            self.unsure.add(partition)
            raise Unavailable(f"the event log is unavailable: {error!r}") from error
        if partition in self.unsure:
            log.warning("event partition %d back in sync (%d records read back)", partition, stored)
        self.unsure.discard(partition)
        return fresh

    async def _close_producer(self, partition: int) -> None:
        old = self._producers.pop(partition, None)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()

    async def append(self, pending: Pending) -> Appended:
        """Queue the append on its partition; the partition's flusher writes everything
        queued while the last transaction was in flight as the next one (group commit)."""
        await self._ensure_owner(pending.partnership)
        partition = partition_of(pending.partnership, self.partitions)
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(partition, []).append(_Queued(pending, DEADLINE.get(), future))
        if partition not in self._flushers:
            self._flushers[partition] = asyncio.create_task(self._flush(partition))
        return await future

    async def _flush(self, partition: int) -> None:
        try:
            async with self._lock(partition):
                while batch := self._take_queued(partition):
                    try:
                        outcomes = await self._write_batch(partition, batch)
                    except BaseException as error:  # cancelled: the batch's appenders are told
                        for queued in batch:
                            if not queued.future.done():
                                queued.future.set_exception(Unavailable(f"nothing was written: {error!r}"))
                        raise
                    for queued, outcome in zip(batch, outcomes, strict=True):
                        if queued.future.done():
                            continue
                        if isinstance(outcome, BaseException):
                            queued.future.set_exception(outcome)
                        else:
                            queued.future.set_result(outcome)
        finally:
            self._flushers.pop(partition, None)
            for queued in self._queued.pop(partition, []):  # only if the flusher was cancelled
                if not queued.future.done():
                    queued.future.set_exception(Unavailable("the worker is stopping; nothing was written"))

    def _take_queued(self, partition: int) -> list[_Queued]:
        queued = self._queued.pop(partition, [])
        if len(queued) > MAX_BATCH:
            self._queued[partition] = queued[MAX_BATCH:]
        return queued[:MAX_BATCH]

    def _stamp_batch(
        self, batch: list[_Queued]
    ) -> tuple[list[Appended | BaseException], list[tuple[int, Replicated]]]:
        """Each queued append stamped in order from the replica's heads and the batch's own
        records, or refused (a known command answers its first answer); the records to send."""
        outcomes: list[Appended | BaseException] = []
        heads: dict[str, tuple[int, str]] = {}
        versions: dict[tuple[str, str], int] = {}
        answers: dict[tuple[str, str], dict[str, Any]] = {}
        records: list[tuple[int, Replicated]] = []
        recorded_at = recorded_now()
        for n, queued in enumerate(batch):
            pending, p = queued.pending, queued.pending.partnership
            first = answers.get((p, pending.command_id)) or self.replica.answer_for(p, pending.command_id)
            if first is not None:
                outcomes.append(Appended(first, [], duplicate=True))
                continue
            key = (p, pending.stream)
            version = versions[key] if key in versions else self.replica.stream_version(p, pending.stream)
            try:
                expect_version(pending, version)
                if queued.deadline is not None and time.time() > queued.deadline:
                    raise Expired(
                        "the command reached the hub's worker after its deadline; nothing was written"
                    )
            except Exception as error:
                outcomes.append(error)
                continue
            position, prev = heads[p] if p in heads else self.replica.head_and_hash(p)
            stored = stamp(pending, position, prev, version, recorded_at)
            answer = answer_of(pending, stored)
            if stored:
                heads[p] = (stored[-1]["position"], stored[-1]["hash"])
                versions[key] = stored[-1]["stream_version"]
            answers[(p, pending.command_id)] = answer
            records.append((n, Replicated(stored, p, pending.command_id, answer)))
            outcomes.append(Appended(answer, stored))  # until it is taken
        return outcomes, records

    async def _write_batch(self, partition: int, batch: list[_Queued]) -> list[Appended | BaseException]:
        """Stamp a batch in order, from the replica's heads and the batch's own records,
        send it as one transaction, and take it into the replica; an outcome each."""
        try:
            await self._writer(partition)
        except Unavailable as error:
            return [error] * len(batch)
        outcomes, records = self._stamp_batch(batch)
        if not records:
            return outcomes
        deadlines = [d for d in (batch[n].deadline for n, _ in records) if d is not None]
        landed = self._landed[partition] = asyncio.Event()  # this batch's
        try:
            await failpoints.reached("worker.before_produce")
            offsets = await self._send(
                partition, [record for _, record in records], min(deadlines, default=None)
            )
            await failpoints.reached("worker.after_produce")
            taken = await self._take(partition, offsets, [record for _, record in records])
        except Exception as error:
            # The records may be on the broker, or not: read them back before going on
            # (unless they were aborted for a deadline: then they are not).
            if not isinstance(error, Expired):
                self.unsure.add(partition)
            if isinstance(error, KafkaError):  # from reading back (_send turns its own)
                error = Unavailable(f"the event log is unavailable: {error!r}")
            for n, _ in records:
                outcomes[n] = error
            return outcomes
        finally:
            landed.set()
        for (n, _), appended in zip(records, taken, strict=True):
            outcomes[n] = appended
        return outcomes

    async def _take(
        self, partition: int, offsets: list[int], records: list[Replicated]
    ) -> list[Appended | BaseException]:
        """Store this writer's own committed records at `offsets` in the replica, in the
        topic's order: straight away when nothing can lie between them and what the
        replica holds (the previous transaction's commit marker at most), else by reading
        the partition up to them. A record the replica did not take is Fenced."""
        held = self.replica.offsets().get(partition, 0)
        fenced = Fenced("another writer took the partition first; nothing was written")
        if offsets[0] - held <= 1 and offsets == list(range(offsets[0], offsets[0] + len(offsets))):
            taken = await asyncio.gather(
                *(
                    self.replica.replicate(replace(record, offset=(partition, offset + 1)))
                    for record, offset in zip(records, offsets, strict=True)
                )
            )
            return [fenced if t.void is not None else Appended(t.answer, t.events) for t in taken]
        await self.catch_up({partition})
        outcomes: list[Appended | BaseException] = []
        for record in records:
            p, answer = record.partnership or "", record.answer or {}
            positions = answer.get("positions", [])
            if self.replica.answer_for(p, record.command_id or "") != answer:
                outcomes.append(fenced)
            else:  # a command may write no events: then its answer is all it stored
                events = list(self.replica.read(p, positions[0], positions[-1])) if positions else []
                outcomes.append(Appended(answer, events))
        return outcomes

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
        partition = partition_of(partnership, self.partitions)
        async with self._lock(partition):
            await self._writer(partition)
            await self._send(partition, [record])

    async def _send(self, partition: int, records: list[Any], deadline: float | None = None) -> list[int]:
        """Produce records (Replicated, or plain dicts for answers and refusals) in one
        transaction; their offsets once committed. Past `deadline` + COMMIT_MARGIN the
        transaction is aborted instead: the node that sent the command answers "nothing
        was written" only once no transaction begun before then is open
        (KafkaNodeLog._settle)."""
        writer = self._producers[partition]
        try:
            # a fenced producer's sender stops, and its futures may never resolve
            async with asyncio.timeout(COMMAND_GRACE):
                await writer.begin_transaction()
                wires = [_wire(record) for record in records]
                sends = [
                    await writer.send(
                        self.topics.events,
                        orjson.dumps(wire),
                        key=str(wire["partnership"]).encode(),
                        partition=partition,
                    )
                    for wire in wires
                ]
                sent = await asyncio.gather(*sends)
                if deadline is not None and time.time() > deadline + COMMIT_MARGIN:
                    await writer.abort_transaction()
                    raise Expired(
                        "the command's deadline passed before it was committed; nothing was written"
                    )
                await writer.commit_transaction()
        except ProducerFenced as error:
            self.unsure.add(partition)
            await self._close_producer(partition)
            raise Fenced(f"another writer took event partition {partition}; nothing was written") from error
        except TimeoutError as error:
            self.unsure.add(partition)
            raise Unavailable(f"event partition {partition} did not commit in time") from error
        except KafkaError as error:  # the records may be on the broker, or not
            self.unsure.add(partition)
            raise Unavailable(f"the event log is unavailable: {error!r}") from error
        return [int(metadata.offset) for metadata in sent]

    def close(self) -> None:
        self.replica.close()

    async def stop(self) -> None:
        for partition in list(self._producers):
            await self._close_producer(partition)


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


def events_consumer(
    bootstrap: str, group: str | None = None, isolation: str = "read_committed"
) -> AIOKafkaConsumer:
    # Low fetch waits: a frame should reach the sockets within milliseconds of its commit.
    # Committed records only: a fenced writer's aborted record is never seen. A group
    # (API nodes) only names the reader, so Kafka's tools show its committed offsets and
    # lag; partitions are assigned, not balanced, since every node reads them all.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation,
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
    consumer: AIOKafkaConsumer,
    topics: Topics,
    partitions: int,
    replica: SqliteLog,
    only: set[int] | None = None,
) -> dict[TopicPartition, int]:
    """Point the consumer at every event partition (or those in `only`), where the
    replica left off; returns each partition's current end (of committed records)."""
    assigned = [TopicPartition(topics.events, n) for n in range(partitions) if only is None or n in only]
    consumer.assign(assigned)
    done = replica.offsets()
    for tp in assigned:
        consumer.seek(tp, done.get(tp.partition, 0))
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    return ends


async def high_watermark(bootstrap: str, tp: TopicPartition) -> int:
    """The end of a partition counting records of open transactions (which a
    read-committed reader reaches only once they are decided)."""
    peek = events_consumer(bootstrap, isolation="read_uncommitted")
    await peek.start()
    try:
        end: int = (await peek.end_offsets([tp]))[tp]
        return end
    finally:
        await peek.stop()


async def catch_up(
    bootstrap: str, replica: SqliteLog, partitions: int, topics: Topics, only: set[int] | None = None
) -> int:
    """Consume `hub.events` (every partition, or those in `only`) from the replica's
    offsets to the current end; returns records stored."""
    consumer = events_consumer(bootstrap)
    await consumer.start()
    try:
        ends = await resume(consumer, topics, partitions, replica, only)
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
        group: str | None = None,
    ) -> None:
        super().__init__(bootstrap, replica, partitions, topics)
        self.group = group
        # Commands may be sent twice (the worker answers a repeat with the first answer).
        self.producer = producer(bootstrap, idempotent=False)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._feed: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # Next offset to read in each event partition (past commit markers too).
        self.read_to: dict[int, int] = {}
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
        """Read the partnership's event partition past every record on it now, committed
        or in an open transaction (which commits or aborts first), or raise Unavailable.
        Called past a command's deadline + COMMIT_MARGIN: a worker commits it no later."""
        tp = TopicPartition(self.topics.events, partition_of(partnership, self.partitions))
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                if self._consumer is None:
                    raise TimeoutError
                end = await high_watermark(self.bootstrap, tp)
                while self.read_to.get(tp.partition, 0) < end:
                    await asyncio.sleep(0.02)
        except (KafkaError, TimeoutError) as error:
            raise Unavailable(
                f"the hub's worker did not answer in time and the event log does not answer; {UNKNOWN}: "
                "retry with the same Idempotency-Key"
            ) from error

    async def _follow(self) -> None:
        """Consume `hub.events` for ever: store each record, then settle its command."""
        lost_at: float | None = None
        while True:
            consumer = events_consumer(self.bootstrap, self.group)
            try:
                await consumer.start()
                self._consumer = consumer
                ends = await resume(consumer, self.topics, self.partitions, self.replica)
                if lost_at is not None:
                    log.warning("event feed back after %.1fs", time.monotonic() - lost_at)
                    lost_at = None
                committed = 0.0
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
                    # past records and commit markers alike: how far this node has read
                    for tp in consumer.assignment():
                        self.read_to[tp.partition] = await consumer.position(tp)
                    if self.group is not None and time.monotonic() - committed > GROUP_COMMIT_SECONDS:
                        committed = time.monotonic()
                        await self._commit_offsets(consumer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event feed failed; reconnecting")
                lost_at = lost_at if lost_at is not None else time.monotonic()
                await asyncio.sleep(1)
            finally:
                self._consumer = None
                await consumer.stop()

    async def _commit_offsets(self, consumer: AIOKafkaConsumer) -> None:
        """Tell the broker how far this node has read, for Kafka's tools (the replica
        keeps its own offsets: a failed commit costs nothing)."""
        offsets = {
            tp: self.read_to[tp.partition] for tp in consumer.assignment() if tp.partition in self.read_to
        }
        with contextlib.suppress(KafkaError):
            await consumer.commit(offsets)

    def replica_state(self) -> dict[str, Any]:
        """How far this node's replica has read each event partition, and what it voided."""
        consumer = self._consumer
        partitions = {}
        for n in range(self.partitions):
            tp = TopicPartition(self.topics.events, n)
            end = consumer.last_stable_offset(tp) if consumer is not None else None
            read = self.read_to.get(n, 0)
            partitions[n] = {"read_to": read, "end": end, "lag": None if end is None else max(0, end - read)}
        return {
            "following": consumer is not None and self.caught_up.is_set(),
            "void_records": sum(self.replica.voided.values()),
            "partitions": partitions,
        }

    async def _store(self, records: list[tuple[int, int, dict[str, Any]]]) -> None:
        taken = await asyncio.gather(*(self.replica.replicate(_replicated(*r)) for r in records))
        for (_, _, record), appended in zip(records, taken, strict=True):
            future = self.waiting.get(record["command_id"])
            if future is None or future.done() or appended.void is not None:
                # a void record answers no one: its command is settled by the history
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
