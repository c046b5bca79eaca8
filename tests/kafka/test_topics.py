"""The hub's topics on the real broker: created with the replication settings asked for,
and a node refuses to start on topics set up otherwise or on more replicas than brokers
(DESIGN: Kafka topics; HUB_KAFKA_REPLICATION, HUB_KAFKA_MIN_INSYNC)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.log.kafka import Topics, ensure_topics
from tests.kafka.support import require_broker, unique_prefix

pytestmark = pytest.mark.kafka


async def _described(topics: Topics) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=require_broker())
    await admin.start()
    try:
        names = [topics.commands, topics.events, topics.keys]
        described = await admin.describe_topics(names)
        configs = {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        for response in await admin.describe_configs(resources):
            for _, _, _, name, entries in response.resources:
                configs[name] = {entry[0]: entry[1] for entry in entries}
        return described, configs
    finally:
        await admin.close()


def test_topics_are_made_with_the_replication_and_compaction_settings() -> None:
    topics = Topics(unique_prefix("topics"), keys_segment_ms=5000)
    asyncio.run(ensure_topics(require_broker(), 3, topics))
    described, configs = asyncio.run(_described(topics))
    # one broker here: the factor defaults to the broker count, min.insync to 1
    assert {len(p["replicas"]) for t in described for p in t["partitions"]} == {1}
    assert {c["min.insync.replicas"] for c in configs.values()} == {"1"}
    assert configs[topics.keys]["cleanup.policy"] == "compact"
    assert configs[topics.keys]["segment.ms"] == "5000"
    assert configs[topics.keys]["max.compaction.lag.ms"] == "5000"
    assert configs[topics.events]["retention.ms"] == "-1"
    # started again with the same settings: nothing to change, no complaint
    asyncio.run(ensure_topics(require_broker(), 3, topics))


def test_a_node_refuses_topics_set_up_otherwise() -> None:
    prefix = unique_prefix("refuse")
    asyncio.run(ensure_topics(require_broker(), 3, Topics(prefix)))
    with pytest.raises(RuntimeError, match=r"segment\.ms=60000, the hub needs 9000"):
        asyncio.run(ensure_topics(require_broker(), 3, Topics(prefix, keys_segment_ms=9000)))
    with pytest.raises(RuntimeError, match="3 partitions, the hub expects 4"):
        asyncio.run(ensure_topics(require_broker(), 4, Topics(prefix)))


def test_more_replicas_than_brokers_is_refused_before_anything_is_made() -> None:
    topics = Topics(unique_prefix("replicas"), replication=3)
    with pytest.raises(RuntimeError, match="HUB_KAFKA_REPLICATION=3, but the cluster has 1 broker"):
        asyncio.run(ensure_topics(require_broker(), 3, topics))
    with pytest.raises(RuntimeError, match="HUB_KAFKA_MIN_INSYNC is above the replication factor 1"):
        asyncio.run(ensure_topics(require_broker(), 3, Topics(topics.prefix, min_insync=2)))
