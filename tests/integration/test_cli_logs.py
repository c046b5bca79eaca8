"""`hub verify` and `hub replay` on real data folders, embedded (log.db) or a Kafka node's
(replica.db): they say which log they read and how much of it, and never take an empty
log for the history (a Kafka node's folder can hold an empty log.db beside its replica).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from hub.log.sqlite import Replicated, SqliteLog
from tests.contract.log_contract import event, pending
from tests.support import hub_command

NORTH, SOUTH = "north", "south"


def embedded_log(path: Path, alerts: dict[str, int]) -> int:
    """A log with each partnership registered and then `alerts[p]` commands of two events;
    the number of events written."""
    log = SqliteLog(path)
    try:
        for p, count in alerts.items():
            registered = event(
                type="partnership.registered", id=p, name=f"Partnership {p}", retention_days=90
            )
            log.append_sync(pending(p, "partnership", 0, events=[registered]))
            for n in range(count):
                log.append_sync(pending(p, f"alert-{n}", 0, n_events=2))
        return sum(len(list(log.read(p))) for p in alerts)
    finally:
        log.close()


def kafka_replica(path: Path, source: Path) -> None:
    """A node's replica.db, filled as a node fills it: each command's stamped events, read
    from the event topic (here: from `source`), with the partition offset they advance to."""
    history = SqliteLog(source)
    replica = SqliteLog(path, durable=False)
    try:

        async def replicate() -> None:
            offset = 0
            for p in history.partnerships():
                by_command: dict[str, list[dict[str, object]]] = {}
                for envelope in history.read(p):
                    by_command.setdefault(str(envelope["command_id"]), []).append(envelope)
                for command_id, events in by_command.items():
                    offset += 1
                    record = Replicated(events, p, command_id, {"id": command_id}, offset=(0, offset))
                    assert (await replica.replicate(record)).events, "the replica refused a record"

        asyncio.run(replicate())
    finally:
        history.close()
        replica.close()


def kafka_node_folder(folder: Path, tmp_path: Path) -> int:
    """A Kafka node's data folder: replica.db with two partnerships; its number of events."""
    folder.mkdir()
    written = embedded_log(tmp_path / "topic.db", {NORTH: 3, SOUTH: 2})
    kafka_replica(folder / "replica.db", tmp_path / "topic.db")
    return written


def empty_log(path: Path, kind: str) -> None:
    """An empty log.db: the hub's tables and no events, or a bare WAL-mode file (what
    `hub verify` used to leave in a folder without a log)."""
    if kind == "tables":
        SqliteLog(path).close()
    else:
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")


def head(path: Path, p: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT position FROM heads WHERE partnership = ?", (p,)).fetchone()[0])


def test_verify_says_it_read_the_embedded_log_and_checks_every_event(tmp_path: Path) -> None:
    written = embedded_log(tmp_path / "log.db", {NORTH: 3, SOUTH: 1})

    verified = hub_command(tmp_path, "verify")

    assert verified.returncode == 0, verified.stdout + verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[0] == f"reading {tmp_path / 'log.db'} (embedded log): 2 partnerships, {written} events"
    assert lines[1:] == [
        f"{NORTH}: ok, 7 events",
        f"{SOUTH}: ok, 3 events",
        f"checked {written} events in 2 partnerships: all ok",
    ]


@pytest.mark.parametrize("beside", ["tables", "bare"])
def test_a_kafka_nodes_replica_is_read_not_the_empty_log_db_beside_it(tmp_path: Path, beside: str) -> None:
    node = tmp_path / "node"
    written = kafka_node_folder(node, tmp_path)
    empty_log(node / "log.db", beside)
    stale = json.dumps({"format": 1, "views": {"elsewhere": {"position": 10**6}}})
    (node / "snapshot.json").write_text(stale)

    verified = hub_command(node, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reading = (
        f"reading {node / 'replica.db'} (Kafka replica of the event topic): 2 partnerships, {written} events"
    )
    assert verified.stdout.splitlines()[0] == reading
    assert f"{NORTH}: ok, 7 events" in verified.stdout
    assert f"checked {written} events in 2 partnerships: all ok" in verified.stdout

    replayed = hub_command(node, "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines()[0] == reading
    assert f"replayed {written} events into 2 partnerships" in replayed.stdout
    views = json.loads((node / "snapshot.json").read_bytes())["views"]
    assert sorted(views) == [NORTH, SOUTH]
    assert views[NORTH]["position"] == head(node / "replica.db", NORTH) == 7
    assert views[NORTH]["name"] == f"Partnership {NORTH}"


def test_two_logs_holding_events_are_refused_unless_log_names_one(tmp_path: Path) -> None:
    node = tmp_path / "node"
    written = kafka_node_folder(node, tmp_path)
    embedded_log(node / "log.db", {"west": 1})

    for command in ("verify", "replay"):
        refused = hub_command(node, command)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert str(node / "log.db") in refused.stderr and str(node / "replica.db") in refused.stderr
        assert "--log" in refused.stderr
    assert not (node / "snapshot.json").exists()

    chosen = hub_command(node, "verify", "--log", str(node / "replica.db"))
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert f"checked {written} events in 2 partnerships: all ok" in chosen.stdout
    other = hub_command(node, "replay", "--log", str(node / "log.db"))
    assert other.returncode == 0, other.stderr
    assert sorted(json.loads((node / "snapshot.json").read_bytes())["views"]) == ["west"]


def test_a_replica_is_known_by_what_it_holds_under_any_name(tmp_path: Path) -> None:
    node = tmp_path / "node"
    written = kafka_node_folder(node, tmp_path)
    copy = tmp_path / "node-b-copy.db"
    with sqlite3.connect(node / "replica.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)

    verified = hub_command(tmp_path / "elsewhere", "verify", "--log", str(copy))

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.splitlines()[0] == (
        f"reading {copy} (Kafka replica of the event topic): 2 partnerships, {written} events"
    )


def test_verify_of_a_folder_without_a_log_exits_2_and_leaves_it_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()

    for command in ("verify", "replay"):
        result = hub_command(folder, command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"no log in {folder}" in result.stderr
        assert "log.db" in result.stderr and "replica.db" in result.stderr
    assert list(folder.iterdir()) == []  # no empty log.db made on the way


def test_replay_refuses_to_replace_a_snapshot_with_an_empty_rebuild(tmp_path: Path) -> None:
    empty_log(tmp_path / "log.db", "tables")
    snapshot = json.dumps({"format": 1, "views": {NORTH: {"position": 5000}}}).encode()
    (tmp_path / "snapshot.json").write_bytes(snapshot)

    replayed = hub_command(tmp_path, "replay")

    assert replayed.returncode == 2, replayed.stdout + replayed.stderr
    assert f"reading {tmp_path / 'log.db'} (embedded log): 0 partnerships, 0 events" in replayed.stdout
    assert "has no events" in replayed.stderr and str(tmp_path / "snapshot.json") in replayed.stderr
    assert (tmp_path / "snapshot.json").read_bytes() == snapshot


def test_verify_names_the_first_bad_position_and_counts_the_failures(tmp_path: Path) -> None:
    node = tmp_path / "node"
    kafka_node_folder(node, tmp_path)
    with sqlite3.connect(node / "replica.db") as db:
        db.execute(
            "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), '\"n\":1', '\"n\":9') AS BLOB) "
            "WHERE partnership = ? AND position = 3",
            (NORTH,),
        )
        db.execute("DELETE FROM events WHERE partnership = ?", (SOUTH,))  # its head stays

    verified = hub_command(node, "verify")

    assert verified.returncode == 1, verified.stdout + verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[0].endswith("(Kafka replica of the event topic): 2 partnerships, 7 events")
    assert lines[1] == f"{NORTH}: FAILED at position 3 (hash mismatch)"
    assert lines[2] == f"{SOUTH}: FAILED at position 1 (events missing from the end)"
    assert lines[3] == "checked 3 events in 2 partnerships: 2 FAILED"  # up to each first break
