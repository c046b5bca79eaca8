"""`hub serve --processes 2`: two real processes share the port (hub/log/relay.py).

The leader writes the log; the follower sends its commands to the leader over the relay
and applies every commit it is sent. Whichever process a request or a live socket
lands on, the answers, the reads after a write, the frames and the refusals are the
same as with one process; and when the leader goes, the follower stops too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    PASSWORD,
    Live,
    Server,
    create,
    event_frames,
    head_positions,
    make_admin,
    set_up_partnership,
)

P = "two"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("processes")
    make_admin(data)
    server = Server(data, env={"HUB_PROCESSES": "2"}).start()
    try:
        admin = server.login("admin")
        users = set_up_partnership(admin, P)
        admin.close()
        yield server, users
    finally:
        server.stop()


def on_each_process(server: Server, username: str) -> dict[str, httpx.Client]:
    """A signed-in client whose connection landed on the leader, and one on the follower."""
    token = server.token(username)
    found: dict[str, httpx.Client] = {}
    for _ in range(200):
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        role = client.get("/healthz").json()["process"]
        if role in found:
            client.close()
        else:
            found[role] = client
        if len(found) == 2:
            return found
    raise AssertionError(f"200 connections all reached {list(found)}")


def process_of(client: httpx.Client) -> str:
    return str(client.get("/healthz").json()["process"])


def test_both_processes_serve_the_port(hub: tuple[Server, dict[str, str]]) -> None:
    server, users = hub
    clients = on_each_process(server, users["coordinator"])
    assert set(clients) == {"leader", "follower"}
    assert len(followers_of(server)) == 1  # `hub serve` is the leader and started one follower


def test_a_write_on_the_follower_is_decided_by_the_leader_and_reads_back_at_once_on_both(
    hub: tuple[Server, dict[str, str]],
) -> None:
    server, users = hub
    clients = on_each_process(server, users["coordinator"])
    follower, leader = clients["follower"], clients["leader"]
    subject = create(follower, f"/v1/partnerships/{P}/subjects", {"name": "Sam Sealed", "aliases": ["S"]})
    assert process_of(follower) == "follower"
    # sealed on the follower with a key it made: both processes open it
    for client in (follower, leader):
        answer = client.get(f"/v1/partnerships/{P}/subjects/{subject['id']}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == "Sam Sealed"
    alert = create(follower, f"/v1/partnerships/{P}/alerts", {"text": "written through the follower"})
    positions = alert["positions"]
    for client in (follower, leader):
        listed = client.get(f"/v1/partnerships/{P}/alerts").json()
        assert alert["id"] in {a["alert_id"] for a in listed}
        head = client.get(f"/v1/partnerships/{P}/audit/verify").json()
        assert head["ok"] and head["checked"] >= positions[-1]


def test_a_write_answered_by_either_process_reads_back_at_once_on_the_other(
    hub: tuple[Server, dict[str, str]],
) -> None:
    server, users = hub
    clients = on_each_process(server, users["coordinator"])
    for i in range(20):
        writer, reader = (clients["leader"], clients["follower"])[:: 1 if i % 2 else -1]
        alert = create(writer, f"/v1/partnerships/{P}/alerts", {"text": f"read back {i}"})
        listed = reader.get(f"/v1/partnerships/{P}/alerts").json()
        assert alert["id"] in {a["alert_id"] for a in listed}, (i, process_of(writer))
        member = f"{P}.pcso{i}"
        create(
            writer,
            f"/v1/partnerships/{P}/members",
            {"username": member, "password": PASSWORD, "role": "police"},
        )
        signed_in = reader.post("/v1/auth/token", data={"username": member, "password": PASSWORD})
        assert signed_in.status_code == 200, (i, process_of(reader), signed_in.text)


def test_an_erasure_decided_by_the_leader_shreds_on_the_follower_too(
    hub: tuple[Server, dict[str, str]],
) -> None:
    server, users = hub
    clients = on_each_process(server, users["coordinator"])
    follower, leader = clients["follower"], clients["leader"]
    subject = create(leader, f"/v1/partnerships/{P}/subjects", {"name": "Erin Erased"})
    path = f"/v1/partnerships/{P}/subjects/{subject['id']}"
    assert follower.get(path).json()["name"] == "Erin Erased"  # the follower has the key
    create(leader, path + "/erase", {"reason": "erasure request"})
    deadline = time.monotonic() + 10
    while follower.get(path).json()["name"] is not None:
        assert time.monotonic() < deadline, "the follower still opens an erased subject"
        time.sleep(0.05)
    refused = follower.post(path + "/identify", json={"name": "Erin Again"})
    assert refused.status_code == 409, refused.text


def test_refusals_and_retries_through_the_follower_answer_as_the_leader_decided(
    hub: tuple[Server, dict[str, str]],
) -> None:
    server, users = hub
    follower = on_each_process(server, users["cctv_operator"])["follower"]
    missing = follower.post(f"/v1/partnerships/{P}/alerts/no-such-alert/ack")
    assert missing.status_code == 404 and "no-such-alert" in missing.text
    key = {"Idempotency-Key": f"twice-{os.getpid()}-{time.time_ns()}"}
    first = follower.post(f"/v1/partnerships/{P}/alerts", json={"text": "once"}, headers=key)
    again = follower.post(f"/v1/partnerships/{P}/alerts", json={"text": "once"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    coordinator = on_each_process(server, users["coordinator"])["follower"]
    taken = coordinator.post(
        f"/v1/partnerships/{P}/venues", json={"id": f"{P}-pub", "name": "x", "kind": "retail"}
    )
    assert taken.status_code == 409, taken.text


def test_live_sockets_on_both_processes_get_each_frame_once(hub: tuple[Server, dict[str, str]]) -> None:
    server, users = hub
    token = server.token(users["police"])
    since = head_positions(server, token)
    sockets = [Live(server, token, since) for _ in range(24)]
    try:
        counts = {}
        for _ in range(100):  # /healthz lands on either process: ask until both answered
            health = httpx.get(server.url + "/healthz").json()
            counts[health["process"]] = health["live_connections"]
            if len(counts) == 2:
                break
        assert counts.get("leader", 0) > 0 and counts.get("follower", 0) > 0, counts
        assert all(s.welcome["positions"] == since for s in sockets)
        cctv = on_each_process(server, users["cctv_operator"])
        sent = [
            create(
                cctv[role], f"/v1/partnerships/{P}/alerts", {"text": f"from the {role}", "priority": "urgent"}
            )
            for role in ("leader", "follower")
        ]
        expected = [a["positions"][0] for a in sent]
        for socket in sockets:
            frames = event_frames(socket.frames_until(lambda f: f.get("position") == expected[-1]))
            frames += event_frames(socket.drain(0.3))
            assert [f["position"] for f in frames] == expected
    finally:
        for socket in sockets:
            socket.close()


def test_the_follower_stops_when_the_leader_is_killed(tmp_path: Path) -> None:
    make_admin(tmp_path)
    server = Server(tmp_path, env={"HUB_PROCESSES": "2"}).start()
    try:
        for _ in range(200):
            health = httpx.get(server.url + "/healthz").json()
            if health["process"] == "follower":
                break
        assert health["process"] == "follower"
        [follower] = followers_of(server)
        server.kill()
        deadline = time.monotonic() + 15
        while _alive(follower):
            assert time.monotonic() < deadline, "the follower outlived its leader"
            time.sleep(0.1)
    finally:
        server.stop()


def followers_of(server: Server) -> list[int]:
    """The OS pids of the follower processes the server's `hub serve` started (its
    children running `serve --follow`): /healthz names no pid."""
    assert server.process is not None
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if parent == server.process.pid and b"--follow" in command:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
