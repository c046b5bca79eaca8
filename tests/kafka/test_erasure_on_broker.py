"""Erasure in Kafka mode leaves nothing on the broker that opens the subject (DESIGN:
privacy; issue 10): after an erasure, a plain consumer reading every hub topic finds the
name in no record in clear, and no key left on `hub.keys` opens any sealed field that held
it. The keys topic's segments roll after HUB_KAFKA_KEYS_SEGMENT_MS (2 s here) and are
compacted by the broker's cleaner; the README states the bound."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.log.kafka import reached
from hub.privacy.kafka_keys import ROLL
from tests.kafka.support import KafkaCluster, require_broker, running_cluster, unique_prefix
from tests.support import set_up_partnership

pytestmark = pytest.mark.kafka

NAME = "Quentin Zebedee-Ostrowski"
NONCE_BYTES = 12


async def _records(topic: str, partitions: int) -> list[tuple[bytes | None, bytes | None]]:
    """Every record on a topic, as a consumer with no hub code would read it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=require_broker(), enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, n) for n in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[tuple[bytes | None, bytes | None]] = []
        while not await reached(consumer, ends):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found.extend((m.key, m.value) for m in messages)
        return found
    finally:
        await consumer.stop()


def _sealed(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, dict):
        if set(value) >= {"key", "ct"} and isinstance(value["ct"], str):
            yield value
        for inner in value.values():
            yield from _sealed(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _sealed(inner)


def _opened(sealed: dict[str, str], keys: dict[str, list[bytes]]) -> list[bytes]:
    blob = base64.b64decode(sealed["ct"])
    opened = []
    for key in keys.get(sealed["key"], []):
        try:
            opened.append(AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], sealed["key"].encode()))
        except Exception:
            continue
    return opened


def _broker_reveals(cluster: KafkaCluster) -> list[str]:
    """Where the broker's data alone still shows the name: records in clear, or sealed
    fields a key on `hub.keys` opens."""
    prefix, partitions = cluster.prefix, cluster.partitions
    keys: dict[str, list[bytes]] = {}
    for key, value in asyncio.run(_records(f"{prefix}.keys", partitions)):
        if key is not None and key != ROLL and value is not None:
            keys.setdefault(key.decode(), []).append(value)
    found = []
    for topic in ("commands", "events"):
        for _, value in asyncio.run(_records(f"{prefix}.{topic}", partitions)):
            if value is None:
                continue
            if NAME.encode() in value:
                found.append(f"{topic}: in clear")
            for sealed in _sealed(orjson.loads(value)):
                if any(NAME.encode() in text for text in _opened(sealed, keys)):
                    found.append(f"{topic}: opened with {sealed['key']}")
    return found


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    settings = {"HUB_KAFKA_KEYS_SEGMENT_MS": "2000"}
    with running_cluster(tmp_path, unique_prefix("erase"), settings=settings) as cluster:
        yield cluster


def test_after_an_erasure_the_broker_alone_cannot_name_the_subject(cluster: KafkaCluster) -> None:
    admin = cluster.a.login("admin")
    try:
        users = set_up_partnership(admin, "ker")
    finally:
        admin.close()
    coordinator = {"Authorization": f"Bearer {cluster.a.token(users['coordinator'])}"}
    url = f"{cluster.a.url}/v1/partnerships/ker"
    made = httpx.post(
        f"{url}/subjects", json={"name": NAME}, headers={**coordinator, "Idempotency-Key": "s"}, timeout=30
    )
    assert made.status_code == 201, made.text
    subject = made.json()["id"]
    # Before the erasure the broker's own data opens the name: the check can see it.
    assert _broker_reveals(cluster), "the name could not be found even before the erasure"

    erased = httpx.post(
        f"{url}/subjects/{subject}/erase",
        json={"reason": "subject access request: erase"},
        headers={**coordinator, "Idempotency-Key": "e"},
        timeout=30,
    )
    assert erased.status_code in (200, 201), erased.text
    started = time.monotonic()
    deadline = started + 120
    while (left := _broker_reveals(cluster)) and time.monotonic() < deadline:
        time.sleep(2)
    assert not left, f"still on the broker after {time.monotonic() - started:.0f}s: {left}"
    print(f"erased key compacted off the broker in {time.monotonic() - started:.1f}s")
