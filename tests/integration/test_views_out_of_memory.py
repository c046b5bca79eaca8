"""Records that left memory (projections/views.py keeps the last KEEP done ones of each
kind) still answer through a real `hub serve`: by id, in subject access, in the
statistics, in erasure, and after a restart from the snapshot."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from projections.views import KEEP
from tests.support import Server, create, make_admin, set_up_partnership

P = "mem"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, format="PNG")
    return out.getvalue()


def _push_out(cctv: httpx.Client, door: httpx.Client) -> None:
    """KEEP + 1 done records of each kind after the first ones."""
    for n in range(KEEP + 1):
        alert = create(cctv, f"/v1/partnerships/{P}/alerts", {"text": f"routine {n}"})
        create(cctv, f"/v1/partnerships/{P}/alerts/{alert['id']}/resolve", {})
        incident = create(
            door,
            f"/v1/partnerships/{P}/incidents",
            {"category": "asb", "venue": f"{P}-pub", "description": "x"},
        )
        create(cctv, f"/v1/partnerships/{P}/incidents/{incident['id']}/close", {"outcome": "done"})
        create(cctv, f"/v1/partnerships/{P}/sightings", {"venue": f"{P}-shop", "camera": f"cam {n}"})


def _first_records(coordinator: httpx.Client, cctv: httpx.Client) -> dict[str, str]:
    """A subject and a record of each kind about them (the coordinator names anyone)."""
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Olly Older"})["id"]
    body: dict[str, Any] = {"text": "watch the door", "subject_id": subject}
    alert = create(coordinator, f"/v1/partnerships/{P}/alerts", body)["id"]
    create(cctv, f"/v1/partnerships/{P}/alerts/{alert}/resolve", {})
    body = {"category": "theft", "venue": f"{P}-pub", "description": "took a bottle", "loss_value": 7.5}
    incident = create(coordinator, f"/v1/partnerships/{P}/incidents", {**body, "subject_ids": [subject]})[
        "id"
    ]
    create(cctv, f"/v1/partnerships/{P}/incidents/{incident}/close", {"outcome": "banned"})
    answer = coordinator.post(
        f"/v1/partnerships/{P}/sightings",
        data={"subject_id": subject, "venue": f"{P}-pub", "camera": "cam 1"},
        files={"still": ("still.png", _png(), "image/png")},
    )
    assert answer.status_code == 201, answer.text
    return {"subject": subject, "alert": alert, "incident": incident, "sighting": answer.json()["id"]}


def _check_out_of_memory_records(server: Server, users: dict[str, str], first: dict[str, str]) -> str:
    """Checks what the first records answer; returns the id of the first sighting's still."""
    with (
        server.login(users["coordinator"]) as coordinator,
        server.login(users["cctv_operator"]) as cctv,
        server.login(users["door_staff"]) as door,
        server.login(users["police"]) as police,
    ):
        incident = door.get(f"/v1/partnerships/{P}/incidents/{first['incident']}")
        assert incident.status_code == 200, incident.text
        assert incident.json()["status"] == "closed" and incident.json()["outcome"] == "banned"
        listed = door.get(f"/v1/partnerships/{P}/incidents").json()
        assert first["incident"] not in {i["incident_id"] for i in listed}  # the list shows recent ones
        still = cctv.get(f"/v1/partnerships/{P}/sightings/{first['sighting']}/still")
        assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"
        # a crime reference given after the incident left memory, and a late acknowledgement
        create(
            police,
            f"/v1/partnerships/{P}/incidents/{first['incident']}/crime-reference",
            {"crime_reference": "CR/7"},
        )
        create(door, f"/v1/partnerships/{P}/alerts/{first['alert']}/ack", {})
        assert (
            door.get(f"/v1/partnerships/{P}/incidents/{first['incident']}").json()["crime_reference"]
            == "CR/7"
        )
        export = coordinator.get(f"/v1/partnerships/{P}/subjects/{first['subject']}/export").json()
        assert [a["alert_id"] for a in export["alerts"]] == [first["alert"]]
        assert [a["user"] for a in export["alerts"][0]["acknowledgements"]] == [users["door_staff"]]
        assert [i["incident_id"] for i in export["incidents"]] == [first["incident"]]
        assert [s["sighting_id"] for s in export["sightings"]] == [first["sighting"]]
        assert export["incidents"][0]["description"] == "took a bottle"
        figures = coordinator.get(f"/v1/partnerships/{P}/statistics").json()
        assert figures["incidents_by_category"] == {"theft": 1, "asb": KEEP + 1}
        assert figures["loss_value_total"] == 7.5
        assert figures["incidents_with_crime_reference"] == 1
        assert figures["alerts"] == figures["sightings"] == KEEP + 2
        return str(export["sightings"][0]["still_id"])


def test_records_out_of_memory_answer_by_id_in_exports_statistics_and_erasure(tmp_path: Path) -> None:
    make_admin(tmp_path)
    server = Server(tmp_path).start()
    try:
        with server.login("admin") as admin:
            users = set_up_partnership(admin, P)
        with (
            server.login(users["coordinator"]) as coordinator,
            server.login(users["cctv_operator"]) as cctv,
            server.login(users["door_staff"]) as door,
        ):
            first = _first_records(coordinator, cctv)
            _push_out(cctv, door)
        still_id = _check_out_of_memory_records(server, users, first)
        assert any(f.name.startswith(still_id) for f in (tmp_path / "photos").iterdir())
        server.stop()
        server.start()  # from the snapshot saved at stop, then the log's tail
        with server.login(users["cctv_operator"]) as cctv:
            still = cctv.get(f"/v1/partnerships/{P}/sightings/{first['sighting']}/still")
            assert still.status_code == 200
        with server.login(users["coordinator"]) as coordinator:
            create(
                coordinator, f"/v1/partnerships/{P}/subjects/{first['subject']}/erase", {"reason": "request"}
            )
        with server.login(users["cctv_operator"]) as cctv:
            still = cctv.get(f"/v1/partnerships/{P}/sightings/{first['sighting']}/still")
            assert still.status_code == 404
        assert [f for f in (tmp_path / "photos").iterdir() if f.name.startswith(still_id)] == []
    finally:
        server.stop()
