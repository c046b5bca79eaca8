"""Kafka mode as deployed: one `hub worker` and two `hub serve` API nodes, real processes.

A client on node A posts, a live socket on node B hears it; the breach story runs
across both nodes (a subject's key and photo made on A are usable on B).
"""

from __future__ import annotations

import io
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.kafka.support import KafkaCluster, running_cluster, unique_prefix, verify
from tests.support import Collector, Live, create, event_frames, head_positions, set_up_partnership

pytestmark = pytest.mark.kafka

P = "kc"
V = f"{P}-pub"
OUTPUT = Path(__file__).resolve().parents[1] / "output" / "kafka-cluster.json"


@dataclass
class Setup:
    cluster: KafkaCluster
    users: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str) -> str:
        if role not in self.tokens:
            self.tokens[role] = self.cluster.a.token(self.users[role])
        return self.tokens[role]

    def client(self, role: str, node: Any) -> httpx.Client:
        return httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {self.token(role)}"}, timeout=30
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), unique_prefix("cluster")) as cluster:
        admin = cluster.a.login("admin")
        users = set_up_partnership(admin, P)
        admin.close()
        yield Setup(cluster, users)


def jpeg() -> bytes:
    image = Image.new("RGB", (320, 240), (30, 120, 200))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def test_an_alert_posted_on_node_a_reaches_a_live_socket_on_node_b(setup: Setup) -> None:
    cluster = setup.cluster
    b_head = head_positions(cluster.b, setup.token("door_staff"))[P]
    listener = Collector(Live(cluster.b, setup.token("door_staff"), {P: b_head}))
    latencies: list[float] = []
    try:
        with setup.client("police", cluster.a) as police:
            for i in range(40):
                sent = time.perf_counter()
                answer = create(
                    police, f"/v1/partnerships/{P}/alerts", {"text": f"cross-node {i}", "venue": V}
                )
                position = answer["positions"][-1]
                listener.wait_for_position(P, position, timeout=10)
                with listener._changed:
                    arrived = time.perf_counter()
                latencies.append(arrived - sent)
        time.sleep(0.3)
    finally:
        listener.stop()
    frames = [f for f in event_frames(listener.frames) if f["type"] == "alert.broadcast"]
    texts = [f["data"]["text"] for f in frames]
    assert texts == [f"cross-node {i}" for i in range(40)], texts
    positions = [f["position"] for f in event_frames(listener.frames)]
    assert positions == sorted(set(positions))
    # Both nodes hold the same log, and it verifies.
    auditor = setup.token("auditor")
    assert verify(cluster.a, auditor, P) == verify(cluster.b, auditor, P)
    assert verify(cluster.b, auditor, P)["ok"] is True
    ms = sorted(x * 1000 for x in latencies)
    figures = {
        "what": "POST alert on node A -> 201 and frame on node B (sequential, light load)",
        "samples": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
        "max_ms": round(ms[-1], 2),
    }
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n")
    print("alert -> frame across nodes:", figures)


def _is(frame: dict[str, Any], kind: str, **data: Any) -> bool:
    return (
        frame.get("op") == "event"
        and frame["type"] == kind
        and all(frame["data"].get(k) == v for k, v in data.items())
    )


def test_the_breach_story_across_two_nodes(setup: Setup) -> None:
    cluster = setup.cluster
    a, b = cluster.a, cluster.b
    with setup.client("coordinator", a) as coordinator:
        subject_id = create(
            coordinator,
            f"/v1/partnerships/{P}/subjects",
            {"name": "Kay Cluster", "aliases": [], "description": "green coat"},
        )["id"]
        photo = coordinator.post(
            f"/v1/partnerships/{P}/subjects/{subject_id}/photos",
            files={"image": ("k.jpg", jpeg(), "image/jpeg")},
        )
        assert photo.status_code == 201, photo.text
        photo_id = photo.json()["id"]
        exclusion_id = create(
            coordinator,
            f"/v1/partnerships/{P}/exclusions",
            {"subject_id": subject_id, "kind": "exclusion", "venues": [V], "reason": "assault"},
        )["id"]
        since = {P: coordinator.get(f"/v1/partnerships/{P}").json()["position"]}

    door = Collector(Live(a, setup.token("door_staff"), since))
    club = Collector(Live(a, setup.token("door_staff_club"), since))
    police = Collector(Live(b, setup.token("police"), since))
    try:
        with setup.client("cctv_operator", b) as cctv:
            sighting = create(
                cctv,
                f"/v1/partnerships/{P}/sightings",
                {"subject_id": subject_id, "venue": V, "camera": "cam 4", "note": "green coat"},
            )
        deadline = time.monotonic() + 15
        for collector in (door, police):
            while not any(_is(f, "alert.broadcast", breach_of=exclusion_id) for f in collector.frames):
                assert time.monotonic() < deadline, f"no breach alert: {collector.frames}"
                time.sleep(0.02)
        time.sleep(1.0)  # anything the club's door would (wrongly) get has had time to come
    finally:
        for collector in (door, club, police):
            collector.stop()

    for name, collector in (("door", door), ("police", police)):
        kinds = [
            f["type"]
            for f in event_frames(collector.frames)
            if _is(f, "exclusion.breached", exclusion_id=exclusion_id)
            or _is(f, "alert.broadcast", breach_of=exclusion_id)
        ]
        assert kinds == ["exclusion.breached", "alert.broadcast"], (name, kinds)
        breached = next(f for f in collector.frames if _is(f, "exclusion.breached"))
        assert breached["data"]["sighting_id"] == sighting["id"]
        assert "Kay Cluster" not in json.dumps(collector.frames)
    assert not [
        f
        for f in event_frames(club.frames)
        if f["type"] in ("exclusion.breached", "sighting.recorded")
        or f["data"].get("breach_of") == exclusion_id
    ], club.frames

    # The subject made on node A is whole on node B: its key and photo were shared.
    with setup.client("coordinator", b) as coordinator_b:
        shown = coordinator_b.get(f"/v1/partnerships/{P}/subjects/{subject_id}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["name"] == "Kay Cluster"
        image = coordinator_b.get(f"/v1/partnerships/{P}/subjects/{subject_id}/photos/{photo_id}?size=full")
        assert image.status_code == 200, image.text
        assert Image.open(io.BytesIO(image.content)).size == (320, 240)
        gallery = coordinator_b.get(f"/v1/partnerships/{P}/exclusions", params={"status": "all"}).json()
        record = next(x for x in gallery if x["exclusion_id"] == exclusion_id)
        assert [x["sighting_id"] for x in record["breaches"]] == [sighting["id"]]


def _copy_replica(node_data: Path, into: Path) -> Path:
    """A consistent copy of a running node's replica (SQLite's online backup)."""
    into.mkdir()
    with sqlite3.connect(node_data / "replica.db") as source, sqlite3.connect(into / "replica.db") as copy:
        source.backup(copy)
    return into


def _hub(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "--data", str(data), *args], capture_output=True, text=True, timeout=120
    )


def test_hub_verify_and_replay_work_on_a_kafka_nodes_data_folder(setup: Setup, tmp_path: Path) -> None:
    """A Kafka-mode node keeps the event topic in replica.db: `hub verify` checks it, finds
    an altered event, and `hub replay` rebuilds the views from it (not from an empty log)."""
    copy = _copy_replica(setup.cluster.b.data, tmp_path / "node-b")
    verified = _hub(copy, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{P}: ok" in verified.stdout

    replayed = _hub(copy, "replay")
    assert replayed.returncode == 0, replayed.stderr
    views = json.loads((copy / "snapshot.json").read_bytes())
    head = (
        sqlite3.connect(copy / "replica.db")
        .execute("SELECT position FROM heads WHERE partnership = ?", (P,))
        .fetchone()[0]
    )
    assert views["views"][P]["position"] == head > 0

    with sqlite3.connect(copy / "replica.db") as db:
        db.execute(
            "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), ?, ?) AS BLOB) "
            "WHERE partnership = ? AND position = 3",
            (P, P.upper(), P),
        )
    altered = _hub(copy, "verify")
    assert altered.returncode == 1
    assert "FAILED at position 3" in altered.stdout
