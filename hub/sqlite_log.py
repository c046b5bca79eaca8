"""The embedded log: one SQLite file in WAL mode, written by one thread with group commit.

Concurrent appends queue up; the writer takes everything waiting, writes it in one
transaction and fsyncs once, so many small writes share one commit. An append is
answered only after its commit, so a write answered 201 survives `kill -9`.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from hub.log import (
    GENESIS,
    Appended,
    Conflict,
    Pending,
    Verification,
    canonical,
    chain,
    check_chain,
    new_id,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    partnership TEXT NOT NULL,
    position INTEGER NOT NULL,
    stream TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    body BLOB NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (partnership, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (partnership, stream, stream_version);
CREATE TABLE IF NOT EXISTS commands (
    partnership TEXT NOT NULL,
    command_id TEXT NOT NULL,
    answer BLOB NOT NULL,
    PRIMARY KEY (partnership, command_id)
) WITHOUT ROWID;
"""

MAX_BATCH = 1000


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteLog:
    """The EventLog port on a SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write = _connect(self.path)
        self._write.executescript(SCHEMA)
        self._readers = threading.local()
        self._heads: dict[str, tuple[int, str]] = {}
        for partnership, position, hash_ in self._write.execute(
            "SELECT partnership, position, hash FROM events e WHERE position = "
            "(SELECT MAX(position) FROM events WHERE partnership = e.partnership)"
        ):
            self._heads[partnership] = (position, hash_)
        self._versions: dict[tuple[str, str], int] = {}
        self._queue: queue.Queue[tuple[Pending, Future[Appended]] | None] = queue.Queue()
        # Called from the writer thread with each commit's events, in log order, before
        # any appender is answered; the hub hands them to its event loop from there.
        self.on_commit: Callable[[list[dict[str, Any]]], None] | None = None
        self._writer = threading.Thread(target=self._run, name="sqlite-log-writer", daemon=True)
        self._writer.start()

    # -- writing ---------------------------------------------------------------------

    async def append(self, pending: Pending) -> Appended:
        future: Future[Appended] = Future()
        self._queue.put((pending, future))
        return await asyncio.wrap_future(future)

    def append_sync(self, pending: Pending) -> Appended:
        future: Future[Appended] = Future()
        self._queue.put((pending, future))
        return future.result()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _version(self, partnership: str, stream: str) -> int:
        key = (partnership, stream)
        if key not in self._versions:
            row = self._write.execute(
                "SELECT MAX(stream_version) FROM events WHERE partnership = ? AND stream = ?",
                key,
            ).fetchone()
            self._versions[key] = row[0] or 0
        return self._versions[key]

    def _commit(self, batch: list[tuple[Pending, Future[Appended]]]) -> None:
        heads = dict(self._heads)
        versions: dict[tuple[str, str], int] = {}
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        rows: list[tuple[Any, ...]] = []
        answers: list[tuple[str, str, bytes]] = []
        outcomes: list[Appended | BaseException] = []
        recorded_at = _now()
        try:
            for pending, _ in batch:
                p = pending.partnership
                first = seen.get((p, pending.command_id)) or self.answer_for(p, pending.command_id)
                if first is not None:
                    outcomes.append(Appended(first, [], duplicate=True))
                    continue
                key = (p, pending.stream)
                version = versions.get(key, self._version(p, pending.stream))
                if version != pending.expected_version:
                    outcomes.append(
                        Conflict(
                            f"stream {pending.stream} is at version {version}, not {pending.expected_version}"
                        )
                    )
                    continue
                position, prev = heads.get(p, (0, GENESIS))
                stored = []
                for event in pending.events:
                    position += 1
                    version += 1
                    envelope = {
                        "id": new_id(),
                        "type": event["type"],
                        "schema_version": 1,
                        "partnership": p,
                        "stream": pending.stream,
                        "stream_version": version,
                        "position": position,
                        "occurred_at": event["occurred_at"],
                        "recorded_at": recorded_at,
                        "actor": event["actor"],
                        "command_id": pending.command_id,
                        "correlation_id": event.get("correlation_id") or pending.command_id,
                        "causation_id": event.get("causation_id"),
                        "data": event["data"],
                    }
                    body = canonical(envelope)
                    prev = envelope["hash"] = chain(prev, body)
                    rows.append((p, position, pending.stream, version, body, prev))
                    stored.append(envelope)
                heads[p] = (position, prev)
                versions[key] = version
                answer = {**pending.answer, "positions": [e["position"] for e in stored]}
                seen[(p, pending.command_id)] = answer
                answers.append((p, pending.command_id, orjson.dumps(answer)))
                outcomes.append(Appended(answer, stored))
            if rows or answers:
                self._write.execute("BEGIN IMMEDIATE")
                try:
                    self._write.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
                    self._write.executemany("INSERT INTO commands VALUES (?, ?, ?)", answers)
                    self._write.execute("COMMIT")
                except BaseException:
                    self._write.execute("ROLLBACK")
                    raise
        except BaseException as error:  # the whole batch failed: nobody was written
            for _, future in batch:
                future.set_exception(error)
            return
        self._heads = heads
        self._versions.update(versions)
        committed = [e for outcome in outcomes if isinstance(outcome, Appended) for e in outcome.events]
        if committed and self.on_commit is not None:
            self.on_commit(committed)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    # -- reading ---------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = self._readers.connection = _connect(self.path)
        return connection

    def answer_for(self, partnership: str, command_id: str) -> dict[str, Any] | None:
        row = (
            self._reader()
            .execute(
                "SELECT answer FROM commands WHERE partnership = ? AND command_id = ?",
                (partnership, command_id),
            )
            .fetchone()
        )
        return orjson.loads(row[0]) if row else None

    def read(
        self, partnership: str, from_position: int = 1, to_position: int | None = None
    ) -> Iterator[dict[str, Any]]:
        last = to_position if to_position is not None else 2**62
        for body, hash_ in self._reader().execute(
            "SELECT body, hash FROM events WHERE partnership = ? AND position BETWEEN ? AND ? "
            "ORDER BY position",
            (partnership, from_position, last),
        ):
            envelope = orjson.loads(body)
            envelope["hash"] = hash_
            yield envelope

    def read_stream(self, partnership: str, stream: str) -> list[dict[str, Any]]:
        rows = (
            self._reader()
            .execute(
                "SELECT body, hash FROM events WHERE partnership = ? AND stream = ? ORDER BY stream_version",
                (partnership, stream),
            )
            .fetchall()
        )
        return [{**orjson.loads(body), "hash": hash_} for body, hash_ in rows]

    def partnerships(self) -> list[str]:
        return sorted(self._heads)

    def head(self, partnership: str) -> int:
        return self._heads.get(partnership, (0, GENESIS))[0]

    def verify(self, partnership: str) -> Verification:
        rows = self._reader().execute(
            "SELECT body, hash FROM events WHERE partnership = ? ORDER BY position",
            (partnership,),
        )
        return check_chain(partnership, ((bytes(body), hash_) for body, hash_ in rows))

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._write.close()
