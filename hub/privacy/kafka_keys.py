"""Subjects' keys shared between Kafka-mode nodes through the compacted `hub.keys` topic.

A key is published when a node makes it, before any event sealed with it is sent, under
its own id (`<subject>#<random>`, hub/privacy/cipher.py): two nodes that each make a key
for one subject publish two records, and neither replaces the other. An erasure publishes
a tombstone for each key of the subject; a key of an erased subject heard later (made by
a node that had not heard of the erasure, or not known to the node that erased) gets one
from every node that hears it. Compaction then removes the keys from the broker too:
the topic's segments roll after `Topics.keys_segment_ms` and are compacted at once, and
since a segment rolls only when something is written to it, the node that erased writes
a roll record to that partition once the segment is due. So an erased key is gone from
the broker within keys_segment_ms plus the broker's cleaner pass (log.cleaner.backoff.ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.log.kafka import Topics, producer, reached
from hub.log.port import Unavailable
from hub.privacy.cipher import KeyStore

log = logging.getLogger("hub.kafka")

# The key of a record that only makes a segment of the keys topic roll: no key id is this.
ROLL = b"\x00roll"


class KeyShare:
    """Publishes this node's new and destroyed keys and stores everyone else's.

    A key waits in `unsent` until the broker has it; a failed send is retried, and
    `flush` (awaited by an API node before it sends a command) fails with Unavailable
    rather than let an event sealed with an unpublished key reach the log.
    """

    def __init__(self, bootstrap: str, keys: KeyStore, partitions: int, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topic = topics.keys
        self.roll_after = topics.keys_segment_ms / 1000 + 1.0
        self._rolls: dict[int, asyncio.Task[None]] = {}
        self.keys = keys
        self.partitions = partitions
        self.producer: AIOKafkaProducer = producer(bootstrap, idempotent=False)
        self.unsent: dict[str, bytes | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._follow: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.producer.start()
        self.keys.on_created = lambda key_id, key: self._send(key_id, key)
        self.keys.on_destroyed_key = lambda key_id: self._send(key_id, None)
        self._publisher = asyncio.create_task(self._publish())
        self._follow = asyncio.create_task(self._consume())
        await self.caught_up.wait()

    def _send(self, key_id: str, key: bytes | None) -> None:
        assert self._loop is not None
        self.unsent[key_id] = key
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.unsent:
                key_id, key = next(iter(self.unsent.items()))
                try:
                    sent = await self.producer.send_and_wait(self.topic, key, key=key_id.encode())
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning("key %s not published yet (%r); retrying", key_id, error)
                    await asyncio.sleep(0.5)
                    continue
                if self.unsent.get(key_id, b"") == key:
                    del self.unsent[key_id]
                if key is None and sent.partition not in self._rolls:
                    self._rolls[sent.partition] = asyncio.create_task(self._roll(sent.partition))
            self._sent.set()

    async def _roll(self, partition: int) -> None:
        """Once the segment holding an erased key is due to roll, make it roll: the
        broker's cleaner then compacts the key away."""
        try:
            await asyncio.sleep(self.roll_after)
            while True:
                try:
                    await self.producer.send_and_wait(self.topic, None, key=ROLL, partition=partition)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning("keys partition %d not rolled yet (%r); retrying", partition, error)
                    await asyncio.sleep(1.0)
        finally:
            self._rolls.pop(partition, None)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every key made here is on the broker."""
        try:
            async with asyncio.timeout(timeout):
                while self.unsent:
                    self._sent.clear()
                    self._wake.set()
                    await self._sent.wait()
        except TimeoutError as error:
            raise Unavailable("subjects' keys cannot be shared now (the broker does not answer)") from error

    async def _consume(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=50,
            )
            try:
                await consumer.start()
                assigned = [TopicPartition(self.topic, n) for n in range(self.partitions)]
                consumer.assign(assigned)
                await consumer.seek_to_beginning(*assigned)
                ends = await consumer.end_offsets(assigned)
                refused: set[str] = set()
                while True:
                    if not self.caught_up.is_set() and await reached(consumer, ends):
                        self.caught_up.set()
                    batch = await consumer.getmany(timeout_ms=200)
                    for messages in batch.values():
                        for message in messages:
                            if message.key != ROLL:
                                self._heard(message.key.decode(), message.value, refused)
                    if self.caught_up.is_set():
                        for key_id in refused:
                            self._send(key_id, None)
                        refused.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("key feed failed; reconnecting")
                await asyncio.sleep(1)
            finally:
                await consumer.stop()

    def _heard(self, key_id: str, key: bytes | None, refused: set[str]) -> None:
        """Store a key, or forget a tombstone's subject. A key of an erased subject is
        refused, and gets a tombstone once this node has read the topic to where it was
        when it started (the tombstone may already follow it there)."""
        if key is None:
            self.keys.forget(key_id)
            refused.discard(key_id)
        elif not self.keys.put(key_id, key):
            refused.add(key_id)

    async def stop(self) -> None:
        with contextlib.suppress(Unavailable):
            await self.flush()
        for task in (self._publisher, self._follow, *self._rolls.values()):
            if task is not None:
                task.cancel()
        await self.producer.stop()
