"""D9: decoding an image is slow work (a 6300 x 6300 still takes most of a second here);
it runs off the event loop, so the hub keeps answering everyone else meanwhile."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.support import Server, create, make_admin, set_up_partnership

P = "images"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("images")
    make_admin(data)
    hub = Server(data).start()
    try:
        set_up_partnership(hub.login("admin"), P)
        yield hub
    finally:
        hub.stop()


def large_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (6300, 6300), "navy").save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("where", ["photo", "still"])
def test_d9_the_hub_answers_others_while_it_decodes_a_large_image(server: Server, where: str) -> None:
    coordinator = server.login(f"{P}.coordinator")
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Large Image"})["id"]
    image = large_png()
    finished: list[str] = []

    def upload() -> None:
        if where == "photo":
            files = {"image": ("big.png", image, "image/png")}
            answer = coordinator.post(f"/v1/partnerships/{P}/subjects/{subject}/photos", files=files)
        else:
            files = {"still": ("big.png", image, "image/png")}
            data = {"venue": f"{P}-pub", "subject_id": subject}
            answer = coordinator.post(f"/v1/partnerships/{P}/sightings", files=files, data=data)
        assert answer.status_code == 201, answer.text
        finished.append("upload")

    uploading = threading.Thread(target=upload)
    uploading.start()
    time.sleep(0.15)  # the image has arrived and is being decoded
    assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
    finished.append("healthz")
    uploading.join(60)
    assert finished == ["healthz", "upload"], "the health check waited for the image"
