"""Web Push with `hub serve --processes 2`: both processes hand out the one VAPID key of
the data folder, a browser may subscribe through either, and each urgent alert is
pushed once to each subscription (by the leader, where the processors run), whichever
process took the alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_processes import on_each_process
from tests.push_endpoint import Browser, PushService
from tests.support import Server, create, make_admin, set_up_partnership

P = "twopush"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str], PushService]]:
    data = tmp_path_factory.mktemp("push-processes")
    make_admin(data)
    service = PushService()
    env = {"HUB_PROCESSES": "2", "HUB_PUSH_INSECURE_ENDPOINTS": service.host_port}
    server = Server(data, env=env).start()
    try:
        users = set_up_partnership(server.login("admin"), P)
        yield server, users, service
    finally:
        server.stop()
        service.stop()


def test_each_alert_is_pushed_once_whichever_process_took_it(
    hub: tuple[Server, dict[str, str], PushService],
) -> None:
    server, users, service = hub
    door = on_each_process(server, users["door_staff"])
    cctv = on_each_process(server, users["cctv_operator"])
    keys = {client.get("/v1/push/key").json()["public_key"] for client in (*door.values(), *cctv.values())}
    assert len(keys) == 1
    browsers = {}
    for name, client in ((users["door_staff"], door["follower"]), (users["cctv_operator"], cctv["leader"])):
        browsers[name] = Browser(f"{service.origin}/sub/{name}")
        answer = client.post("/v1/push/subscriptions", json=browsers[name].subscription())
        assert answer.status_code == 201, answer.text
    positions = []
    for client in (cctv["follower"], cctv["leader"], door["follower"], door["leader"]):
        body = {"channel": "main", "priority": "urgent", "text": "push once"}
        positions.append(create(client, f"/v1/partnerships/{P}/alerts", body)["positions"][-1])
    for name, browser in browsers.items():
        service.wait_for(len(positions), f"/sub/{name}")
        got = sorted(browser.decrypt(r.body)["position"] for r in service.to(f"/sub/{name}"))
        assert got == positions, name
    sentinel = create(
        cctv["follower"], f"/v1/partnerships/{P}/alerts", {"priority": "urgent", "text": "last"}
    )
    for name in browsers:  # a duplicate would have arrived before the sentinel's push
        service.wait_for(len(positions) + 1, f"/sub/{name}")
        assert len(service.to(f"/sub/{name}")) == len(positions) + 1, sentinel
