"""A live socket holds no more than its token does (the hardening issue's D1 and D2):

- D1: a socket opened before its member is revoked is closed (1008) as the revocation is
  published, on every process of `hub serve --processes 2`; it receives nothing after,
  and an ack it sends is not written.
- D2: a socket is closed when its token expires, unless the client sends a fresh token
  first (`{"op": "token", "token": ...}`); a token of someone else is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import PASSWORD, Live, Server, create, make_admin, set_up_partnership

P = "sockets"


@pytest.fixture(scope="module", params=["one process", "two processes"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("sockets")
    make_admin(data)
    env = {"HUB_PROCESSES": "2"} if request.param == "two processes" else {}
    server = Server(data, env=env).start()
    try:
        set_up_partnership(server.login("admin"), P)
        yield server
    finally:
        server.stop()


def closed_with(live: Live, timeout: float = 5) -> tuple[list[dict[str, Any]], int | None]:
    """The frames a socket gets until the hub closes it, and the close code."""
    frames = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            frames.append(live.next(timeout=max(0.05, deadline - time.monotonic())))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pass
    raise AssertionError(f"the socket stayed open: {frames}")


def enrol(server: Server, name: str) -> None:
    coordinator = server.login(f"{P}.coordinator")
    body = {"username": name, "password": PASSWORD, "role": "door_staff", "venue": f"{P}-pub"}
    create(coordinator, f"/v1/partnerships/{P}/members", body)


def test_d1_a_revoked_members_open_sockets_are_closed_on_every_process(hub: Server) -> None:
    name = f"{P}.leaving.{time.monotonic_ns()}"
    enrol(hub, name)
    token = hub.token(name)
    sockets = [Live(hub, token, {P: 0}) for _ in range(6)]  # the kernel spreads them over the processes
    for live in sockets:
        assert live.welcome["op"] == "welcome"
        live.drain(0.3)
    coordinator = hub.login(f"{P}.coordinator")
    alert = create(coordinator, f"/v1/partnerships/{P}/alerts", {"text": "before the revocation"})["id"]
    assert coordinator.post(f"/v1/partnerships/{P}/members/{name}/revoke").status_code == 201
    coordinator.post(
        f"/v1/partnerships/{P}/alerts", json={"text": "after the revocation", "priority": "urgent"}
    )
    for live in sockets:
        frames, code = closed_with(live)
        assert code == 1008
        assert any(f.get("op") == "error" and "revoked" in f.get("detail", "") for f in frames), frames
        texts = [f["data"].get("text") for f in frames if f.get("op") == "event"]
        assert "after the revocation" not in texts
    acks = [
        e
        for e in _events(hub, coordinator)
        if e["type"] == "alert.acknowledged" and e["data"]["alert_id"] == alert and e["data"]["user"] == name
    ]
    assert acks == []
    refused = httpx.get(f"{hub.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


def test_d1_an_ack_from_a_revoked_member_is_not_written(hub: Server) -> None:
    name = f"{P}.acker.{time.monotonic_ns()}"
    enrol(hub, name)
    live = Live(hub, hub.token(name), {P: 0})
    live.drain(0.3)
    coordinator = hub.login(f"{P}.coordinator")
    alert = create(coordinator, f"/v1/partnerships/{P}/alerts", {"text": "ack me"})["id"]
    assert coordinator.post(f"/v1/partnerships/{P}/members/{name}/revoke").status_code == 201
    try:
        live.connection.send(json.dumps({"op": "ack", "alert_id": alert}))
        closed_with(live)
    except ConnectionClosed:
        pass  # closed before the ack could be sent
    users = {e["data"]["user"] for e in _events(hub, coordinator) if e["type"] == "alert.acknowledged"}
    assert name not in users


def _token(server: Server, name: str, seconds: int, role: str = "door_staff") -> str:
    secret = (server.data / "secret.key").read_text().strip()
    now = int(time.time())
    claims = {
        "sub": name,
        "role": role,
        "partnerships": [P],
        "venue": f"{P}-pub",
        "iat": now,
        "exp": now + seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def test_d2_a_socket_is_closed_when_its_token_expires(hub: Server) -> None:
    live = Live(hub, _token(hub, f"{P}.door_staff", 2), {P: 0})
    assert live.welcome["op"] == "welcome"
    frames, code = closed_with(live, timeout=10)
    assert code == 1008
    assert any("expired" in f.get("detail", "") for f in frames if f.get("op") == "error"), frames


def test_d2_a_fresh_token_keeps_the_socket_open(hub: Server) -> None:
    name = f"{P}.door_staff"
    live = Live(hub, _token(hub, name, 2), {P: 0})
    try:
        live.drain(0.2)
        live.connection.send(json.dumps({"op": "token", "token": _token(hub, f"{P}.police", 600, "police")}))
        reply = live.frames_until(lambda f: f.get("op") in ("token", "error"))[-1]
        assert reply["op"] == "error", "someone else's token is refused"
        live.connection.send(json.dumps({"op": "token", "token": _token(hub, name, 600)}))
        reply = live.frames_until(lambda f: f.get("op") in ("token", "error"))[-1]
        assert reply["op"] == "token" and reply["expires_in"] > 500
        time.sleep(3)  # past the first token's expiry
        coordinator = hub.login(f"{P}.coordinator")
        create(coordinator, f"/v1/partnerships/{P}/alerts", {"text": "still listening"})
        heard = live.frames_until(lambda f: f.get("data", {}).get("text") == "still listening", timeout=10)
        assert heard[-1]["op"] == "event"
    finally:
        live.close()


def _events(server: Server, coordinator: httpx.Client) -> list[dict[str, Any]]:
    answer = coordinator.get(f"/v1/partnerships/{P}/audit/events")
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line]
