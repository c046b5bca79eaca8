"""Web Push in Kafka mode: with two API nodes and a worker, every node hands out the same
VAPID key, a browser may subscribe through either node, and each urgent alert is pushed
once to each subscription (by the worker that writes the partnership), not once per node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.kafka.support import KafkaCluster, running_cluster, unique_prefix, wait_until
from tests.push_endpoint import Browser, PushService, vapid_claims
from tests.support import PASSWORD, create, set_up_partnership

pytestmark = pytest.mark.kafka

P = "kpush"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaCluster, PushService]]:
    root: Path = tmp_path_factory.mktemp("kafka-push")
    service = PushService()
    settings = {"HUB_PUSH_INSECURE_ENDPOINTS": service.host_port}
    try:
        with running_cluster(root, unique_prefix("push"), settings=settings) as running:
            set_up_partnership(running.a.login("admin"), P)
            yield running, service
    finally:
        service.stop()


def _login_on_b(cluster: KafkaCluster, name: str) -> httpx.Client:
    """`name` signed in on node b, once b has read the enrolment from the event topic."""

    def token() -> str | None:
        answer = httpx.post(cluster.b.url + "/v1/auth/token", data={"username": name, "password": PASSWORD})
        return str(answer.json()["access_token"]) if answer.status_code == 200 else None

    signed = wait_until(token, 30, f"{name} signing in on node b")
    return httpx.Client(base_url=cluster.b.url, headers={"Authorization": f"Bearer {signed}"}, timeout=30)


def test_each_urgent_alert_is_pushed_once_whichever_node_took_it(
    cluster: tuple[KafkaCluster, PushService],
) -> None:
    nodes, service = cluster
    keys = {httpx.get(node.url + "/v1/push/key").json()["public_key"] for node in nodes.nodes}
    assert len(keys) == 1
    (key,) = keys
    door = nodes.a.login(f"{P}.door_staff")
    cctv = _login_on_b(nodes, f"{P}.cctv_operator")
    browsers = {}
    for name, client in ((f"{P}.door_staff", door), (f"{P}.cctv_operator", cctv)):
        browsers[name] = Browser(f"{service.origin}/sub/{name}")
        answer = client.post("/v1/push/subscriptions", json=browsers[name].subscription())
        assert answer.status_code == 201, answer.text
    positions = []
    for client in (cctv, door, cctv):  # through node b, a, b
        body = {"channel": "main", "priority": "urgent", "text": "push once"}
        positions.append(create(client, f"/v1/partnerships/{P}/alerts", body)["positions"][-1])
    routine = create(door, f"/v1/partnerships/{P}/alerts", {"text": "routine: not pushed"})["positions"][-1]
    last = create(cctv, f"/v1/partnerships/{P}/alerts", {"priority": "emergency", "text": "last"})
    positions.append(last["positions"][-1])
    for name, browser in browsers.items():
        wanted = len(positions)
        service.wait_for(wanted, f"/sub/{name}")
        got = [browser.decrypt(r.body) for r in service.to(f"/sub/{name}")]
        assert sorted(m["position"] for m in got) == positions, (name, got)
        assert routine not in [m["position"] for m in got]
        for push in service.to(f"/sub/{name}"):
            assert push.headers["urgency"] == "high"
            vapid_claims(push.headers["authorization"], key, service.origin)
    # a few more pushes after the last would show a duplicate sent late: one more round
    create(door, f"/v1/partnerships/{P}/alerts", {"priority": "urgent", "text": "sentinel"})
    for name in browsers:
        service.wait_for(len(positions) + 1, f"/sub/{name}")
        assert len(service.to(f"/sub/{name}")) == len(positions) + 1
