"""A closed live socket leaves nothing behind, even when the cyclic collector does not run
(found by bench/soak.py: `hub serve` raises the GC thresholds so far that a full
collection almost never comes, and each closed socket's protocol, scope and buffers
stayed in memory, held by a cycle through the scope's direct writer)."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.sync.client import connect

from api.app import create_app
from api.transport import HubHttpProtocol, HubWebSocketsProtocol
from tests.support import PASSWORD, create, free_port, make_admin, set_up_partnership

SOCKETS = 20


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[str]:
    """The API in this process, on a real socket, with the live socket's protocol as
    `hub serve` runs it (so its objects can be counted here)."""
    make_admin(tmp_path)
    config = uvicorn.Config(
        create_app(tmp_path),
        host="127.0.0.1",
        port=free_port(),
        log_level="critical",
        http=HubHttpProtocol,
        ws=HubWebSocketsProtocol,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


def protocols() -> int:
    """Live sockets' protocols in memory, and the HTTP protocols that handed connections to
    them, reachable or not (gc.get_objects lists both)."""
    return sum(type(o) in (HubWebSocketsProtocol, HubHttpProtocol) for o in gc.get_objects())


def sign_in(base: str, username: str) -> str:
    answer = httpx.post(f"{base}/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_closed_live_sockets_are_freed_without_the_cyclic_collector(hub: str) -> None:
    address = hub
    base = f"http://{address}"
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {sign_in(base, 'admin')}"})
    users = set_up_partnership(admin, "north")
    token = sign_in(base, users["door_staff"])
    gc.collect()
    gc.disable()  # as good as `hub serve`'s thresholds under a steady load
    try:
        before = protocols()
        for _ in range(SOCKETS):
            with connect(f"ws://{address}/v1/live", open_timeout=10) as socket:
                socket.send(json.dumps({"op": "hello", "token": token, "since": {}}))
                assert json.loads(socket.recv(timeout=10))["op"] == "welcome"
        deadline = time.monotonic() + 30
        while protocols() > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert protocols() == before, f"{protocols() - before} of {SOCKETS} closed sockets still in memory"
    finally:
        gc.enable()
        admin.close()


ALERTS = 30


def envelopes() -> int:
    """Log envelopes in memory (the views and frames keep none: only a read holds them)."""
    gc.collect()
    return sum(type(o) is dict and "stream_version" in o and "hash" in o for o in gc.get_objects())


def test_an_open_socket_lets_go_of_the_backlog_it_was_sent(hub: str) -> None:
    """A device that resumed from an old position is sent its backlog from the log; once
    it is live, the events read for it are not kept for as long as its socket is open
    (found by bench/soak.py: every resumed device held its last backlog read)."""
    address = hub
    base = f"http://{address}"
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {sign_in(base, 'admin')}"})
    users = set_up_partnership(admin, "north")
    token = sign_in(base, users["door_staff"])
    poster = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {sign_in(base, users['police'])}"}
    )
    try:
        head = 0
        for k in range(ALERTS):
            body = {"channel": "main", "priority": "routine", "text": f"alert {k}"}
            head = max(create(poster, "/v1/partnerships/north/alerts", body)["positions"])
        before = envelopes()
        with connect(f"ws://{address}/v1/live", open_timeout=10) as socket:
            socket.send(json.dumps({"op": "hello", "token": token, "since": {"north": 0}}))
            assert json.loads(socket.recv(timeout=10))["op"] == "welcome"
            while json.loads(socket.recv(timeout=10))["position"] < head:
                pass
            socket.send(json.dumps({"op": "ping"}))  # answered once the backlog is sent
            assert json.loads(socket.recv(timeout=10))["op"] == "pong"
            held = envelopes() - before
        assert held == 0, f"the open socket still holds {held} events of its backlog"
    finally:
        poster.close()
        admin.close()
