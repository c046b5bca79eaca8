"""Answers the OpenAPI document alone does not show (issue 11, D15 and D19): what the
open endpoints give away, what a refused image says, and that a fault is answered 500
on a connection that stays usable."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from api.app import create_app
from tests.support import Server, create, free_port


def test_healthz_and_metrics_name_no_process_and_no_partnership(hub_server: Server) -> None:
    health = httpx.get(hub_server.url + "/healthz", timeout=30)
    assert health.status_code == 200
    assert set(health.json()) == {"ok", "partnerships", "live_connections", "process"}
    metrics = httpx.get(hub_server.url + "/metrics", timeout=30)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "hub_http_requests_total" in metrics.text and "hub_events_published" in metrics.text
    assert "partnership" not in metrics.text and "north" not in metrics.text and "south" not in metrics.text


def cut_short() -> bytes:
    """A real PNG, its second half lost."""
    out = io.BytesIO()
    Image.effect_noise((64, 64), 80).convert("RGB").save(out, format="PNG")
    whole = out.getvalue()
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (b"not an image at all", "not an image of a known format: send a JPEG, PNG or WEBP"),
        (cut_short(), "the image is damaged or cut short"),
    ],
)
def test_a_refused_image_says_what_is_wrong_with_it(hub_server: Server, sent: bytes, said: str) -> None:
    coordinator = hub_server.login("north.coordinator")
    subject = create(coordinator, "/v1/partnerships/north/subjects", {"name": "Pat Picture"})["id"]
    answer = coordinator.post(
        f"/v1/partnerships/north/subjects/{subject}/photos", files={"image": ("a.png", sent, "image/png")}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"detail": said}


@pytest.fixture
def failing_hub(tmp_path: Path) -> Iterator[str]:
    """The API on a real socket (uvicorn, as `hub serve` runs it) with one route that fails."""
    app: FastAPI = create_app(tmp_path)

    @app.get("/v1/fails")
    def fails() -> None:
        raise RuntimeError("a fault no handler answers")

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_fault_is_a_500_with_a_reason_and_the_connection_stays_usable(failing_hub: str) -> None:
    with httpx.Client(base_url=failing_hub, timeout=30) as client:
        failed = client.get("/v1/fails")
        assert failed.status_code == 500
        assert failed.json() == {"detail": "the hub failed on this request"}
        assert failed.headers["x-content-type-options"] == "nosniff"
        assert client.get("/healthz").status_code == 200  # the same kept-alive connection
        counted = re.search(
            r'^hub_http_requests_total{method="GET",status="500"} (\S+)$', client.get("/metrics").text, re.M
        )
        assert counted is not None and float(counted.group(1)) >= 1
