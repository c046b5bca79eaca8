"""`hub`: serve, administer, replay and verify the hub from the command line.

Every command takes `--data DIR` (or HUB_DATA) for the data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.application.aggregates import Aggregates
from hub.application.publisher import Publisher
from hub.bootstrap import Hub, data_dir, secret, start
from hub.log.sqlite import SqliteReader
from hub.privacy.passwords import weakness
from projections import snapshots
from projections.live import Broadcaster
from projections.views import PartnershipView


@asynccontextmanager
async def running(folder: Path) -> AsyncIterator[Hub]:
    """The hub for a one-off command: embedded (run it while the server is stopped), or
    a Kafka-mode node that sends its commands to the worker."""
    started = await start(folder)
    try:
        yield started.hub
    finally:
        await started.stop()


def _server_config(folder: Path, role: str, log_level: str) -> Any:
    """uvicorn's settings for the API (a uvicorn.Config), and the collector's thresholds."""
    import uvicorn

    from api.app import create_app
    from api.transport import HubHttpProtocol, HubWebSocketsProtocol

    # Fan-out allocates a wake-up per subscriber per frame; with the default thresholds the
    # cyclic collector ran over every live socket's objects again and again (31% of the
    # main thread in bench/fanout's profile; this halves the time per frame).
    gc.set_threshold(100_000, 50, 100)
    # HubWebSocketsProtocol: uvicorn's websockets sans-io protocol, which also lets the
    # broadcaster write a live frame straight to an idle socket; HubHttpProtocol frees
    # what a connection upgraded to it leaves (api/transport.py).
    return uvicorn.Config(
        create_app(folder, role=role),
        log_level=log_level,
        http=HubHttpProtocol,
        ws=HubWebSocketsProtocol,
        ws_max_size=64 * 1024,
    )


def serve(args: argparse.Namespace) -> int:
    """Serve the API; with --processes N, N processes share the port (hub/log/relay.py)."""
    import uvicorn

    from hub.bootstrap import kafka_url

    folder = data_dir(args.data)
    try:
        secret(folder)  # refuse a guessable secret before anything starts
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if args.processes > 1 and kafka_url():
        print("in Kafka mode, start more `hub serve` nodes instead of --processes", file=sys.stderr)
        return 2
    if args.demo and not args.follow:
        asyncio.run(_seed_demo(folder))
    role = "follower" if args.follow else "leader" if args.processes > 1 else "serve"
    config = _server_config(folder, role, args.log_level)
    if role == "serve":
        print(f"the hub: serving http://{args.host}:{args.port} (data in {folder.resolve()})", flush=True)
        config.host, config.port = args.host, args.port
        uvicorn.Server(config).run()
        return 0
    listening = _shared_port(args.host, args.port)
    followers = []
    if role == "leader":
        print(
            f"the hub: serving http://{args.host}:{args.port} with {args.processes} processes "
            f"(data in {folder.resolve()})",
            flush=True,
        )
        follow = [sys.executable, "-m", "hub", "--data", str(folder), "serve", "--follow"]
        follow += ["--host", args.host, "--port", str(args.port), "--log-level", args.log_level]
        followers = [subprocess.Popen(follow) for _ in range(args.processes - 1)]
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        for process in followers:  # they stop by themselves when the relay closes; this is sooner
            process.terminate()
        for process in followers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def _shared_port(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind too: the kernel shares connections."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind((host, port))
    listening.listen(2048)
    listening.set_inheritable(True)
    return listening


async def _seed_demo(folder: Path) -> None:
    from hub import demo

    async with running(folder) as hub:
        created = await demo.seed(hub)
    print("demo partnership:", demo.PARTNERSHIP, "(created now)" if created else "(already there)")
    print(f"log in with any of these users, password '{demo.PASSWORD}':")
    print("  admin (admin)")
    for username, role, venue in demo.MEMBERS:
        print(f"  {username:<14} {role:<14} {venue or ''}")


def worker(args: argparse.Namespace) -> int:
    """Kafka mode's writer: decide commands, run processors (needs HUB_LOG=kafka://...)."""
    from hub.bootstrap import kafka_topics, kafka_url, partitions
    from streams.worker import run

    url = kafka_url()
    if url is None:
        print("hub worker runs in Kafka mode: set HUB_LOG=kafka://host:port", file=sys.stderr)
        return 2
    return run(data_dir(args.data), url, partitions(), kafka_topics(), args.log_level)


def admin_create(args: argparse.Namespace) -> int:
    from hub.demo import create_admin

    if not args.password_stdin:
        print("give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n")
    weak = weakness(password, "admin")
    if weak is not None:
        print(weak, file=sys.stderr)
        return 2

    async def create() -> None:
        async with running(data_dir(args.data)) as hub:
            if args.name in hub.queries.users():
                raise SystemExit(f"user {args.name} already exists")
            await create_admin(hub, args.name, password)

    asyncio.run(create())
    print(f"admin {args.name} created")
    return 0


def users_list(args: argparse.Namespace) -> int:
    async def show() -> None:
        async with running(data_dir(args.data)) as hub:
            for username, (p, member) in sorted(hub.queries.users().items()):
                state = "active" if member["active"] else "revoked"
                print(f"{username:<20} {member['role']:<14} {p:<16} {member['venue'] or '':<16} {state}")

    asyncio.run(show())
    return 0


def replay(args: argparse.Namespace) -> int:
    """Rebuild every view from the whole log and save a fresh snapshot."""
    folder = data_dir(args.data)
    try:
        found = _log_file(folder, args.log)
    except _NoLog as refusal:
        print(refusal, file=sys.stderr)
        return 2
    print(found)
    snapshot = folder / "snapshot.json"
    if not found.total:
        if snapshot.exists():
            print(
                f"refused: {found.path} has no events, and replaying it would replace {snapshot} with "
                "an empty one (give the log that holds the events with --log PATH)",
                file=sys.stderr,
            )
            return 2
        print("nothing to replay: no snapshot written")
        return 0
    log = _AsFound(found)
    views: dict[str, PartnershipView] = {}
    started = time.perf_counter()

    def progress(done: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"  {done:>12,} events  {rate:>10,.0f} events/s", file=sys.stderr, flush=True)

    # the views only: nothing is sent, no processor runs, no key is touched
    folded = Publisher(views, Aggregates(log), Broadcaster()).fold(log, on_progress=progress)
    seconds = time.perf_counter() - started
    snapshots.save(snapshot, views)
    log.close()
    print(f"replayed {folded:,} events into {len(views)} partnerships in {seconds:.2f}s")
    return 0


EMBEDDED, REPLICA = "log.db", "replica.db"


class _NoLog(Exception):
    """No log to read, or two and no say which: the command stops before it reads or writes."""


class _NotALog(_NoLog):
    """A file by a log's name without the log's tables (an empty one a command left behind)."""


@dataclass(frozen=True)
class _LogFile:
    """A log file as found on disk, before any command reads it."""

    path: Path
    kafka: bool  # a Kafka node's replica of the event topic, not an embedded log
    events: dict[str, int]  # events by partnership (0 for a head with none: verify says so)
    heads: dict[str, tuple[int, str]]  # (position, hash) of each partnership's last event

    @property
    def kind(self) -> str:
        return "Kafka replica of the event topic" if self.kafka else "embedded log"

    @property
    def total(self) -> int:
        return sum(self.events.values())

    def __str__(self) -> str:
        return f"reading {self.path} ({self.kind}): {len(self.events)} partnerships, {self.total:,} events"


def _inspect(path: Path) -> _LogFile:
    """Count what a log file holds, read-only: nothing is created or changed on disk."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise _NoLog(f"cannot open {path}: {error}") from error
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"events", "heads", "offsets"} <= tables:
            raise _NotALog(f"{path} is not the hub's log (no events table)")
        events: dict[str, int] = {}
        heads: dict[str, tuple[int, str]] = {}
        # the keys only (0.15 s a million events): the hash column sits past each body
        counted = "SELECT partnership, COUNT(*), MAX(position) FROM events GROUP BY partnership"
        last = "SELECT hash FROM events WHERE partnership = ? AND position = ?"
        for p, count, position in db.execute(counted).fetchall():
            events[p], heads[p] = count, (position, db.execute(last, (p, position)).fetchone()[0])
        for (p,) in db.execute("SELECT partnership FROM heads"):
            events.setdefault(p, 0)
        offsets = db.execute("SELECT 1 FROM offsets LIMIT 1").fetchone() is not None
    except sqlite3.Error as error:
        raise _NoLog(f"cannot read {path} as the hub's log: {error}") from error
    finally:
        db.close()
    return _LogFile(path, offsets or path.name == REPLICA, events, heads)


def _log_file(folder: Path, chosen: str | None = None) -> _LogFile:
    """The log to read: `chosen` (--log), else the data folder's log that holds events.

    An embedded hub writes log.db, a Kafka-mode node replica.db; a Kafka node's folder can
    hold an empty log.db as well, which must not hide its replica.
    """
    if chosen is not None:
        if not Path(chosen).is_file():
            raise _NoLog(f"no log at {chosen}")
        return _inspect(Path(chosen))
    found, strays = [], []
    for name in (EMBEDDED, REPLICA):
        if (folder / name).is_file():
            try:
                found.append(_inspect(folder / name))
            except _NotALog as stray:
                strays.append(f" ({stray})")
    if not found:
        raise _NoLog(
            f"no log in {folder}: neither {EMBEDDED} (an embedded hub's) nor {REPLICA} (a Kafka node's)"
            f"{''.join(strays)}; give the data folder with --data DIR, or the file with --log PATH"
        )
    holding = [log for log in found if log.total]
    if len(holding) > 1:
        named = " and ".join(f"{log.path} ({log.kind}, {log.total:,} events)" for log in holding)
        raise _NoLog(f"both logs hold events, {named}: say which to read with --log PATH")
    return holding[0] if holding else found[-1]


class _AsFound(SqliteReader):
    """The log with the heads its events end at, as counted: replay folds every event it
    said it read, even where the heads table lags (bench/ writes logs with none)."""

    def __init__(self, found: _LogFile) -> None:
        super().__init__(found.path)
        self._heads = found.heads

    def heads(self) -> dict[str, tuple[int, str]]:
        return dict(self._heads)


def verify(args: argparse.Namespace) -> int:
    """Exit 0 only when every partnership's whole history verifies."""
    try:
        found = _log_file(data_dir(args.data), args.log)
    except _NoLog as refusal:
        print(refusal, file=sys.stderr)
        return 2
    print(found)
    log = SqliteReader(found.path)
    checked, failed = 0, 0
    for p in sorted(found.events):
        result = log.verify(p)
        checked += result.checked
        if result.ok:
            print(f"{p}: ok, {result.checked} events")
        else:
            failed += 1
            print(f"{p}: FAILED at position {result.first_bad_position} ({result.reason})")
    log.close()
    outcome = f"{failed} FAILED" if failed else "all ok"
    print(f"checked {checked:,} events in {len(found.events)} partnerships: {outcome}")
    return 1 if failed else 0


def _embedded_only() -> str | None:
    from hub.bootstrap import kafka_url

    if kafka_url() or os.environ.get("HUB_PHOTOS"):
        return "backup and restore are for the embedded hub and its data folder (unset HUB_LOG, HUB_PHOTOS)"
    return None


def backup(args: argparse.Namespace) -> int:
    """Back up the embedded hub's data folder to a new folder, while it serves."""
    from hub.backup import Refused, make_backup

    if (refusal := _embedded_only()) is not None:
        print(refusal, file=sys.stderr)
        return 2
    folder = data_dir(args.data)
    try:
        manifest = make_backup(folder, Path(args.dir))
    except Refused as error:
        print(f"backup refused: {error}", file=sys.stderr)
        return 1
    files = manifest["files"]
    size = sum(f["size"] for f in files.values())
    print(f"backed up {folder} to {args.dir} at {manifest['made_at']}: {len(files)} files, {size:,} bytes")
    for p, head in sorted(manifest["heads"].items()):
        print(f"  {p}: position {head['position']}")
    return 0


def restore(args: argparse.Namespace) -> int:
    """Restore a backup into an empty folder, or over a stopped hub's folder."""
    from hub.backup import Refused, restore_backup
    from hub.bootstrap import erasure_ledger

    if (refusal := _embedded_only()) is not None:
        print(refusal, file=sys.stderr)
        return 2
    folder = data_dir(args.data)
    ledger = erasure_ledger(folder)
    kept_ledger = ledger.exists()
    try:
        restored = restore_backup(Path(args.dir), folder, ledger)
    except Refused as error:
        print(f"restore refused, {folder} is unchanged: {error}", file=sys.stderr)
        return 1
    print(f"restored {args.dir} (made at {restored.manifest['made_at']}) into {folder}")
    for p, head in sorted(restored.manifest["heads"].items()):
        print(f"  {p}: position {head['position']}")
    print(
        f"erasure ledger {ledger}: {restored.ledger_keys} keys named, all kept destroyed"
        if kept_ledger
        else f"no erasure ledger at {ledger} (HUB_ERASURES): erasures in the backup and {folder} were kept"
    )
    if restored.reapplied:
        print(
            f"{len(restored.reapplied)} erasures made since the backup applied again (keys destroyed, "
            f"photos deleted): {', '.join(restored.reapplied)}"
        )
    if restored.kept is not None:
        print(f"the folder restored over is kept at {restored.kept}: remove it once the hub is checked")
    return 0


def schemas_export(args: argparse.Namespace) -> int:
    from hub.schemas_export import export

    written = export(Path(args.dir))
    print(f"wrote {len(written)} files to {args.dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description=__doc__)
    parser.add_argument("--data", help="data folder (default: $HUB_DATA or ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Any, **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        sub.add_argument("--data", default=argparse.SUPPRESS, help="data folder")
        sub.set_defaults(handler=handler)
        return sub

    s = command("serve", serve, help="serve the API, live socket and web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--demo", action="store_true", help="seed the demo partnership on first start")
    s.add_argument("--log-level", default="info")
    s.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("HUB_PROCESSES", "1")),
        help="processes sharing the port, one per core (default: $HUB_PROCESSES or 1)",
    )
    s.add_argument("--follow", action="store_true", help=argparse.SUPPRESS)

    w = command("worker", worker, help="Kafka mode: decide commands and run processors (Faust)")
    w.add_argument("--log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"])

    admin = commands.add_parser("admin", help="administrators").add_subparsers(dest="what", required=True)
    a = admin.add_parser("create", help="create an admin")
    a.add_argument("name")
    a.add_argument("--password-stdin", action="store_true")
    a.add_argument("--data", default=argparse.SUPPRESS)
    a.set_defaults(handler=admin_create)

    users = commands.add_parser("users", help="members and admins").add_subparsers(dest="what", required=True)
    u = users.add_parser("list", help="list every user")
    u.add_argument("--data", default=argparse.SUPPRESS)
    u.set_defaults(handler=users_list)

    which = "the log file to read (default: the data folder's log.db or replica.db, whichever holds events)"
    command("replay", replay, help="rebuild every view from the log and save a snapshot").add_argument(
        "--log", metavar="PATH", help=which
    )
    command("verify", verify, help="check every partnership's hash chain").add_argument(
        "--log", metavar="PATH", help=which
    )
    b = command("backup", backup, help="back up the embedded hub's data folder to DIR, while it serves")
    b.add_argument("dir", help="a new folder for the backup")
    r = command("restore", restore, help="restore the backup in DIR into the data folder (hub stopped)")
    r.add_argument("dir", help="the backup's folder")
    sch = commands.add_parser("schemas", help="JSON Schemas").add_subparsers(dest="what", required=True)
    e = sch.add_parser("export", help="write every schema and the AsyncAPI document")
    e.add_argument("dir")
    e.set_defaults(handler=schemas_export)

    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result
