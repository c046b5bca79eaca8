"""Durability and tamper evidence of the embedded log, through a real `hub serve`.

- Every write answered 201 survives `kill -9` in the middle of a stream of writes, the
  positions stay gapless and the hash chain still verifies.
- One byte changed in log.db, behind the hub's back, is found by `hub verify` and by
  `GET .../audit/verify`, which name the altered event's position.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, create, hub_verify, make_admin, set_up_partnership

P = "dur"


def _setup(data: Path) -> tuple[Server, dict[str, str]]:
    make_admin(data)
    server = Server(data).start()
    admin = server.login("admin")
    users = set_up_partnership(admin, P)
    admin.close()
    return server, users


def _history(server: Server, username: str) -> list[dict[str, Any]]:
    with server.login(username) as auditor:
        answer = auditor.get(f"/v1/partnerships/{P}/audit/events")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_every_write_answered_201_survives_kill_9(tmp_path: Path) -> None:
    server, users = _setup(tmp_path)
    token = server.token(users["cctv_operator"])
    run = uuid.uuid4().hex[:8]
    answered: list[tuple[str, str, list[int]]] = []
    refused: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            i = 0
            while not stop.is_set():
                text = f"kill9 {run} writer {k} #{i}"
                try:
                    answer = client.post(f"/v1/partnerships/{P}/alerts", json={"text": text})
                except httpx.HTTPError:
                    return  # the server is gone: this write may or may not have landed
                with lock:
                    if answer.status_code == 201:
                        body = answer.json()
                        answered.append((body["id"], text, body["positions"]))
                    else:
                        refused.append(f"{answer.status_code} {answer.text}")
                i += 1

    writers = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(4)]
    for thread in writers:
        thread.start()
    try:
        time.sleep(2)
        server.kill()  # kill -9 while writes are in flight
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=20)
    print(f"{len(answered)} writes answered 201 before kill -9")
    assert not refused, refused[:5]
    assert len(answered) >= 20, f"only {len(answered)} writes were answered before the kill"

    again = Server(tmp_path).start()  # same data folder, a new port
    try:
        history = _history(again, users["auditor"])
        positions = [e["position"] for e in history]
        assert positions == list(range(1, len(history) + 1)), "positions must stay gapless"
        alerts = {e["data"]["alert_id"]: e for e in history if e["type"] == "alert.broadcast"}
        missing = [(i, text) for i, text, _ in answered if i not in alerts]
        assert not missing, f"{len(missing)} of {len(answered)} answered writes lost, e.g. {missing[:3]}"
        for alert_id, text, answer_positions in answered:
            assert alerts[alert_id]["data"]["text"] == text
            assert [alerts[alert_id]["position"]] == answer_positions

        # The views were rebuilt from the log too: the radio log shows every answered alert.
        with again.login(users["police"]) as police:
            listed = police.get(f"/v1/partnerships/{P}/alerts", params={"limit": 5000})
            assert listed.status_code == 200, listed.text
            shown = {a["alert_id"] for a in listed.json()}
            assert {i for i, _, _ in answered} <= shown
            # And it takes writes again, at the next position.
            after = create(police, f"/v1/partnerships/{P}/alerts", {"text": f"after the crash {run}"})
            assert after["positions"] == [len(history) + 1]
        with again.login(users["auditor"]) as auditor:
            verified = auditor.get(f"/v1/partnerships/{P}/audit/verify").json()
            assert verified["ok"] is True, verified
    finally:
        again.stop()

    result = hub_verify(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{P}: ok" in result.stdout


TARGET = b"TAMPER-ME-12345"
CHANGED = b"TAMPER-ME-12346"


def _checkpoint(db: Path) -> None:
    """Fold the WAL into log.db (the server is stopped), so every event's bytes are in log.db."""
    connection = sqlite3.connect(db)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "could not checkpoint log.db: is a server still running?"
    finally:
        connection.close()


def test_one_changed_byte_is_found_and_its_position_named(tmp_path: Path) -> None:
    server, users = _setup(tmp_path)
    try:
        with server.login(users["cctv_operator"]) as cctv:
            for i in range(5):
                create(cctv, f"/v1/partnerships/{P}/alerts", {"text": f"before {i}"})
            target = create(
                cctv, f"/v1/partnerships/{P}/alerts", {"text": f"{TARGET.decode()} suspect in blue hoodie"}
            )
            for i in range(5):
                create(cctv, f"/v1/partnerships/{P}/alerts", {"text": f"after {i}"})
        [position] = target["positions"]
    finally:
        server.stop()  # SIGTERM: a clean stop

    db = tmp_path / "log.db"
    _checkpoint(db)
    before = hub_verify(tmp_path)
    assert before.returncode == 0, before.stdout + before.stderr

    raw = bytearray(db.read_bytes())
    wal = tmp_path / "log.db-wal"
    assert not wal.exists() or TARGET not in wal.read_bytes(), "the event is still in the WAL"
    assert raw.count(TARGET) == 1, f"expected the text once in log.db, found it {raw.count(TARGET)} times"
    at = raw.index(TARGET)
    raw[at : at + len(TARGET)] = CHANGED  # one character, in place
    db.write_bytes(bytes(raw))

    result = hub_verify(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"hub verify did not notice the change: {output}"
    assert f"position {position}" in output, output
    assert f"{P}: FAILED" in output, output

    again = Server(tmp_path).start()
    try:
        with again.login(users["auditor"]) as auditor:
            verified = auditor.get(f"/v1/partnerships/{P}/audit/verify")
            assert verified.status_code == 200, verified.text
            assert verified.json()["ok"] is False, verified.json()
            assert verified.json()["first_bad_position"] == position, verified.json()
    finally:
        again.stop()


@pytest.mark.parametrize("change", ["remove", "swap", "remove_last"])
def test_a_removed_or_reordered_event_is_found(tmp_path: Path, change: str) -> None:
    """Not just altered bytes: deleting or swapping rows is found too, and its position named.

    `remove_last` deletes the newest event: no later event links to it, so only what the hub
    keeps outside the chain (the positions it answered, the snapshot's cursor) shows it gone.
    """
    server, users = _setup(tmp_path)
    try:
        with server.login(users["cctv_operator"]) as cctv:
            answers = [create(cctv, f"/v1/partnerships/{P}/alerts", {"text": f"row {i}"}) for i in range(6)]
    finally:
        server.stop()
    first, second = answers[2]["positions"][0], answers[3]["positions"][0]
    if change == "remove_last":
        first = answers[-1]["positions"][0]
    db = tmp_path / "log.db"
    _checkpoint(db)
    connection = sqlite3.connect(db)
    try:
        if change in ("remove", "remove_last"):
            connection.execute("DELETE FROM events WHERE partnership = ? AND position = ?", (P, first))
        else:
            rows = {
                pos: connection.execute(
                    "SELECT body, hash FROM events WHERE partnership = ? AND position = ?", (P, pos)
                ).fetchone()
                for pos in (first, second)
            }
            for pos, other in ((first, second), (second, first)):
                connection.execute(
                    "UPDATE events SET body = ?, hash = ? WHERE partnership = ? AND position = ?",
                    (rows[other][0], rows[other][1], P, pos),
                )
        connection.commit()
    finally:
        connection.close()
    result = hub_verify(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"position {first}" in output, output
