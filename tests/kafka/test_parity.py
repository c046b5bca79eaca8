"""Parity: one script of commands through the embedded hub and through Kafka mode.

The same script (every event type but `warning.lapsed`, which needs twelve months to
pass) runs over HTTP against an embedded `hub serve` and against Kafka mode (`hub
worker` + a `hub serve` API node). Then the auditor's full state of the partnership, and
the live frames delivered to door staff at a venue and to police, must be identical once
what legitimately differs between two runs is normalised: generated ids, hashes, and
clock readings (kept as whole days from the run's start, so "now" and "now + 12 months"
stay distinct). Everything else is compared as it is.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from schemas.events import EVENT_TYPES
from tests.kafka.support import (
    REPO,
    KafkaCluster,
    Node,
    audit_events,
    parallel,
    require_broker,
    unique_prefix,
    wait_until,
)
from tests.support import PASSWORD, Collector, Live, Server, event_frames, set_up_partnership

pytestmark = pytest.mark.kafka

P = "par"
PUB, CLUB, SHOP = f"{P}-pub", f"{P}-club", f"{P}-shop"
NOT_COVERED = {
    "warning.lapsed",  # a warning lapses twelve months after it was issued
    # a subscription needs a push service to send to (whose answers decide what is written
    # next): tests/kafka/test_push.py runs them on Kafka, tests/integration/test_push.py embedded
    "push.subscribed",
    "push.unsubscribed",
}

# Fixed moments, shared by both runs (so they are compared as they are).
ANCHOR = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def at(delta: timedelta) -> str:
    return (ANCHOR + delta).isoformat().replace("+00:00", "Z")


def jpeg() -> bytes:
    image = Image.new("RGB", (200, 150), (90, 10, 10))
    for x in range(0, 200, 10):
        image.putpixel((x, 75), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


# -- one run of the script -----------------------------------------------------------------------


@dataclass
class Run:
    """The script's view of one hub: where to post, and what came back."""

    name: str
    node: Server
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    head: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)

    def token(self, role: str) -> str:
        if role not in self.tokens:
            self.tokens[role] = self.node.token(self.users.get(role, role))
        return self.tokens[role]

    def client(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = httpx.Client(
                base_url=f"{self.node.url}/v1/partnerships/{P}",
                headers={"Authorization": f"Bearer {self.token(role)}"},
                timeout=60,
            )
        return self.clients[role]

    def events(self, after: int) -> list[dict[str, Any]]:
        return audit_events(self.node, self.token("auditor"), P, from_position=after + 1)

    def do(
        self,
        step: str,
        role: str,
        method: str,
        path: str,
        follow: tuple[str, ...] = (),
        precede: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One command; then wait for the events its processors add (`follow`), so the
        next command lands at the same position in both runs."""
        answer = self.client(role).request(method, path, **kwargs)
        assert answer.status_code == 201, f"{self.name} {step}: {answer.status_code} {answer.text}"
        body: dict[str, Any] = answer.json()
        positions = body.get("positions") or []
        if positions:
            if positions[0] != self.head + 1:  # a request that makes two commands (ID-sought)
                between = [e["type"] for e in self.events(self.head)][: positions[0] - self.head - 1]
                assert between == list(precede), f"{self.name} {step}: {between} before {positions}"
            self.head = positions[-1]
        if follow:
            added = wait_until(
                lambda: (e := self.events(self.head)) and len(e) >= len(follow) and e,
                20,
                f"{self.name} {step}: {follow}",
            )
            assert [e["type"] for e in added] == list(follow), (self.name, step, added)
            self.head = added[-1]["position"]
        self.steps.append((step, list(follow)))
        return body

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def script(run: Run, admin: httpx.Client) -> None:
    """Every kind of event, in one order; returns when all has settled."""
    run.users = set_up_partnership(admin, P)
    run.head = admin.get(f"/v1/partnerships/{P}").json()["position"]
    code = ""
    for path, method, body in (
        (f"/v1/partnerships/{P}/channels", "POST", {"id": "ops", "name": "Operations"}),
        (f"/v1/partnerships/{P}/venues/{CLUB}", "PATCH", {"name": "The Club (renamed)"}),
        (f"/v1/partnerships/{P}/venues", "POST", {"id": f"{P}-temp", "name": "pop-up", "kind": "other"}),
        (f"/v1/partnerships/{P}/venues/{P}-temp", "DELETE", None),
        (
            f"/v1/partnerships/{P}/members",
            "POST",
            {"username": f"{P}.leaver", "password": PASSWORD, "role": "retail_staff", "venue": SHOP},
        ),
        (f"/v1/partnerships/{P}/members/{P}.leaver/enrolment-code", "POST", None),
        ("sign in with the code", "", None),
        (f"/v1/partnerships/{P}/members/{P}.leaver/revoke", "POST", None),
    ):
        if not method:  # the device signs in once with its one-time code
            signed_in = httpx.post(
                f"{run.node.url}/v1/auth/token",
                data={"username": f"{P}.leaver", "password": code},
                timeout=30,
            )
            assert signed_in.status_code == 200, f"{run.name} {path}: {signed_in.text}"
            run.head = wait_until(
                lambda: [e for e in run.events(run.head) if e["type"] == "member.enrolment_code_used"],
                20,
                "the code used",
            )[-1]["position"]
            continue
        answer = admin.request(method, path, json=body)
        assert answer.status_code == 201, f"{run.name} {path}: {answer.text}"
        code = answer.json().get("code", code)
        run.head = answer.json()["positions"][-1]

    # Live subscribers from the very start: door staff at the pub, and police.
    door = Collector(Live(run.node, run.token("door_staff"), {P: 0}))
    police = Collector(Live(run.node, run.token("police"), {P: 0}))
    try:
        _commands(run)
        marker = run.do("marker", "coordinator", "POST", "/alerts", json={"text": "end of script"})
        for collector in (door, police):
            collector.wait_for_position(P, marker["positions"][-1], timeout=30)
        time.sleep(0.3)
    finally:
        door.stop()
        police.stop()
    run.frames = {"door": event_frames(door.frames), "police": event_frames(police.frames)}
    answer = run.client("auditor").get("/audit/state")
    assert answer.status_code == 200, answer.text
    run.state = answer.json()
    history = run.events(0)
    assert [e["position"] for e in history] == list(range(1, run.head + 1))
    run.types = {e["type"] for e in history}


def _commands(run: Run) -> None:
    ids = run.ids
    do = run.do
    ids["s1"] = do(
        "register s1",
        "coordinator",
        "POST",
        "/subjects",
        json={"name": "Alex Parity", "aliases": ["AP"], "date_of_birth": "1990-02-03", "description": "hat"},
    )["id"]
    ids["photo"] = do(
        "photo s1",
        "coordinator",
        "POST",
        f"/subjects/{ids['s1']}/photos",
        files={"image": ("a.jpg", jpeg(), "image/jpeg")},
    )["id"]
    alert = {"priority": "urgent", "text": "male, hat, High St", "venue": PUB, "location": "High St"}
    # s1 is neither excluded, warned nor sought yet: only the coordinator may name them
    ids["a1"] = do("alert a1", "coordinator", "POST", "/alerts", json={**alert, "subject_id": ids["s1"]})[
        "id"
    ]
    do("ack a1 door", "door_staff", "POST", f"/alerts/{ids['a1']}/ack")
    do("ack a1 police", "police", "POST", f"/alerts/{ids['a1']}/ack")
    do("resolve a1", "cctv_operator", "POST", f"/alerts/{ids['a1']}/resolve", json={"note": "left the area"})
    ids["a2"] = do("alert a2", "door_staff", "POST", "/alerts", json={"channel": "ops", "text": "queue"})[
        "id"
    ]
    do("cancel a2", "door_staff", "POST", f"/alerts/{ids['a2']}/resolve", json={"cancelled": True})

    incident = {
        "category": "theft",
        "venue": PUB,
        "occurred_at": at(-timedelta(days=250)),
        "description": "bottle of gin taken",
        "loss_value": 25.5,
        "subject_ids": [ids["s1"]],
    }
    ids["i1"] = do(
        "incident i1", "coordinator", "POST", "/incidents", ("exclusion.incident_noted",), json=incident
    )["id"]
    do(
        "crime ref i1",
        "police",
        "POST",
        f"/incidents/{ids['i1']}/crime-reference",
        json={"crime_reference": "CR/1"},
    )
    ids["s2"] = do("register s2", "coordinator", "POST", "/subjects", json={"name": "Sam Second"})["id"]
    do(
        "link s2",
        "coordinator",
        "POST",
        f"/incidents/{ids['i1']}/link-subject",
        ("exclusion.incident_noted",),
        json={"subject_id": ids["s2"]},
    )
    do("close i1", "coordinator", "POST", f"/incidents/{ids['i1']}/close", json={"outcome": "charged"})

    sighting = {"venue": SHOP, "seen_at": at(-timedelta(hours=3)), "camera": "cam 7", "note": "blue scarf"}
    answer = do(
        "id-sought sighting",
        "cctv_operator",
        "POST",
        "/sightings",
        precede=("subject.registered",),
        json=sighting,
    )
    ids["s3"] = run.events(answer["positions"][0] - 1)[0]["data"]["subject_id"]
    do("identify s3", "coordinator", "POST", f"/subjects/{ids['s3']}/identify", json={"name": "Jo Third"})

    warning = {"subject_id": ids["s2"], "kind": "warning", "venues": [PUB]}
    do("warning 1", "coordinator", "POST", "/exclusions", json={**warning, "reason": "abusive"})
    do(
        "warning 2",
        "coordinator",
        "POST",
        "/exclusions",
        ("exclusion.proposed",),
        json={**warning, "reason": "again"},
    )
    proposed = run.client("coordinator").get("/exclusions", params={"status": "proposed"}).json()
    [x2] = [x["exclusion_id"] for x in proposed if x["subject_id"] == ids["s2"]]
    for step in ("confirm", "serve", "revoke"):
        do(f"{step} x2", "coordinator", "POST", f"/exclusions/{x2}/{step}", json={"note": f"{step} note"})

    exclusion = {
        "subject_id": ids["s1"],
        "kind": "exclusion",
        "venues": [PUB],
        "starts_at": at(-timedelta(days=200)),
        "reason": "theft at the pub",
    }
    ids["x1"] = do("exclusion x1", "coordinator", "POST", "/exclusions", json=exclusion)["id"]
    do("serve x1", "coordinator", "POST", f"/exclusions/{ids['x1']}/serve")
    do("appeal x1", "coordinator", "POST", f"/exclusions/{ids['x1']}/appeal", json={"note": "reformed"})
    seen = {"subject_id": ids["s1"], "camera": "cam 1", "note": "hat again"}
    do(
        "breach sighting",
        "cctv_operator",
        "POST",
        "/sightings",
        ("exclusion.breached", "alert.broadcast"),
        json={**seen, "venue": PUB, "seen_at": at(-timedelta(hours=1))},
    )
    do(
        "out of scope sighting",
        "cctv_operator",
        "POST",
        "/sightings",
        json={**seen, "venue": CLUB, "seen_at": at(timedelta(0))},
    )

    short = {
        "subject_id": ids["s3"],
        "kind": "exclusion",
        "venues": [],
        "ends_at": (datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
        "reason": "short",
    }
    do("short exclusion x3", "coordinator", "POST", "/exclusions", ("exclusion.expired",), json=short)
    do("erase s2", "coordinator", "POST", f"/subjects/{ids['s2']}/erase", json={"reason": "request"})
    inspection = {"venue": PUB, "panel": ["partnership", "police", "licensing", "fire"], "outcome": "passed"}
    do(
        "inspect the pub",
        "coordinator",
        "POST",
        "/awards/inspections",
        json={**inspection, "criteria": {"CCTV": True}},
    )


# -- normalising what legitimately differs ----------------------------------------------------------

HASH = re.compile(r"\b[0-9a-f]{64}\b")
ID = re.compile(r"\b(?:[0-9a-f]{32}|[bx][0-9a-f]{16})\b")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")


class Normaliser:
    """Ids become <id:N> by first appearance, hashes <hash>, clock readings <now±Nd>,
    ciphertexts <sealed>."""

    def __init__(self, started: datetime, fixed: set[str]) -> None:
        self.started = started
        self.fixed = fixed
        self.ids: dict[str, str] = {}

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match.group(0), f"<id:{len(self.ids)}>")

    def text(self, value: str) -> str:
        if TIME.match(value) and value not in self.fixed:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return f"<now{round((moment - self.started).total_seconds() / 86400):+d}d>"
        return ID.sub(self._id, HASH.sub("<hash>", value))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"key", "ct"}:  # sealed with a fresh nonce each time
                return {"key": self(value["key"]), "ct": "<sealed>"}
            return {self.text(k): self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def normalised(run: Run) -> dict[str, Any]:
    fixed = {
        at(-timedelta(days=250)),
        at(-timedelta(days=200)),
        at(-timedelta(hours=3)),
        at(-timedelta(hours=1)),
        at(timedelta(0)),
    }
    fixed |= {t.replace("Z", ".000000Z") for t in fixed}
    normalise = Normaliser(run.started, fixed)
    return {
        "state": normalise(run.state),
        "door": normalise(run.frames["door"]),
        "police": normalise(run.frames["police"]),
    }


# -- the two hubs ----------------------------------------------------------------------------------------


def _embedded(root: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONUNBUFFERED"] = "1"
    data = root / "embedded"
    created = subprocess.run(
        [sys.executable, "-m", "hub", "--data", str(data), "admin", "create", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    node = Node(data, env=env, name="embedded").start().wait_ready()
    run = Run("embedded", node)
    try:
        with node.login("admin") as admin:
            script(run, admin)
    finally:
        run.close()
        node.stop()
    return run


def _kafka(root: Path) -> Run:
    cluster = KafkaCluster(root / "kafka", require_broker(), unique_prefix("parity"), nodes=1).start()
    run = Run("kafka", cluster.a)
    try:
        with cluster.a.login("admin") as admin:
            script(run, admin)
    finally:
        run.close()
        cluster.stop()
    return run


def _first_difference(left: Any, right: Any, path: str = "") -> str | None:
    if type(left) is not type(right):
        return f"{path}: {left!r} != {right!r}"
    if isinstance(left, dict):
        if list(left) != list(right):
            return f"{path}: keys {list(left)} != {list(right)}"
        for key in left:
            found = _first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items != {len(right)}"
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r} != {right!r}"


def test_the_same_script_gives_the_same_projections_and_frames(tmp_path: Path) -> None:
    require_broker()
    runs: list[Run] = parallel(lambda: _embedded(tmp_path), lambda: _kafka(tmp_path))
    embedded, kafka = runs
    assert embedded.steps == kafka.steps

    # The script wrote every kind of event (but the one that needs a year to pass).
    assert embedded.types == kafka.types
    assert set(EVENT_TYPES) - embedded.types == NOT_COVERED
    assert embedded.head == kafka.head

    left, right = normalised(embedded), normalised(kafka)
    for name, document in (("embedded", left), ("kafka", right)):  # to read when this fails
        (tmp_path / f"{name}-normalised.json").write_text(json.dumps(document, indent=1))
    for part in ("state", "door", "police"):
        difference = _first_difference(left[part], right[part], part)
        assert difference is None, difference
    assert left == right
    # Sanity: the comparison is not vacuous.
    assert len(left["door"]) > 10 and len(left["police"]) > len(left["door"])
    types = {f["type"] for f in left["police"]}
    assert {"exclusion.breached", "alert.broadcast", "alert.acknowledged"} <= types
