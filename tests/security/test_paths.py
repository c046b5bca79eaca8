"""The attacks of D10, D11 and D18 (tests/security/test_attacks.py) tried on the hub's other
paths, with the same bodies:

- `hub serve --processes 2`: a leader and a follower share the port and the log (through
  the relay, hub/log/relay.py), the key file and the photo folder; every read is made on
  several connections, which the kernel spreads over both processes.
- Kafka: one `hub worker` and two API nodes. The attack goes through node a; what was
  written is read back, erased and replayed through node b, then read on node a too; a
  retry goes to a, b, a (no sticky sessions); photos are the shared HUB_PHOTOS, the
  subject keys every process's keys.db, the log the broker's topics and every replica.

Each path is one module-scoped hub; the Kafka one is marked `kafka` and gets its broker as
every Kafka test does (tests/kafka/support.py `running_cluster`: skipped without one,
failed in CI).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kafka.support import KafkaCluster, running_cluster, unique_prefix, wait_until
from tests.kafka.test_erasure_on_broker import _records
from tests.security.test_attacks import (
    P,
    World,
    _keys,
    _png,
    d10_free_text_about_a_subject_is_erased_with_them,
    d11_a_retried_photo_upload_keeps_one_photo,
    d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key,
    d18_a_hidden_subject_answers_as_a_made_up_one_does,
    d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery,
)
from tests.support import Server, make_admin, set_up_partnership

PUB = f"{P}-pub"

# Fresh connections a read is made on under `hub serve --processes 2`: all of them land on
# one process with a chance of 1 in 2**(CONNECTIONS - 1).
CONNECTIONS = 6
# How long a Kafka node may take to hear of what another one wrote.
HEARS_WITHIN = 30.0
# Sightings retried while their first try is in flight: on Kafka 2 in 5 of them went
# wrong, so all of these coming out right by chance is below one in three thousand.
ROUNDS = 16


def _client(like: httpx.Client, node: Server) -> httpx.Client:
    """A new connection to `node`, signed in as `like` is."""
    headers = {"Authorization": str(like.headers["Authorization"])}
    return httpx.Client(base_url=node.url, headers=headers, timeout=30)


class TwoProcesses(World):
    """`hub serve --processes 2`: one data folder; each new connection lands on either process."""

    def __init__(self, server: Server, users: dict[str, str]) -> None:
        super().__init__(server, users)
        self.nodes = [server] * CONNECTIONS
        self._readers: dict[str, list[httpx.Client]] = {}

    def readers(self, role: str) -> list[httpx.Client]:
        if role not in self._readers:
            self._readers[role] = [self[role]] + [
                _client(self[role], self.server) for _ in range(CONNECTIONS - 1)
            ]
        return self._readers[role]

    def retriers(self, role: str) -> list[httpx.Client]:
        return [_client(self[role], self.server) for _ in range(3)]

    def at_once(self, role: str) -> list[httpx.Client]:
        """Two tries of one request sent together, on two connections."""
        return [_client(self[role], self.server) for _ in range(2)]


class OnKafka(World):
    """A worker and API nodes a and b: attacks through a, read-back through b, then a."""

    def __init__(self, cluster: KafkaCluster, users: dict[str, str]) -> None:
        super().__init__(cluster.a, users)
        self.cluster = cluster  # tests/kafka/conftest.py shows its logs when a test fails
        self.nodes = [cluster.b, cluster.a]
        self._on_b: dict[str, httpx.Client] = {}

    def on_b(self, role: str) -> httpx.Client:
        if role not in self._on_b:
            self._on_b[role] = _client(self[role], self.cluster.b)
        return self._on_b[role]

    def readers(self, role: str) -> list[httpx.Client]:
        return [self.on_b(role), self[role]]

    def retriers(self, role: str) -> list[httpx.Client]:
        return [self[role], self.on_b(role), self[role]]

    def at_once(self, role: str) -> list[httpx.Client]:
        return [self[role], self.on_b(role)]

    def caught_up(self) -> None:
        def same() -> bool:
            heads = {self.head(client) for client in self.readers("coordinator")}
            return len(heads) == 1

        wait_until(same, HEARS_WITHIN, "both API nodes at the same position")

    def eventually(self, check: Callable[[], Any], what: str) -> None:
        wait_until(check, HEARS_WITHIN, what)

    def photo_files(self) -> set[str]:
        return {path.name for path in self.cluster.photos.iterdir()}

    def _folders(self) -> list[Path]:
        return [w.data for w in self.cluster.workers] + [n.data for n in self.cluster.nodes]

    def key_ids(self) -> set[str]:
        return set().union(*(_keys(folder) for folder in self._folders()))

    def log_bytes(self) -> bytes:
        """Every record of the command and event topics, and every process's replica."""
        topics = (f"{self.cluster.prefix}.commands", f"{self.cluster.prefix}.events")
        records = [r for topic in topics for r in asyncio.run(_records(topic, self.cluster.partitions))]
        stored = b"".join((key or b"") + (value or b"") for key, value in records)
        replicas = [
            path.read_bytes()
            for folder in self._folders()
            for path in folder.iterdir()
            if path.name.startswith("replica.db")
        ]
        assert records and replicas, "the log was read"
        return stored + b"".join(replicas)


@pytest.fixture(scope="module", params=["two processes", pytest.param("kafka", marks=pytest.mark.kafka)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("paths")
    if request.param == "kafka":
        with running_cluster(root, unique_prefix("paths")) as cluster:
            on_kafka = OnKafka(cluster, set_up_partnership(cluster.a.login("admin"), P))
            on_kafka.caught_up()
            yield on_kafka
        return
    make_admin(root)
    server = Server(root, env={"HUB_PROCESSES": "2"}).start()
    try:
        yield TwoProcesses(server, set_up_partnership(server.login("admin"), P))
    finally:
        server.stop()


def test_d10_free_text_about_a_subject_is_erased_with_them(world: World) -> None:
    d10_free_text_about_a_subject_is_erased_with_them(world)


def test_d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key(world: World) -> None:
    d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key(world)


def test_d11_a_retried_photo_upload_keeps_one_photo(world: World) -> None:
    d11_a_retried_photo_upload_keeps_one_photo(world)


def test_d18_a_hidden_subject_answers_as_a_made_up_one_does(world: World) -> None:
    d18_a_hidden_subject_answers_as_a_made_up_one_does(world)


def test_d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery(world: World) -> None:
    d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery(world)


def test_d11_tries_of_one_sighting_in_flight_at_once_keep_one_subject_one_key(world: World) -> None:
    """Two tries of one ID-sought sighting with a still, under one Idempotency-Key, sent
    together (through both Kafka nodes): one answer, one key per subject, one still, and
    the note and the still open on every node."""
    assert isinstance(world, TwoProcesses | OnKafka)
    photos, keys = world.photo_files(), world.key_ids()
    clients = world.at_once("cctv_operator")
    notes, answered = [], []

    def post(client: httpx.Client, key: str, note: str) -> tuple[int, Any]:
        answer = client.post(
            f"/v1/partnerships/{P}/sightings",
            data={"venue": PUB, "camera": "cam 9", "note": note},
            files={"still": ("still.png", _png(), "image/png")},
            headers={"Idempotency-Key": key},
        )
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(len(clients)) as pool:
        for n in range(ROUNDS):
            key, note = f"in-flight-{n}-{os.urandom(4).hex()}", f"in flight {n} {os.urandom(4).hex()}"
            answers = list(pool.map(post, clients, [key] * len(clients), [note] * len(clients)))
            notes.append(note)
            answered.append(answers)
    wrong = [(note, answers) for note, answers in zip(notes, answered, strict=True) if answers[0][0] != 201]
    wrong += [
        (note, answers) for note, answers in zip(notes, answered, strict=True) if answers[0] != answers[1]
    ]
    assert not wrong, f"tries of one sighting answered apart, or refused: {wrong}"
    assert len(world.key_ids() - keys) == ROUNDS, "one key for each ID-sought subject"
    assert len(world.photo_files() - photos) == 2 * ROUNDS, "one still (two files) for each sighting"
    world.caught_up()
    for reader in world.readers("coordinator"):
        listed = {s["sighting_id"]: s for s in reader.get(f"/v1/partnerships/{P}/sightings").json()}
        for note, answers in zip(notes, answered, strict=True):
            sighting = answers[0][1]["id"]
            still = reader.get(f"/v1/partnerships/{P}/sightings/{sighting}/still").status_code
            assert (listed[sighting]["note"], still) == (note, 200), "the note and still open"
