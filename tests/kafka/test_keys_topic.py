"""Subjects' keys on the real broker's `hub.keys` (hub/privacy/kafka_keys.py), shared by
two nodes with a keys.db each: two keys made for one subject at once (two tries of one
ID-sought sighting, in flight on both nodes: issue 11) are both kept everywhere, and an
erasure leaves a tombstone as the last record of each, including a key of the subject
published after the erasure by a node that had not heard of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hub.log.kafka import Topics, ensure_topics
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.kafka_keys import KeyShare
from tests.kafka.support import require_broker, unique_prefix
from tests.kafka.test_erasure_on_broker import _records

pytestmark = pytest.mark.kafka

PARTITIONS = 3
NOTE = {"text": "red cap, ID sought"}
HEARS_WITHIN = 30.0


async def _until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + HEARS_WITHIN
    while True:
        held = check()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        assert loop.time() < give_up, what
        await asyncio.sleep(0.1)


async def _last_records(topic: str) -> dict[str, bytes | None]:
    """Each key id's last record on the topic (what compaction keeps)."""
    return {key.decode(): value for key, value in await _records(topic, PARTITIONS) if key is not None}


async def _two_nodes_one_subject(tmp_path: Path) -> None:
    bootstrap, topics = require_broker(), Topics(unique_prefix("keys"), keys_segment_ms=2000)
    await ensure_topics(bootstrap, PARTITIONS, topics)
    stores = [KeyStore(tmp_path / f"{name}.db") for name in "ab"]
    shares = [KeyShare(bootstrap, keys, PARTITIONS, topics) for keys in stores]
    try:
        for share in shares:
            await share.start()
        a, b = (Cipher(keys) for keys in stores)
        sealed = [a.seal("s1", NOTE), b.seal("s1", NOTE)]
        for share in shares:
            await share.flush()
        assert sealed[0]["key"] != sealed[1]["key"], "each node made a key of its own"
        await _until(lambda: all(len(keys.keys_for("s1")) == 2 for keys in stores), "both keys heard")
        assert [cipher.open(s) for cipher in (a, b) for s in sealed] == [NOTE] * 4

        a.destroy("s1")
        await shares[0].flush()
        await _until(lambda: stores[1].get("s1") is None, "node b heard of the erasure")
        assert b.open(sealed[0]) is None and b.open(sealed[1]) is None
        # a node that had not heard of the erasure publishes a key for the subject
        late = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await late.start()
        try:
            await late.send_and_wait(topics.keys, b"k" * 32, key=b"s1#late")
        finally:
            await late.stop()

        async def all_tombstoned() -> bool:
            last = await _last_records(topics.keys)
            ours = {key_id: value for key_id, value in last.items() if key_id.startswith("s1")}
            return len(ours) == 3 and all(value is None for value in ours.values())

        await _until(all_tombstoned, "a tombstone is the last record of each of the subject's keys")
        assert all(keys.get("s1") is None for keys in stores)
    finally:
        for share in shares:
            await share.stop()
        for keys in stores:
            keys.close()


def test_two_keys_made_at_once_for_one_subject_are_both_kept_and_both_erased(tmp_path: Path) -> None:
    asyncio.run(_two_nodes_one_subject(tmp_path))
