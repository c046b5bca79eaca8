"""Ingest, embedded: commands decided, appended (hash chained, fsynced) and projected.

Many small streams with a few hot ones: most commands broadcast a new alert (a new
stream each); the rest acknowledge one of a handful of hot alerts. Concurrent clients
submit through the hub itself (no HTTP), so this measures domain + log + views.
Then the same stored bytes are appended straight into SQLite (batches of 500, sha256
chain): the limit this machine puts on the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import histogram, percentiles_ms
from hub.bootstrap import build, deliver
from hub.domain import Actor
from schemas.commands import Submission

SEED = 20261126
HOT_ALERTS = 8


async def _setup(hub: Any, p: str) -> list[str]:
    admin = Actor("bench", "admin")
    await hub.submit(
        p,
        Submission.of("setup-1", "register_partnership", {"id": p, "name": "Bench", "retention_days": 365}),
        admin,
    )
    await hub.submit(
        p,
        Submission.of("setup-2", "add_venue", {"venue_id": "v1", "name": "Venue", "kind": "night_time"}),
        admin,
    )
    hot = []
    for n in range(HOT_ALERTS):
        alert_id = f"hot{n}"
        await hub.submit(p, Submission.of(f"hot-{n}", "broadcast_alert", _alert(alert_id, "hot")), admin)
        hot.append(alert_id)
    return hot


def _alert(alert_id: str, text: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": "main",
        "priority": "routine",
        "text": text,
        "venue": "v1",
        "location": None,
        "subject_id": None,
    }


async def _ingest(folder: Path, commands: int, clients: int, partnerships: int) -> dict[str, Any]:
    hub = build(folder)
    deliver(hub, asyncio.get_running_loop())
    names = [f"p{n}" for n in range(partnerships)]
    hot = {p: await _setup(hub, p) for p in names}
    rng = random.Random(SEED)
    plan = []
    for n in range(commands):
        p = rng.choice(names)
        if rng.random() < 0.7:
            plan.append(
                (
                    p,
                    Submission.of(f"c{n}", "broadcast_alert", _alert(f"a{n}", f"alert {n} " + "x" * 60)),
                    Actor("door", "door_staff"),
                )
            )
        else:
            user = f"u{rng.randrange(10_000)}"
            plan.append(
                (
                    p,
                    Submission.of(f"c{n}", "acknowledge_alert", {"alert_id": rng.choice(hot[p])}),
                    Actor(user, "door_staff"),
                )
            )
    latencies = histogram()
    queue = iter(plan)
    before = sum(hub.log.head(p) for p in names)

    async def client() -> None:
        for p, command, actor in queue:
            started = time.perf_counter()
            await hub.submit(p, command, actor)
            latencies.record_value(max(1, int((time.perf_counter() - started) * 1e6)))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    events = sum(hub.log.head(p) for p in names) - before
    hub.log.close()
    return {
        "commands": commands,
        "events": events,
        "clients": clients,
        "partnerships": partnerships,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "commands_per_s": round(commands / seconds),
        "command_latency": percentiles_ms(latencies),
    }


def raw_sqlite(log_path: Path, batch: int = 500) -> dict[str, Any]:
    """Append the same bodies straight into a fresh SQLite file: WAL, fsync, sha256 chain."""
    source = sqlite3.connect(log_path)
    bodies = [bytes(row[0]) for row in source.execute("SELECT body FROM events")]
    source.close()
    target_path = log_path.with_name("raw.db")
    db = sqlite3.connect(target_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE events (partnership TEXT, position INTEGER, body BLOB, hash TEXT, "
        "PRIMARY KEY (partnership, position)) WITHOUT ROWID"
    )
    prev = "0" * 64
    started = time.perf_counter()
    for first in range(0, len(bodies), batch):
        rows = []
        for position, body in enumerate(bodies[first : first + batch], start=first + 1):
            prev = hashlib.sha256(prev.encode() + body).hexdigest()
            rows.append(("p", position, body, prev))
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return {
        "events": len(bodies),
        "batch": batch,
        "seconds": round(seconds, 3),
        "events_per_s": round(len(bodies) / seconds),
    }


def run(commands: int = 20_000, clients: int = 64, partnerships: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        result = asyncio.run(_ingest(folder, commands, clients, partnerships))
        result["sqlite_raw"] = raw_sqlite(folder / "log.db")
    return result


if __name__ == "__main__":
    import orjson

    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
