"""The embedded log: one SQLite file in WAL mode, written by one thread with group commit.

Concurrent appends queue up; the writer takes everything waiting, writes it in one
transaction and fsyncs once, so many small writes share one commit. An append is
answered only after its commit, so a write answered 201 survives `kill -9`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import orjson

from hub import failpoints
from hub.log.chain import (
    GENESIS,
    answer_of,
    canonical,
    chain,
    check_chain,
    expect_version,
    recorded_now,
    stamp_bodies,
)
from hub.log.port import Appended, Pending, Verification

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
CREATE TABLE IF NOT EXISTS heads (
    partnership TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS offsets (
    partition INTEGER PRIMARY KEY,
    next_offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    partnership TEXT NOT NULL,
    command_id TEXT NOT NULL,
    answer BLOB NOT NULL,
    PRIMARY KEY (partnership, command_id)
) WITHOUT ROWID;
"""

MAX_BATCH = 1000
# Streams whose version the writer keeps in memory, the most recently written; any other
# is looked up (one query a batch). Every alert, incident and sighting is a stream of its
# own, so an unbounded cache grew with the log (bench/soak.py).
VERSIONS_KEPT = 5_000
log = logging.getLogger("hub.log")


@dataclass
class Replicated:
    """A record from the Kafka event topic: events stamped by the writer, its answer,
    and the (partition, next offset) it advances the replica to."""

    events: list[dict[str, Any]]
    partnership: str | None = None
    command_id: str | None = None
    answer: dict[str, Any] | None = None
    offset: tuple[int, int] | None = None


@dataclass
class _Staged:
    heads: dict[str, tuple[int, str]]
    recorded_at: str
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    replicated: list[tuple[Any, ...]] = field(default_factory=list)
    answers: list[tuple[str, str, bytes]] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)


def _connect(path: Path, durable: bool = True) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    # A replica of Kafka (durable=False) can always be refilled from the broker.
    connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def _row(envelope: dict[str, Any], body: bytes | None = None) -> tuple[Any, ...]:
    return (
        envelope["partnership"],
        envelope["position"],
        envelope["stream"],
        envelope["stream_version"],
        body if body is not None else canonical(envelope),
        envelope["hash"],
    )


_Reply = Union["asyncio.Future[Appended]", "Future[Appended]"]


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[n : n + size] for n in range(0, len(values), size)]


def _settle_all(replies: list[tuple[_Reply, Appended | BaseException]]) -> None:
    """Answer a batch: thread futures at once, each event loop's futures in one callback.

    One wake-up per loop per commit, queued after the commit hook's, so the views have
    the events before any writer resumes.
    """
    by_loop: dict[
        asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Appended], Appended | BaseException]]
    ] = {}
    for reply, outcome in replies:
        if isinstance(reply, asyncio.Future):
            by_loop.setdefault(reply.get_loop(), []).append((reply, outcome))
        elif isinstance(outcome, BaseException):
            reply.set_exception(outcome)
        else:
            reply.set_result(outcome)
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, pairs)
        except RuntimeError:  # that loop has closed: nobody is waiting any more
            log.warning("an event loop closed before its appends were answered")


def _settle(pairs: list[tuple[asyncio.Future[Appended], Appended | BaseException]]) -> None:
    for future, outcome in pairs:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class SqliteReader:
    """The reading half of the log on a SQLite file, one connection per thread.

    On its own it reads a file another process writes (a follower of `hub serve
    --processes`, see hub/log/relay.py): heads come from the file. SqliteLog adds the writer.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._readers = threading.local()

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = self._readers.connection = _connect(self.path)
        return connection

    def heads(self) -> dict[str, tuple[int, str]]:
        rows = self._reader().execute("SELECT partnership, position, hash FROM heads")
        return {partnership: (position, hash_) for partnership, position, hash_ in rows}

    def partnerships(self) -> list[str]:
        return sorted(self.heads())

    def head_and_hash(self, partnership: str) -> tuple[int, str]:
        return self.heads().get(partnership, (0, GENESIS))

    def head(self, partnership: str) -> int:
        return self.head_and_hash(partnership)[0]

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

    def stream_version(self, partnership: str, stream: str) -> int:
        row = (
            self._reader()
            .execute(
                "SELECT MAX(stream_version) FROM events WHERE partnership = ? AND stream = ?",
                (partnership, stream),
            )
            .fetchone()
        )
        return int(row[0] or 0)

    def verify(self, partnership: str) -> Verification:
        rows = self._reader().execute(
            "SELECT body, hash FROM events WHERE partnership = ? ORDER BY position",
            (partnership,),
        )
        result = check_chain(partnership, ((bytes(body), hash_) for body, hash_ in rows))
        head = (
            self._reader()
            .execute("SELECT position FROM heads WHERE partnership = ?", (partnership,))
            .fetchone()
        )
        if result.ok and head is not None and result.checked < head[0]:
            return Verification(
                partnership, False, result.checked, result.checked + 1, "events missing from the end"
            )
        return result

    def close(self) -> None:
        connection = getattr(self._readers, "connection", None)
        if connection is not None:
            connection.close()
            self._readers.connection = None


class SqliteLog(SqliteReader):
    """The EventLog port on a SQLite file."""

    def __init__(self, path: Path | str, durable: bool = True, versions_kept: int = VERSIONS_KEPT) -> None:
        super().__init__(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write = _connect(self.path, durable)
        self._write.executescript(SCHEMA)
        self._heads = self._read_heads()
        self._versions: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._versions_kept = versions_kept
        # Kafka replicas: records from the event topic found void, per partnership.
        self.voided: dict[str, int] = {}
        self._queue: queue.Queue[tuple[Pending | Replicated, _Reply] | None] = queue.Queue()
        # Called from the writer thread with each commit's events, in log order, before
        # any appender is answered; the hub hands them to its event loop from there.
        self.on_commit: Callable[[list[dict[str, Any]]], None] | None = None
        self._writer = threading.Thread(target=self._run, name="sqlite-log-writer", daemon=True)
        self._writer.start()

    def _read_heads(self) -> dict[str, tuple[int, str]]:
        rows = self._write.execute(
            "SELECT partnership, position, hash FROM events e WHERE position = "
            "(SELECT MAX(position) FROM events WHERE partnership = e.partnership)"
        )
        return {partnership: (position, hash_) for partnership, position, hash_ in rows}

    # -- writing ---------------------------------------------------------------------

    async def append(self, pending: Pending) -> Appended:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.put((pending, future))
        return await future

    def subscribe(self, on_commit: Callable[[list[dict[str, Any]]], None]) -> None:
        self.on_commit = on_commit

    def append_sync(self, pending: Pending) -> Appended:
        future: Future[Appended] = Future()
        self._queue.put((pending, future))
        return future.result()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch: list[tuple[Pending | Replicated, _Reply]] = [item]
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
        version = self._versions.get(key)
        if version is None:
            row = self._write.execute(
                "SELECT MAX(stream_version) FROM events WHERE partnership = ? AND stream = ?",
                key,
            ).fetchone()
            version = self._versions[key] = row[0] or 0
        return version

    def _keep_versions(self, versions: dict[tuple[str, str], int]) -> None:
        """Note a commit's stream versions as the most recent; forget the oldest past the bound."""
        for key, version in versions.items():
            self._versions[key] = version
            self._versions.move_to_end(key)
        while len(self._versions) > self._versions_kept:
            self._versions.popitem(last=False)

    def _commit(self, batch: list[tuple[Pending | Replicated, _Reply]]) -> None:
        """Stage every queued write, then write them all in one transaction and one fsync."""
        staged = _Staged(dict(self._heads), recorded_now())
        self._prefetch([item for item, _ in batch if isinstance(item, Pending)], staged)
        outcomes: list[Appended | BaseException] = []
        for item, _ in batch:
            try:
                if isinstance(item, Replicated):
                    outcomes.append(self._stage_replicated(item, staged))
                else:
                    outcomes.append(self._stage(item, staged))
            except Exception as error:  # this write is refused; the others go ahead
                outcomes.append(error)
        try:
            if staged.rows or staged.answers or staged.offsets:
                failpoints.hit("log.before_commit")
                self._write.execute("BEGIN IMMEDIATE")
                try:
                    # A position taken by another writer on the same file fails the batch.
                    self._write.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", staged.rows)
                    self._write.executemany(
                        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", staged.replicated
                    )
                    self._write.executemany("INSERT OR IGNORE INTO commands VALUES (?, ?, ?)", staged.answers)
                    self._write.executemany("INSERT OR REPLACE INTO offsets VALUES (?, ?)", staged.offsets)
                    # The head is kept apart from the events, so a removed last event shows.
                    moved = [(p, *head) for p, head in staged.heads.items() if self._heads.get(p) != head]
                    self._write.executemany("INSERT OR REPLACE INTO heads VALUES (?, ?, ?)", moved)
                    self._write.execute("COMMIT")
                except BaseException:
                    self._write.execute("ROLLBACK")
                    raise
        except BaseException as error:  # the transaction failed: nobody was written
            self._versions.clear()
            self._heads = self._read_heads()
            _settle_all([(reply, error) for _, reply in batch])
            return
        failpoints.hit("log.after_commit")
        self._heads = staged.heads
        self._keep_versions(staged.versions)
        committed = [e for outcome in outcomes if isinstance(outcome, Appended) for e in outcome.events]
        if committed and self.on_commit is not None:
            try:
                self.on_commit(committed)
            except Exception:
                log.exception("on_commit hook failed; the events are committed")
        _settle_all([(reply, outcome) for (_, reply), outcome in zip(batch, outcomes, strict=True)])

    def _prefetch(self, pendings: list[Pending], staged: _Staged) -> None:
        """One query per partnership for the batch's known answers and stream versions."""
        by_partnership: dict[str, list[Pending]] = {}
        for pending in pendings:
            by_partnership.setdefault(pending.partnership, []).append(pending)
        for p, group in by_partnership.items():
            for chunk in _chunks(sorted({g.command_id for g in group})):
                marks = ",".join("?" * len(chunk))
                for command_id, answer in self._write.execute(
                    f"SELECT command_id, answer FROM commands "
                    f"WHERE partnership = ? AND command_id IN ({marks})",
                    (p, *chunk),
                ):
                    staged.seen[(p, command_id)] = orjson.loads(answer)
            unknown = sorted({g.stream for g in group if (p, g.stream) not in self._versions})
            for chunk in _chunks(unknown):
                marks = ",".join("?" * len(chunk))
                found = dict(
                    self._write.execute(
                        f"SELECT stream, MAX(stream_version) FROM events WHERE partnership = ? "
                        f"AND stream IN ({marks}) GROUP BY stream",
                        (p, *chunk),
                    ).fetchall()
                )
                for stream in chunk:
                    self._versions[(p, stream)] = found.get(stream, 0)

    def _stage(self, pending: Pending, staged: _Staged) -> Appended:
        p = pending.partnership
        first = staged.seen.get((p, pending.command_id))
        if first is not None:
            return Appended(first, [], duplicate=True)
        key = (p, pending.stream)
        version = staged.versions.get(key, self._version(p, pending.stream))
        expect_version(pending, version)
        position, prev = staged.heads.get(p, (0, GENESIS))
        stamped = stamp_bodies(pending, position, prev, version, staged.recorded_at)
        stored = [envelope for envelope, _ in stamped]
        rows = [_row(envelope, body) for envelope, body in stamped]
        answer = answer_of(pending, stored)
        encoded = orjson.dumps(answer)
        if stored:
            staged.heads[p] = (stored[-1]["position"], stored[-1]["hash"])
            staged.versions[key] = stored[-1]["stream_version"]
        staged.rows.extend(rows)
        staged.seen[(p, pending.command_id)] = answer
        staged.answers.append((p, pending.command_id, encoded))
        return Appended(answer, stored)

    def _stage_replicated(self, item: Replicated, staged: _Staged) -> Appended:
        """A record another writer stamped (Kafka mode), taken by the rule every node
        applies in the topic's order: the first record at a position wins. A record whose
        first event is the next position and links to the head's hash is stored whole,
        with its answer; the same record read again is skipped; any other (a later claim
        to a taken position, a gap, a broken link) is void: nothing of it is stored, its
        answer neither, and it is logged loudly. Every replica keeps the same history."""
        if item.offset is not None:
            staged.offsets.append(item.offset)
        if not item.events:
            if item.command_id is not None and item.partnership is not None and item.answer is not None:
                staged.answers.append((item.partnership, item.command_id, orjson.dumps(item.answer)))
            return Appended(item.answer or {}, [])
        p = item.events[0]["partnership"]
        void = self._void(item.events, staged)
        if void == "stored":
            return Appended(item.answer or {}, [], duplicate=True)
        if void is not None:
            self.voided[p] = self.voided.get(p, 0) + 1
            log.error(
                "VOID record from the event topic: %s; command %s at %s is not in the history "
                "and is answered from nothing (%d void records for %s so far)",
                void,
                item.command_id,
                item.offset,
                self.voided[p],
                p,
            )
            return Appended({}, [], void=void)
        for envelope in item.events:
            staged.replicated.append(_row(envelope))
            staged.heads[p] = (envelope["position"], envelope["hash"])
            staged.versions[(p, envelope["stream"])] = envelope["stream_version"]
        if item.command_id is not None and item.partnership is not None and item.answer is not None:
            staged.answers.append((item.partnership, item.command_id, orjson.dumps(item.answer)))
        return Appended(item.answer or {}, item.events)

    def _void(self, events: list[dict[str, Any]], staged: _Staged) -> str | None:
        """Why a replicated record cannot be taken ("stored": it already is), or None."""
        p = events[0]["partnership"]
        position, prev = staged.heads.get(p, (0, GENESIS))
        first = events[0]["position"]
        if first <= position:
            if self._stored_hash(p, first, staged) == events[0]["hash"]:
                return "stored"
            return f"{p}: position {first} is already taken by another record"
        for envelope in events:
            if envelope["partnership"] != p or envelope["position"] != position + 1:
                return f"{p}: position {envelope['position']} does not follow {position}"
            if chain(prev, canonical(envelope)) != envelope["hash"]:
                return f"{p}: the event at position {envelope['position']} does not link to the one before"
            position, prev = envelope["position"], envelope["hash"]
        return None

    def _stored_hash(self, partnership: str, position: int, staged: _Staged) -> str | None:
        head = staged.heads.get(partnership)
        if head is not None and head[0] == position:
            return head[1]
        for row in reversed(staged.replicated):
            if row[0] == partnership and row[1] == position:
                return str(row[5])
        found = self._write.execute(
            "SELECT hash FROM events WHERE partnership = ? AND position = ?", (partnership, position)
        ).fetchone()
        return found[0] if found else None

    async def replicate(self, item: Replicated) -> Appended:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.put((item, future))
        return await future

    def offsets(self) -> dict[int, int]:
        """Next offset to read from each partition of the event topic (Kafka mode)."""
        return dict(self._reader().execute("SELECT partition, next_offset FROM offsets").fetchall())

    # -- reading ---------------------------------------------------------------------

    # The writer keeps the heads in memory: no query for them.
    def heads(self) -> dict[str, tuple[int, str]]:
        return dict(self._heads)

    def partnerships(self) -> list[str]:
        return sorted(self._heads)

    def head_and_hash(self, partnership: str) -> tuple[int, str]:
        return self._heads.get(partnership, (0, GENESIS))

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._write.close()
