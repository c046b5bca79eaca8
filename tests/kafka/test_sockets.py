"""D1 and D2 through Kafka: a member revoked on one API node loses the sockets open on
another (1008, nothing after, no ack written), and REST there says 401; a socket whose
token expires is closed on any node."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.kafka.support import KafkaCluster, audit_events, running_cluster, unique_prefix, wait_until
from tests.security.test_sockets import closed_with
from tests.support import PASSWORD, Live, create, set_up_partnership

pytestmark = pytest.mark.kafka

P = "ksockets"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    root: Path = tmp_path_factory.mktemp("kafka-sockets")
    with running_cluster(root, unique_prefix("sockets")) as running:
        set_up_partnership(running.a.login("admin"), P)
        yield running


def _signs_in(node: KafkaCluster, name: str) -> str:
    """`name`'s token from node b, once b has read the enrolment from the event topic."""

    def token() -> str | None:
        answer = httpx.post(node.b.url + "/v1/auth/token", data={"username": name, "password": PASSWORD})
        return str(answer.json()["access_token"]) if answer.status_code == 200 else None

    return str(wait_until(token, 30, f"{name} signing in on node b"))


def test_d1_a_member_revoked_on_one_node_loses_their_sockets_on_another(cluster: KafkaCluster) -> None:
    name = f"{P}.leaving"
    coordinator = cluster.a.login(f"{P}.coordinator")
    body = {"username": name, "password": PASSWORD, "role": "door_staff", "venue": f"{P}-pub"}
    create(coordinator, f"/v1/partnerships/{P}/members", body)
    token = _signs_in(cluster, name)
    sockets = [Live(cluster.b, token, {P: 0}) for _ in range(3)]
    for live in sockets:
        assert live.welcome["op"] == "welcome"
        live.drain(0.3)
    alert = create(coordinator, f"/v1/partnerships/{P}/alerts", {"text": "before the revocation"})["id"]
    assert coordinator.post(f"/v1/partnerships/{P}/members/{name}/revoke").status_code == 201
    create(
        coordinator, f"/v1/partnerships/{P}/alerts", {"text": "after the revocation", "priority": "urgent"}
    )
    for live in sockets:
        with contextlib.suppress(ConnectionClosed):  # closed already, or the ack is sent
            live.connection.send(json.dumps({"op": "ack", "alert_id": alert}))
        frames, code = closed_with(live, timeout=15)
        assert code == 1008, frames
        assert "after the revocation" not in [f["data"].get("text") for f in frames if f.get("op") == "event"]
    refused = httpx.get(f"{cluster.b.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    auditor = cluster.a.token(f"{P}.auditor")
    acks = [
        e for e in audit_events(cluster.a, auditor, P, type="alert.acknowledged") if e["data"]["user"] == name
    ]
    assert acks == [], "an ack from a revoked member was written"


def test_d2_an_expired_token_closes_the_socket_on_any_node(cluster: KafkaCluster) -> None:
    now = int(time.time())
    claims = {
        "sub": f"{P}.door_staff",
        "role": "door_staff",
        "partnerships": [P],
        "venue": f"{P}-pub",
        "iat": now,
        "exp": now + 2,
    }
    live = Live(cluster.b, jwt.encode(claims, cluster.env["HUB_SECRET"], algorithm="HS256"), {P: 0})
    assert live.welcome["op"] == "welcome"
    _, code = closed_with(live, timeout=15)
    assert code == 1008
