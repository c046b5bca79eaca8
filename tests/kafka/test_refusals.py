"""One table of refusals for every mode: the same bad commands get the same 4xx and the
same reason embedded, on either process of `hub serve --processes 2` (the follower's go
over the relay to the leader), and through Kafka (API node → worker → the event topic).

A malformed command that reaches the command path from another process is a 422 too:
sent raw over the relay, and produced raw onto `hub.commands`, where the worker's
refusal comes back on the event topic.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.log.kafka import partition_of
from hub.log.relay import SOCKET_NAME, framed, received
from tests.integration.test_processes import on_each_process
from tests.kafka.support import require_broker, running_cluster, unique_prefix
from tests.support import Server, make_admin, set_up_partnership

P = "refusals"

# (what, role, method, path, body): each answered with a refusal, and nothing written.
BAD: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
    ("alert on a net that is not open", "cctv_operator", "POST", "/alerts", {"channel": "nope", "text": "x"}),
    ("alert naming no subject", "cctv_operator", "POST", "/alerts", {"text": "x", "subject_id": "ghost"}),
    (
        "alert at no venue",
        "cctv_operator",
        "POST",
        "/alerts",
        {"text": "x", "venue": "nowhere"},
    ),
    (
        "incident at no venue",
        "police",
        "POST",
        "/incidents",
        {"category": "theft", "venue": "nowhere", "description": "x"},
    ),
    (
        "door staff report at another venue",
        "door_staff",
        "POST",
        "/incidents",
        {"category": "theft", "venue": f"{P}-club", "description": "x"},
    ),
    (
        "incident naming no subject",
        "police",
        "POST",
        "/incidents",
        {"category": "theft", "venue": f"{P}-pub", "description": "x", "subject_ids": ["ghost"]},
    ),
    (
        "warning for no subject",
        "coordinator",
        "POST",
        "/exclusions",
        {"subject_id": "ghost", "kind": "warning", "reason": "x"},
    ),
    (
        "a venue added twice",
        "coordinator",
        "POST",
        "/venues",
        {"id": f"{P}-pub", "name": "x", "kind": "other"},
    ),
    ("a net opened twice", "coordinator", "POST", "/channels", {"id": "main", "name": "x"}),
    ("a member revoked who is not one", "coordinator", "POST", "/members/nobody/revoke", None),
    ("a venue changed that is not there", "coordinator", "PATCH", "/venues/nowhere", {"name": "x"}),
]

ROLES_USED = {role for _, role, _, _, _ in BAD}


def refusals(clients: Callable[[str], httpx.Client]) -> list[tuple[str, int, Any]]:
    """Each bad request sent by a client of its role: (what, status, reason)."""
    found = []
    for what, role, method, path, body in BAD:
        answer = clients(role).request(method, f"/v1/partnerships/{P}{path}", json=body)
        found.append((what, answer.status_code, answer.json().get("detail")))
    return found


def signed_in(server: Server, users: dict[str, str]) -> Callable[[str], httpx.Client]:
    clients = {role: server.login(name) for role, name in users.items()}
    return clients.__getitem__


def heads(server: Server, token: str) -> int:
    answer = httpx.get(f"{server.url}/v1/partnerships/{P}", headers={"Authorization": f"Bearer {token}"})
    return int(answer.json()["position"])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("refusals-embedded")
    make_admin(data)
    server = Server(data).start()
    try:
        users = set_up_partnership(server.login("admin"), P)
        yield server, users
    finally:
        server.stop()


def test_every_mode_gives_the_same_refusals(embedded: tuple[Server, dict[str, str]], tmp_path: Path) -> None:
    server, users = embedded
    expected = refusals(signed_in(server, users))
    assert all(400 <= status < 500 for _, status, _ in expected), expected
    statuses = {what: status for what, status, _ in expected}
    assert statuses["door staff report at another venue"] == 403
    assert statuses["alert naming no subject"] == statuses["incident at no venue"] == 422
    assert statuses["alert on a net that is not open"] == statuses["a venue added twice"] == 409
    assert statuses["a member revoked who is not one"] == statuses["a venue changed that is not there"] == 404

    data = tmp_path / "processes"
    data.mkdir()
    make_admin(data)
    two = Server(data, env={"HUB_PROCESSES": "2"}).start()
    try:
        users2 = set_up_partnership(two.login("admin"), P)
        before = heads(two, two.token("admin"))
        by_process = {role: on_each_process(two, name) for role, name in users2.items() if role in ROLES_USED}
        for process in ("leader", "follower"):
            assert refusals(lambda role, on=process: by_process[role][on]) == expected, process
        assert heads(two, two.token("admin")) == before, "a refusal writes nothing"
        _malformed_over_the_relay(data)
    finally:
        two.stop()

    require_broker()
    with running_cluster(tmp_path / "kafka", unique_prefix("refusals"), nodes=1) as cluster:
        admin = cluster.a.login("admin")
        users3 = set_up_partnership(admin, P)
        before = heads(cluster.a, cluster.a.token("admin"))
        assert refusals(signed_in(cluster.a, users3)) == expected
        assert heads(cluster.a, cluster.a.token("admin")) == before
        _malformed_through_kafka(cluster.bootstrap, cluster.prefix, cluster.partitions)


MALFORMED = {"id": "bad-1", "action": "add_venue", "args": {"venue_id": "v", "kind": "castle"}}


def _malformed_over_the_relay(data: Path) -> None:
    async def send() -> dict[str, Any] | None:
        reader, writer = await asyncio.open_unix_connection(str(data / SOCKET_NAME))
        writer.write(framed({"id": 1, "partnership": P, "command": MALFORMED, "actor": _admin()}))
        while (message := await received(reader)) is not None:
            if message.get("answer") == 1:
                writer.close()
                return message
        return None

    reply = asyncio.run(asyncio.wait_for(send(), 30))
    assert reply is not None and reply["error"]["status"] == 422, reply
    wrong = {tuple(e["loc"]) for e in reply["error"]["detail"]}
    assert wrong == {("add_venue", "name"), ("add_venue", "kind")}


def _malformed_through_kafka(bootstrap: str, prefix: str, partitions: int) -> None:
    command = {**MALFORMED, "id": f"bad-{uuid.uuid4().hex}"}

    async def send() -> dict[str, Any]:
        partition = partition_of(P, partitions)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            tp = TopicPartition(f"{prefix}.events", partition)
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            await consumer.position(tp)
            record = {"partnership": P, "command": command, "actor": _admin(), "deadline": None}
            await producer.send_and_wait(
                f"{prefix}.commands", orjson.dumps(record), key=P.encode(), partition=partition
            )
            return await _first(consumer, lambda r: r.get("command_id") == command["id"])
        finally:
            await producer.stop()
            await consumer.stop()

    refusal = asyncio.run(asyncio.wait_for(send(), 60))
    assert refusal["error"]["status"] == 422, refusal
    assert "events" not in refusal


async def _first(consumer: AIOKafkaConsumer, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        batch = await consumer.getmany(timeout_ms=500)
        for messages in batch.values():
            for message in messages:
                record: dict[str, Any] = orjson.loads(message.value)
                if wanted(record):
                    return record


def _admin() -> dict[str, str]:
    return {"user": "admin", "role": "admin"}
