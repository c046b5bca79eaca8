"""The EventLog contract on the embedded SQLite log, plus what only SQLite can show:
tampering with the file, and group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.log.port import Appended, Conflict, Pending
from hub.log.sqlite import SqliteLog
from tests.contract.log_contract import LogContract, event, parse_time, pending, run


class TestSqliteLog(LogContract):
    def make_log(self, tmp_path: Path) -> SqliteLog:
        return SqliteLog(tmp_path / "log.db")


@pytest.fixture
def sqlite_log(tmp_path: Path) -> Iterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    try:
        yield log
    finally:
        log.close()


def filled(log: SqliteLog, n: int = 6) -> None:
    run(log.append(pending("north", "a", 0, n)))
    run(log.append(pending("south", "a", 0, 2)))


def tamper(log: SqliteLog, sql: str, *args: Any) -> None:
    with sqlite3.connect(log.path, isolation_level=None) as db:
        db.execute(sql, args)
    db.close()


def body_at(log: SqliteLog, position: int) -> dict[str, Any]:
    with sqlite3.connect(log.path) as db:
        (body,) = db.execute(
            "SELECT body FROM events WHERE partnership = 'north' AND position = ?", (position,)
        ).fetchone()
    db.close()
    return dict(orjson.loads(body))


# -- tamper evidence on the file --------------------------------------------------------------


def test_an_altered_body_fails_verify_at_its_position(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    changed = body_at(sqlite_log, 3)
    changed["data"]["n"] = 999
    tamper(
        sqlite_log,
        "UPDATE events SET body = ? WHERE partnership = 'north' AND position = 3",
        orjson.dumps(changed, option=orjson.OPT_SORT_KEYS),
    )
    result = sqlite_log.verify("north")
    assert not result.ok
    assert result.first_bad_position == 3
    assert result.reason == "hash mismatch"
    assert sqlite_log.verify("south").ok  # chains are per partnership


def test_an_altered_body_with_its_hash_recomputed_breaks_the_next_link(sqlite_log: SqliteLog) -> None:
    from hub.log.chain import canonical, chain

    filled(sqlite_log)
    changed = body_at(sqlite_log, 3)
    changed["actor"] = {"user": "someone.else", "role": "coordinator"}
    [second] = sqlite_log.read("north", 2, 2)
    body = canonical(changed)
    tamper(
        sqlite_log,
        "UPDATE events SET body = ?, hash = ? WHERE partnership = 'north' AND position = 3",
        body,
        chain(second["hash"], body),
    )
    result = sqlite_log.verify("north")
    assert not result.ok and result.first_bad_position == 4


def test_a_deleted_event_fails_verify_at_its_position(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    tamper(sqlite_log, "DELETE FROM events WHERE partnership = 'north' AND position = 4")
    result = sqlite_log.verify("north")
    assert not result.ok
    assert result.first_bad_position == 4


def test_swapped_bodies_fail_verify_at_the_first_of_them(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    two, five = body_at(sqlite_log, 2), body_at(sqlite_log, 5)
    tamper(
        sqlite_log,
        "UPDATE events SET body = ? WHERE partnership = 'north' AND position = 2",
        orjson.dumps(five, option=orjson.OPT_SORT_KEYS),
    )
    tamper(
        sqlite_log,
        "UPDATE events SET body = ? WHERE partnership = 'north' AND position = 5",
        orjson.dumps(two, option=orjson.OPT_SORT_KEYS),
    )
    result = sqlite_log.verify("north")
    assert not result.ok
    assert result.first_bad_position == 2


def test_swapped_positions_fail_verify(sqlite_log: SqliteLog) -> None:
    """Reordering whole rows (body and hash move together) is caught too."""
    filled(sqlite_log)
    tamper(sqlite_log, "UPDATE events SET position = -1 WHERE partnership = 'north' AND position = 2")
    tamper(sqlite_log, "UPDATE events SET position = 2 WHERE partnership = 'north' AND position = 3")
    tamper(sqlite_log, "UPDATE events SET position = 3 WHERE partnership = 'north' AND position = -1")
    result = sqlite_log.verify("north")
    assert not result.ok
    assert result.first_bad_position == 2


def test_an_event_moved_to_another_partnership_fails_verify(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    tamper(sqlite_log, "DELETE FROM events WHERE partnership = 'south' AND position = 2")
    tamper(
        sqlite_log,
        "UPDATE events SET partnership = 'south', position = 2 WHERE partnership = 'north' AND position = 6",
    )
    result = sqlite_log.verify("south")
    assert not result.ok and result.first_bad_position == 2


def test_garbage_in_a_body_fails_verify(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    tamper(
        sqlite_log, "UPDATE events SET body = ? WHERE partnership = 'north' AND position = 1", b"{not json"
    )
    result = sqlite_log.verify("north")
    assert not result.ok and result.first_bad_position == 1


# -- group commit -------------------------------------------------------------------------------


def counting_commits(log: SqliteLog, gate: threading.Event | None = None) -> list[int]:
    """Wrap the writer's `_commit` to record each batch's size; the first may wait on `gate`."""
    sizes: list[int] = []
    original: Callable[[list[Any]], None] = log._commit

    def counted(batch: list[Any]) -> None:
        sizes.append(len(batch))
        if gate is not None and len(sizes) == 1:
            gate.wait(timeout=30)
        original(batch)

    log._commit = counted  # type: ignore[method-assign]
    return sizes


def test_group_commit_shares_one_commit_between_many_appends(sqlite_log: SqliteLog) -> None:
    gate = threading.Event()
    sizes = counting_commits(sqlite_log, gate)

    async def go() -> list[Appended]:
        first = asyncio.ensure_future(sqlite_log.append(pending("north", "s0", 0)))
        deadline = time.monotonic() + 20
        while not sizes and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # the writer has taken the first and waits at the gate
        rest = asyncio.gather(*(sqlite_log.append(pending("north", f"s{i}", 0)) for i in range(1, 200)))
        while sqlite_log._queue.qsize() < 199 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # the rest queue up behind it
        gate.set()
        return [await first, *await rest]

    results = run(go())
    assert len(results) == 200
    assert sum(sizes) == 200
    assert sizes == [1, 199]
    assert sqlite_log.head("north") == 200
    assert sqlite_log.verify("north").ok


def test_group_commit_batches_without_help(sqlite_log: SqliteLog) -> None:
    sizes = counting_commits(sqlite_log)

    async def go() -> list[Appended]:
        return await asyncio.gather(*(sqlite_log.append(pending("north", f"s{i}", 0)) for i in range(200)))

    run(go())
    assert sum(sizes) == 200
    assert len(sizes) < 200
    assert [e["position"] for e in sqlite_log.read("north")] == list(range(1, 201))


def test_append_sync_is_the_same_log(sqlite_log: SqliteLog) -> None:
    first = sqlite_log.append_sync(pending("north", "a", 0, 2))
    assert first.answer["positions"] == [1, 2]
    second = run(sqlite_log.append(pending("north", "a", 2)))
    assert second.answer["positions"] == [3]


def test_event_ids_begin_with_the_milliseconds_they_were_made(sqlite_log: SqliteLog) -> None:
    run(sqlite_log.append(pending("north", "a", 0, 3)))
    for envelope in sqlite_log.read("north"):
        made = int(envelope["id"][:12], 16) / 1000
        recorded = parse_time(envelope["recorded_at"]).timestamp()
        assert abs(made - recorded) < 2
        assert len(envelope["id"]) == 32


def test_the_file_is_in_wal_mode(sqlite_log: SqliteLog) -> None:
    filled(sqlite_log)
    with sqlite3.connect(sqlite_log.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_second_log_on_the_same_file_cannot_fork_positions(tmp_path: Path) -> None:
    """Two writers on one file: the second must refuse, not give out a position twice."""
    first = SqliteLog(tmp_path / "log.db")
    second = SqliteLog(tmp_path / "log.db")
    try:
        run(first.append(pending("north", "a", 0)))
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do
            run(second.append(pending("north", "b", 0)))
        assert [e["position"] for e in first.read("north")] == [1]
    finally:
        first.close()
        second.close()


# -- failure isolation ------------------------------------------------------------------------------


def test_a_failing_on_commit_hook_does_not_stop_the_log(sqlite_log: SqliteLog) -> None:
    """Regression: a hook that raised (e.g. its event loop closed) killed the writer thread."""

    def broken(events: list[dict[str, Any]]) -> None:
        raise RuntimeError("event loop is closed")

    sqlite_log.on_commit = broken

    async def go() -> tuple[Appended, Appended]:
        first = await asyncio.wait_for(sqlite_log.append(pending("north", "a", 0)), 3)
        sqlite_log.on_commit = None
        second = await asyncio.wait_for(sqlite_log.append(pending("north", "a", 1)), 3)
        return first, second

    first, second = run(go())
    assert first.answer["positions"] == [1]
    assert second.answer["positions"] == [2]


def test_one_bad_command_does_not_fail_the_others_in_its_batch(sqlite_log: SqliteLog) -> None:
    """Regression: one unserialisable command failed every command in its group commit."""

    gate = threading.Event()
    sizes = counting_commits(sqlite_log, gate)
    bad = Pending("north", "bad", 0, "bad", [event(0, venues={"a-set"})], {})

    async def go() -> list[Any]:
        blocker = asyncio.ensure_future(sqlite_log.append(pending("north", "first", 0)))
        while not sizes:
            await asyncio.sleep(0.005)
        tasks = asyncio.gather(
            sqlite_log.append(pending("north", "good-1", 0)),
            sqlite_log.append(bad),
            sqlite_log.append(pending("north", "good-2", 0)),
            return_exceptions=True,
        )
        while sqlite_log._queue.qsize() < 3:
            await asyncio.sleep(0.005)
        gate.set()
        await blocker
        return list(await tasks)

    good1, failed, good2 = run(go())
    assert isinstance(failed, Exception)
    assert isinstance(good1, Appended), good1
    assert isinstance(good2, Appended), good2


# -- memory ---------------------------------------------------------------------------------


def test_the_writer_keeps_a_bounded_number_of_stream_versions(tmp_path: Path) -> None:
    """Every alert, incident and sighting is a stream of its own: the writer keeps the
    versions of the most recent streams only (found by bench/soak.py), and a stream it
    forgot is looked up, so its expected version is still checked."""
    log = SqliteLog(tmp_path / "log.db", versions_kept=10)
    try:
        for k in range(50):
            run(log.append(pending("north", f"alert-{k}", 0, 2)))
        assert len(log._versions) <= 10
        with pytest.raises(Conflict):  # alert-0 is at version 2, long forgotten here
            run(log.append(pending("north", "alert-0", 0)))
        run(log.append(pending("north", "alert-0", 2)))
        assert log.stream_version("north", "alert-0") == 3
        assert len(log._versions) <= 10
    finally:
        log.close()
