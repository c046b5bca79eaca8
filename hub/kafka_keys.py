"""Subjects' keys shared between Kafka-mode nodes through the compacted `hub.keys` topic.

A key is published when a node makes it, before any event sealed with it is sent; an
erasure publishes a tombstone, and compaction then removes the key from the broker too.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.cipher import KeyStore
from hub.kafka_log import Topics, producer, reached

log = logging.getLogger("hub.kafka")


class KeyShare:
    """Publishes this node's new and destroyed keys and stores everyone else's."""

    def __init__(self, bootstrap: str, keys: KeyStore, partitions: int, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topic = topics.keys
        self.keys = keys
        self.partitions = partitions
        self.producer: AIOKafkaProducer = producer(bootstrap)
        self._tasks: set[asyncio.Task[object]] = set()
        self._follow: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        await self.producer.start()
        self.keys.on_created = lambda key_id, key: self._send(key_id, key)
        self.keys.on_destroyed = lambda key_id: self._send(key_id, None)
        self._follow = asyncio.create_task(self._consume())
        await self.caught_up.wait()

    def _send(self, key_id: str, key: bytes | None) -> None:
        task = asyncio.get_running_loop().create_task(
            self.producer.send_and_wait(self.topic, key, key=key_id.encode())
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

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
                while True:
                    if not self.caught_up.is_set() and await reached(consumer, ends):
                        self.caught_up.set()
                    batch = await consumer.getmany(timeout_ms=200)
                    for messages in batch.values():
                        for message in messages:
                            key_id = message.key.decode()
                            if message.value is None:
                                self.keys.forget(key_id)
                            else:
                                self.keys.put(key_id, message.value)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("key feed failed; reconnecting")
                await asyncio.sleep(1)
            finally:
                await consumer.stop()

    async def stop(self) -> None:
        await self.flush()
        if self._follow is not None:
            self._follow.cancel()
        await self.producer.stop()
