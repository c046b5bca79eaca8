"""The Safer Socialising Award over REST, on a real server: the coordinator records the
panel's inspections; each night-time venue's standing follows from them and the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import Live, Server, make_admin, set_up_partnership

P = "ssa"
CRITERIA = {"door staff trained in vulnerability": True, "CCTV covers the door": True}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, httpx.Client]]]:
    data = tmp_path_factory.mktemp("awards")
    make_admin(data)
    server = Server(data).start()
    try:
        users = set_up_partnership(server.login("admin"), P)
        yield server, {role: server.login(name) for role, name in users.items()}
    finally:
        server.stop()


def ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def inspect(client: httpx.Client, venue: str, **body: Any) -> httpx.Response:
    fields = {
        "venue": f"{P}-{venue}",
        "panel": ["partnership", "police"],
        "criteria": CRITERIA,
        "outcome": "passed",
    }
    return client.post(f"/v1/partnerships/{P}/awards/inspections", json={**fields, **body})


def standing(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get(f"/v1/partnerships/{P}/awards")
    assert answer.status_code == 200, answer.text
    return {a["venue"]: a for a in answer.json()}


def test_inspections_give_each_night_time_venue_its_standing(
    hub: tuple[Server, dict[str, httpx.Client]],
) -> None:
    server, clients = hub
    coordinator = clients["coordinator"]
    live = Live(server, server.token(f"{P}.coordinator"))
    try:
        assert standing(coordinator) == {
            f"{P}-{v}": {
                "venue": f"{P}-{v}",
                "name": f"{P} {v}",
                "status": "none",
                "awarded_at": None,
                "reinspection_due": None,
                "inspections": [],
            }
            for v in ("club", "pub")
        }, "the retail shop has no award; the night-time venues start with none"
        answer = inspect(coordinator, "pub", inspected_at=ago(400))
        assert answer.status_code == 201, answer.text
        assert set(answer.json()) == {"id", "positions"}
        frame = live.frames_until(lambda f: f.get("type") == "award.inspected")[-1]
        assert frame["data"]["venue"] == f"{P}-pub"
        assert standing(coordinator)[f"{P}-pub"]["status"] == "lapsed", "not re-inspected within 12 months"
        assert inspect(coordinator, "pub", inspected_at=ago(345)).status_code == 201
        assert standing(coordinator)[f"{P}-pub"]["status"] == "due", "re-inspection within 30 days"
        assert inspect(coordinator, "pub", inspected_at=ago(500)).status_code == 409, "in order only"
        assert inspect(coordinator, "pub", inspected_at=ago(1)).status_code == 201
        pub = standing(coordinator)[f"{P}-pub"]
        assert pub["status"] == "awarded" and len(pub["inspections"]) == 3

        unmet = {**CRITERIA, "CCTV covers the door": False}
        failed = inspect(
            coordinator,
            "club",
            inspected_at=ago(2),
            criteria=unmet,
            outcome="failed",
            actions="Move the camera to cover the queue",
        )
        assert failed.status_code == 201, failed.text
        seen = standing(clients["police"])
        assert seen[f"{P}-club"]["status"] == "failed"
        assert seen[f"{P}-club"]["inspections"][0]["actions"] == "Move the camera to cover the queue"
    finally:
        live.close()


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"venue": f"{P}-shop"}, 409, "night-time venues"),
        ({"venue": f"{P}-nowhere"}, 409, "no venue"),
        ({"criteria": {**CRITERIA, "CCTV covers the door": False}}, 409, "not met"),
        ({"outcome": "failed", "criteria": {"x": False}}, 409, "actions"),
        ({"inspected_at": "2099-01-01T00:00:00Z"}, 409, "taken place"),
        ({"inspected_at": "2026-01-01T00:00:00"}, 422, "timezone"),
        ({"panel": []}, 422, "at least 1"),
        ({"panel": ["the mayor"]}, 422, "partnership"),
        ({"outcome": "maybe"}, 422, "passed"),
        ({"criteria": {}}, 422, "at least 1"),
    ],
)
def test_a_bad_inspection_is_refused_with_its_reason_and_writes_nothing(
    hub: tuple[Server, dict[str, httpx.Client]], body: dict[str, Any], status: int, reason: str
) -> None:
    _, clients = hub
    coordinator = clients["coordinator"]
    before = coordinator.get(f"/v1/partnerships/{P}").json()["position"]
    fields = {"venue": f"{P}-club", "inspected_at": ago(1), **body}
    answer = inspect(coordinator, fields.pop("venue").removeprefix(f"{P}-"), **fields)
    assert answer.status_code == status, answer.text
    assert reason in answer.text
    assert coordinator.get(f"/v1/partnerships/{P}").json()["position"] == before


def test_only_the_coordinator_records_inspections(hub: tuple[Server, dict[str, httpx.Client]]) -> None:
    _, clients = hub
    for role in ("door_staff", "retail_staff", "cctv_operator", "police", "auditor"):
        assert inspect(clients[role], "club", inspected_at=ago(1)).status_code == 403, role
    assert clients["door_staff"].get(f"/v1/partnerships/{P}/awards").status_code == 403
    assert clients["auditor"].get(f"/v1/partnerships/{P}/awards").status_code == 200


def test_a_retry_with_the_same_key_records_one_inspection(
    hub: tuple[Server, dict[str, httpx.Client]],
) -> None:
    _, clients = hub
    coordinator = clients["coordinator"]
    before = len(standing(coordinator)[f"{P}-club"]["inspections"])
    headers = {"Idempotency-Key": "inspection-visit-7"}
    body = {
        "venue": f"{P}-club",
        "panel": ["fire"],
        "criteria": CRITERIA,
        "outcome": "passed",
        "inspected_at": ago(0),
    }
    first = coordinator.post(f"/v1/partnerships/{P}/awards/inspections", json=body, headers=headers)
    again = coordinator.post(f"/v1/partnerships/{P}/awards/inspections", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(standing(coordinator)[f"{P}-club"]["inspections"]) == before + 1
