"""`hub backup` and `hub restore` (hub/backup.py), on real `hub serve` processes and real files.

- A backup made while the hub serves writes restores into an empty folder: the restored
  hub verifies, holds every write answered before the backup began, and its views equal
  the original's; a quiet backup restores a hub whose every screen equals the original's.
- An erasure made after a backup survives restoring that backup over the live folder, and,
  with the erasure ledger kept outside the data folder, survives losing the folder.
- A damaged or incomplete backup is refused, and the target folder is left as it was;
  so is a folder whose hub is running.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support import Server, create, hub_verify, make_admin, running_server, set_up_partnership

P = "bak"


def hub(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return out.getvalue()


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its path, with its sha256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def keys_db(folder: Path) -> tuple[set[str], set[str]]:
    """The key ids a data folder's keys.db holds, and those it has destroyed."""
    connection = sqlite3.connect(f"file:{folder / 'keys.db'}?mode=ro", uri=True)
    try:
        held = {row[0] for row in connection.execute("SELECT id FROM keys")}
        destroyed = {row[0] for row in connection.execute("SELECT id FROM destroyed")}
    finally:
        connection.close()
    return held, destroyed


def start_hub(data: Path, env: dict[str, str] | None = None) -> tuple[Server, dict[str, str]]:
    make_admin(data)
    server = Server(data, env=env or {}).start()
    with server.login("admin") as admin:
        users = set_up_partnership(admin, P)
    return server, users


def subject_with_photo(coordinator: httpx.Client, name: str, colour: str) -> tuple[str, str]:
    subject_id = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": name})["id"]
    answer = coordinator.post(
        f"/v1/partnerships/{P}/subjects/{subject_id}/photos",
        files={"image": ("face.png", png(colour), "image/png")},
    )
    assert answer.status_code == 201, answer.text
    return str(subject_id), str(answer.json()["id"])


def photo(client: httpx.Client, subject_id: str, photo_id: str) -> httpx.Response:
    return client.get(
        f"/v1/partnerships/{P}/subjects/{subject_id}/photos/{photo_id}", params={"size": "full"}
    )


def history(server: Server, auditor: str) -> list[dict[str, Any]]:
    with server.login(auditor) as client:
        answer = client.get(f"/v1/partnerships/{P}/audit/events")
        assert answer.status_code == 200, answer.text
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def screens(server: Server, users: dict[str, str]) -> dict[str, Any]:
    """What the partnership's members see, screen by screen."""
    shown: dict[str, Any] = {}
    with server.login(users["coordinator"]) as coordinator, server.login(users["police"]) as police:
        for name, client, path, params in (
            ("subjects", coordinator, "subjects", {}),
            ("exclusions", coordinator, "exclusions", {}),
            ("incidents", coordinator, "incidents", {}),
            ("alerts", police, "alerts", {"limit": 5000}),
            ("statistics", police, "statistics", {}),
            ("members", coordinator, "members", {}),
        ):
            answer = client.get(f"/v1/partnerships/{P}/{path}", params=params)
            assert answer.status_code == 200, f"{path}: {answer.text}"
            shown[name] = answer.json()
    return shown


class Writers:
    """Threads posting alerts as fast as the hub answers; every 201 is kept, in order."""

    def __init__(self, server: Server, token: str, count: int = 4) -> None:
        self.server, self.token = server, token
        self.answered: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(k,), daemon=True) for k in range(count)]
        for thread in self.threads:
            thread.start()

    def write(self, k: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=60) as client:
            i = 0
            while not self.halt.is_set():
                text = f"backup writer {k} #{i}"
                answer = client.post(f"/v1/partnerships/{P}/alerts", json={"text": text})
                with self.lock:
                    if answer.status_code == 201:
                        self.answered.append((answer.json()["id"], text))
                    else:
                        self.refused.append(f"{answer.status_code} {answer.text}")
                i += 1

    def so_far(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.answered)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.so_far()) < count:
            assert time.monotonic() < deadline, f"only {len(self.so_far())} of {count} writes answered"
            time.sleep(0.05)

    def stop(self) -> None:
        self.halt.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not self.refused, self.refused[:5]


@dataclass
class Original:
    server: Server
    users: dict[str, str]
    subject_id: str
    photo_id: str


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Original]:
    """A serving hub with a partnership, a subject with a photo and an incident."""
    server, users = start_hub(tmp_path_factory.mktemp("original"))
    try:
        with server.login(users["coordinator"]) as coordinator:
            subject_id, photo_id = subject_with_photo(coordinator, "Dean Marsh", "red")
        with server.login(users["cctv_operator"]) as cctv:
            body = {"category": "theft", "venue": f"{P}-shop", "description": "two bottles of gin"}
            create(cctv, f"/v1/partnerships/{P}/incidents", body)
        yield Original(server, users, subject_id, photo_id)
    finally:
        server.stop()


def test_a_backup_made_under_writes_restores_every_write_answered_before_it(
    original: Original, tmp_path: Path
) -> None:
    server, users = original.server, original.users
    writers = Writers(server, server.token(users["cctv_operator"]))
    try:
        writers.wait_for(50)
        before = writers.so_far()  # answered, so committed, before the backup began
        made = hub(server.data, "backup", str(tmp_path / "backup"))
        assert made.returncode == 0, made.stderr
        writers.wait_for(len(writers.so_far()) + 20)  # and the hub went on answering
    finally:
        writers.stop()
    print(f"{len(before)} writes answered before the backup, {len(writers.answered)} in all")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    head = manifest["heads"][P]["position"]
    assert len(writers.answered) > len(before)

    restored = tmp_path / "restored"
    result = hub(restored, "restore", str(tmp_path / "backup"))
    assert result.returncode == 0, result.stderr
    verified = hub_verify(restored)
    assert verified.returncode == 0 and f"{P}: ok, {head} events" in verified.stdout, verified.stdout
    with running_server(restored) as again:
        events = history(again, users["auditor"])
        assert [e["position"] for e in events] == list(range(1, head + 1))
        alerts = {e["data"]["alert_id"]: e["data"]["text"] for e in events if e["type"] == "alert.broadcast"}
        missing = [(i, text) for i, text in before if alerts.get(i) != text]
        assert not missing, f"{len(missing)} of {len(before)} writes answered before the backup lost"
        # its views are the original's at the same position, and its screens show its log
        at_head = {"position": head}
        with server.login(users["auditor"]) as then, again.login(users["auditor"]) as now:
            state = then.get(f"/v1/partnerships/{P}/audit/state", params=at_head)
            assert state.status_code == 200, state.text
            assert now.get(f"/v1/partnerships/{P}/audit/state", params=at_head).json() == state.json()
        assert screens(again, users)["statistics"]["alerts"] == len(alerts)
        with server.login(users["coordinator"]) as then, again.login(users["coordinator"]) as now:
            image = photo(now, original.subject_id, original.photo_id)
            assert image.status_code == 200, image.text
            assert image.content == photo(then, original.subject_id, original.photo_id).content


def test_a_quiet_backup_restores_a_hub_whose_screens_equal_the_original(
    original: Original, tmp_path: Path
) -> None:
    made = hub(original.server.data, "backup", str(tmp_path / "backup"))
    assert made.returncode == 0, made.stderr
    result = hub(tmp_path / "restored", "restore", str(tmp_path / "backup"))
    assert result.returncode == 0, result.stderr
    with running_server(tmp_path / "restored") as again:
        assert screens(again, original.users) == screens(original.server, original.users)
        # and it takes writes again, after the restored head
        with again.login(original.users["police"]) as police:
            after = create(police, f"/v1/partnerships/{P}/alerts", {"text": "after the restore"})
        head = json.loads((tmp_path / "backup" / "manifest.json").read_text())["heads"][P]["position"]
        assert after["positions"] == [head + 1]


def test_backup_files_are_readable_by_their_owner_only(original: Original, tmp_path: Path) -> None:
    made = hub(original.server.data, "backup", str(tmp_path / "backup"))
    assert made.returncode == 0, made.stderr
    backup = tmp_path / "backup"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert {"log.db", "keys.db", f"photos/{original.photo_id}.full"} <= set(manifest["files"])
    for path in [backup, *backup.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert [p.name for p in tmp_path.iterdir()] == ["backup"]  # no working folder left behind
    again = hub(original.server.data, "backup", str(backup))
    assert again.returncode != 0 and "exists already" in again.stderr


def erase(client: httpx.Client, subject_id: str) -> None:
    create(client, f"/v1/partnerships/{P}/subjects/{subject_id}/erase", {"reason": "erasure request"})


def assert_erased(server: Server, users: dict[str, str], subject_id: str, photo_id: str) -> None:
    with server.login(users["coordinator"]) as coordinator:
        shown = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject_id}").json()
        assert shown["erased"] is True and shown["name"] is None, shown
        listed = coordinator.get(f"/v1/partnerships/{P}/subjects").json()
        assert "Dean Marsh" not in json.dumps(listed)
        assert photo(coordinator, subject_id, photo_id).status_code == 404


def test_an_erasure_after_a_backup_survives_restoring_it_over_the_live_folder(tmp_path: Path) -> None:
    live = tmp_path / "live"
    server, users = start_hub(live)
    try:
        with server.login(users["coordinator"]) as coordinator:
            erased, erased_photo = subject_with_photo(coordinator, "Dean Marsh", "red")
            kept, kept_photo = subject_with_photo(coordinator, "Kelly Shaw", "blue")
            made = hub(live, "backup", str(tmp_path / "backup"))
            assert made.returncode == 0, made.stderr
            erase(coordinator, erased)
        assert_erased(server, users, erased, erased_photo)
    finally:
        server.stop()
    assert erased in keys_db(tmp_path / "backup")[0], "the backup holds the key erased since"

    result = hub(live, "restore", str(tmp_path / "backup"))
    assert result.returncode == 0, result.stderr
    assert erased in result.stdout  # named among the erasures applied again
    held, destroyed = keys_db(live)
    assert erased not in held and erased in destroyed
    assert kept in held
    photos = {p.name for p in (live / "photos").iterdir()}
    assert not {f"{erased_photo}.full", f"{erased_photo}.thumb"} & photos
    assert {f"{kept_photo}.full", f"{kept_photo}.thumb"} <= photos
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("live.before-restore-")]
    assert erased in (live / "erasures.jsonl").read_text()  # the hub's erasure ledger, carried over

    verified = hub_verify(live)
    assert verified.returncode == 0, verified.stdout
    with running_server(live) as again:
        assert_erased(again, users, erased, erased_photo)
        with again.login(users["coordinator"]) as coordinator:
            shown = coordinator.get(f"/v1/partnerships/{P}/subjects/{kept}").json()
            assert shown["name"] == "Kelly Shaw"
            assert photo(coordinator, kept, kept_photo).status_code == 200
            # the restored log ends before the erasure; erasing again puts it in the log
            erase(coordinator, erased)
        kinds = [(e["type"], e["data"].get("subject_id")) for e in history(again, users["auditor"])]
        assert ("subject.erased", erased) in kinds


def test_an_erasure_after_the_last_backup_survives_losing_the_data_folder(tmp_path: Path) -> None:
    ledger = {"HUB_ERASURES": str(tmp_path / "elsewhere" / "erasures.jsonl")}
    live = tmp_path / "live"
    server, users = start_hub(live, env=ledger)
    try:
        with server.login(users["coordinator"]) as coordinator:
            erased, erased_photo = subject_with_photo(coordinator, "Dean Marsh", "red")
            made = hub(live, "backup", str(tmp_path / "backup"))
            assert made.returncode == 0, made.stderr
            erase(coordinator, erased)
    finally:
        server.stop()
    shutil.rmtree(live)  # the disk is lost; the backup and the ledger are elsewhere

    # without the ledger the old backup would bring the subject back
    unaware = hub(tmp_path / "unaware", "restore", str(tmp_path / "backup"))
    assert unaware.returncode == 0, unaware.stderr
    assert erased in keys_db(tmp_path / "unaware")[0]

    result = hub(live, "restore", str(tmp_path / "backup"), env=ledger)
    assert result.returncode == 0, result.stderr
    held, destroyed = keys_db(live)
    assert erased not in held and erased in destroyed
    assert not [p for p in (live / "photos").iterdir() if p.name.startswith(erased_photo)]
    with running_server(live) as again:
        assert_erased(again, users, erased, erased_photo)


# -- refusals ---------------------------------------------------------------------------


@dataclass
class Shelf:
    backup: Path  # a good backup of `original`
    target: Path  # a stopped hub's folder (the backup restored, never started)


@pytest.fixture(scope="module")
def shelf(original: Original, tmp_path_factory: pytest.TempPathFactory) -> Shelf:
    folder = tmp_path_factory.mktemp("shelf")
    made = hub(original.server.data, "backup", str(folder / "backup"))
    assert made.returncode == 0, made.stderr
    restored = hub(folder / "target", "restore", str(folder / "backup"))
    assert restored.returncode == 0, restored.stderr
    return Shelf(folder / "backup", folder / "target")


def flip_a_byte(backup: Path) -> None:
    log = backup / "log.db"
    body = bytearray(log.read_bytes())
    body[len(body) // 2] ^= 0x01
    log.write_bytes(bytes(body))


def truncate_the_log(backup: Path) -> None:
    log = backup / "log.db"
    log.write_bytes(log.read_bytes()[: log.stat().st_size // 2])


def truncate_the_log_and_its_manifest_entry(backup: Path) -> None:
    """As if a careless tool rewrote the manifest: the databases themselves must be checked."""
    truncate_the_log(backup)
    manifest = json.loads((backup / "manifest.json").read_text())
    body = (backup / "log.db").read_bytes()
    manifest["files"]["log.db"] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    (backup / "manifest.json").write_text(json.dumps(manifest))


def remove_a_photo(backup: Path) -> None:
    next(iter(sorted((backup / "photos").iterdir()))).unlink()


def remove_the_manifest(backup: Path) -> None:
    (backup / "manifest.json").unlink()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (flip_a_byte, "does not match its sha256"),
        (remove_a_photo, "is missing"),
        (remove_the_manifest, "no manifest.json"),
        (truncate_the_log, "truncated"),
        (truncate_the_log_and_its_manifest_entry, "log.db"),
    ],
)
def test_a_damaged_backup_is_refused_and_the_target_is_left_unchanged(
    shelf: Shelf, tmp_path: Path, damage: Callable[[Path], None], reason: str
) -> None:
    backup = tmp_path / "damaged"
    shutil.copytree(shelf.backup, backup)
    damage(backup)
    before = tree(shelf.target)
    result = hub(shelf.target, "restore", str(backup))
    print(result.stderr)
    assert result.returncode != 0
    assert "restore refused" in result.stderr and reason in result.stderr, result.stderr
    assert tree(shelf.target) == before
    assert sorted(p.name for p in shelf.target.parent.iterdir()) == ["backup", "target"]
    # into an empty folder, the same: it stays empty
    empty = tmp_path / "empty"
    assert hub(empty, "restore", str(backup)).returncode != 0
    assert list(empty.iterdir()) == []


def test_restore_refuses_a_folder_whose_hub_is_running(original: Original, shelf: Shelf) -> None:
    server = original.server
    before = history(server, original.users["auditor"])
    result = hub(server.data, "restore", str(shelf.backup))
    assert result.returncode != 0
    assert "is running" in result.stderr, result.stderr
    name = server.data.name
    beside = [p.name for p in server.data.parent.iterdir() if p.name.startswith((f".{name}.", f"{name}."))]
    assert beside == []  # no restored folder made beside it, nothing moved aside
    assert history(server, original.users["auditor"]) == before  # the same hub, serving on
