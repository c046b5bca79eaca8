"""Replay and restart: rebuild every projection from N events, and start up from a snapshot.

The log is generated straight into SQLite (valid envelopes, hash chained): alerts on a
net, each acknowledged by several users, across a few partnerships.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.bootstrap import assemble, build
from hub.clock import SystemClock
from hub.log.chain import GENESIS, stamp
from hub.log.port import Pending
from hub.log.sqlite import SCHEMA, SqliteLog, _row
from hub.privacy.cipher import Cipher, KeyStore

SEED_AT = "2026-11-26T21:00:00.000000Z"
ACTOR = {"user": "door", "role": "door_staff"}


def generate(path: Path, events: int, partnerships: int = 4) -> int:
    """Write about `events` events: per alert one broadcast and nine acknowledgements."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    heads = {f"p{n}": (0, GENESIS) for n in range(partnerships)}
    written = 0
    rows: list[tuple[Any, ...]] = []
    for p in heads:
        setup = [
            {"type": "partnership.registered", "data": {"id": p, "name": p, "retention_days": 365}},
            {"type": "channel.opened", "data": {"channel": "main", "name": "Main"}},
            {"type": "venue.added", "data": {"venue_id": "v1", "name": "Venue", "kind": "night_time"}},
        ]
        heads[p] = _append(rows, Pending(p, "partnership", 0, f"setup-{p}", [_e(e) for e in setup]), heads[p])
    n = 0
    while written < events:
        p = f"p{n % partnerships}"
        alert_id = f"a{n}"
        batch = [_e({"type": "alert.broadcast", "data": _alert(alert_id, n)})]
        batch += [
            _e({"type": "alert.acknowledged", "data": {"alert_id": alert_id, "user": f"u{k}"}})
            for k in range(9)
        ]
        heads[p] = _append(rows, Pending(p, f"alert-{alert_id}", 0, f"c{n}", batch), heads[p])
        written += len(batch)
        n += 1
        if len(rows) >= 50_000:
            _flush(db, rows)
    _flush(db, rows)
    db.close()
    return written


def _e(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "occurred_at": SEED_AT, "actor": ACTOR}


def _alert(alert_id: str, n: int) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": "main",
        "priority": "urgent" if n % 10 == 0 else "routine",
        "text": f"Alert {n}: male, grey hoodie, heading towards the market",
        "venue": "v1",
        "location": None,
        "subject_id": None,
        "breach_of": None,
    }


def _append(rows: list[tuple[Any, ...]], pending: Pending, head: tuple[int, str]) -> tuple[int, str]:
    stored = stamp(pending, head[0], head[1], 0, SEED_AT)
    rows.extend(_row(e) for e in stored)
    return stored[-1]["position"], stored[-1]["hash"]


def _flush(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    db.execute("BEGIN")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    rows.clear()


def run(events: int = 1_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        written = generate(folder / "log.db", events)
        generated = time.perf_counter() - started

        # the log opened first (as before the command path was split): the replay is the
        # fold of every event into the views, no snapshot yet
        log = SqliteLog(folder / "log.db")
        cipher = Cipher(KeyStore(folder / "keys.db"))
        started = time.perf_counter()
        hub = assemble(folder, log, cipher, SystemClock(), log)
        replay = time.perf_counter() - started
        folded = hub.publisher.published
        started = time.perf_counter()
        hub.save_snapshot()
        snapshot = time.perf_counter() - started
        snapshot_bytes = (folder / "snapshot.json").stat().st_size
        hub.log.close()

        started = time.perf_counter()
        restarted = build(folder)  # the snapshot, then the tail
        restart = time.perf_counter() - started
        tail = restarted.publisher.published
        restarted.log.close()
    return {
        "events": written,
        "generate_s": round(generated, 2),
        "replay_s": round(replay, 3),
        "replay_events_per_s": round(folded / replay),
        "snapshot_save_s": round(snapshot, 3),
        "snapshot_bytes": snapshot_bytes,
        "restart_s": round(restart, 3),
        "restart_tail_events": tail,
    }


if __name__ == "__main__":
    import sys

    import orjson

    print(
        orjson.dumps(
            run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), option=orjson.OPT_INDENT_2
        ).decode()
    )
