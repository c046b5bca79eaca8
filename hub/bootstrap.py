"""The composition root: the one place that builds a running hub from settings.

`HUB_LOG` chooses the log: unset (or `sqlite`) for the embedded hub, `kafka://host:port`
for Kafka mode, where `hub serve` is an API node and `hub worker` the writer. Every
part is given what it needs when it is built; what varies between modes is the log and
where a command is decided (the gateway).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.application.aggregates import Aggregates
from hub.application.gateway import CommandGateway, LocalGateway
from hub.application.guards import Guards
from hub.application.handler import CommandHandler
from hub.application.processors import Processors
from hub.application.publisher import Publisher, Reaction
from hub.application.queries import Queries, reveal
from hub.clock import Clock, SystemClock
from hub.domain import Actor
from hub.log.chain import new_id
from hub.log.port import EventLog, EventSource
from hub.log.relay import FollowerLog, Relay
from hub.log.sqlite import SqliteLog
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.erasures import ErasureLedger
from hub.privacy.photos import PhotoStore
from hub.privacy.sealing import SealingGateway
from hub.privacy.shredder import Shredder
from projections import snapshots
from projections.live import Broadcaster
from projections.views import PartnershipView
from schemas.commands import Submission

if TYPE_CHECKING:
    from hub.log.kafka import Topics

SYSTEM_PARTNERSHIP = "_hub"


def data_dir(path: str | Path | None = None) -> Path:
    """The data folder, readable by its owner only, as is every file made in it from now
    on (the log, the keys, the snapshot, photos: this process's umask)."""
    os.umask(0o077)
    folder = Path(path or os.environ.get("HUB_DATA") or "data")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def kafka_url() -> str | None:
    url = os.environ.get("HUB_LOG", "")
    return url if url.startswith("kafka://") else None


def partitions() -> int:
    return int(os.environ.get("HUB_PARTITIONS", "12"))


def kafka_topics() -> Topics:
    """The hub's Kafka topics as HUB_TOPICS and HUB_KAFKA_* set them."""
    from hub.log.kafka import Topics  # aiokafka is imported in Kafka mode only

    def number(name: str) -> int | None:
        value = os.environ.get(name, "").strip()
        return int(value) if value else None

    return Topics(
        os.environ.get("HUB_TOPICS", "hub"),
        replication=number("HUB_KAFKA_REPLICATION"),
        min_insync=number("HUB_KAFKA_MIN_INSYNC"),
        keys_segment_ms=number("HUB_KAFKA_KEYS_SEGMENT_MS") or Topics.keys_segment_ms,
    )


@dataclass
class Hub:
    """The running hub, by part: what the API, the CLI and the worker use."""

    gateway: CommandGateway
    queries: Queries
    publisher: Publisher
    log: EventSource
    photos: PhotoStore
    clock: Clock
    processors: Processors | None = None
    snapshot_path: Path | None = None

    @property
    def views(self) -> dict[str, PartnershipView]:
        return self.queries.views

    @property
    def live(self) -> Broadcaster:
        return self.publisher.live

    async def submit(self, p: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        """Submit one command; the answer has the new id and the events' positions."""
        return await self.gateway.submit(p, submission, actor)

    def view(self, p: str) -> PartnershipView:
        return self.queries.view(p)

    def new_id(self) -> str:
        return new_id()

    def save_snapshot(self) -> None:
        if self.snapshot_path is not None:
            snapshots.save(self.snapshot_path, self.views)

    async def save_snapshot_aside(self) -> None:
        """Save the views while serving: encoded here, on the event loop, so no event is
        applied half-way through; written and synced in a thread."""
        if self.snapshot_path is not None:
            await asyncio.to_thread(snapshots.write, self.snapshot_path, snapshots.pieces(self.views))

    async def settle(self) -> None:
        """Wait until every processor command in flight is done (tests and shutdown)."""
        if self.processors is not None:
            await self.processors.settle()


def _photos(folder: Path, cipher: Cipher) -> PhotoStore:
    # Kafka-mode nodes share one photo folder (a shared volume): HUB_PHOTOS.
    return PhotoStore(Path(os.environ.get("HUB_PHOTOS") or folder / "photos"), cipher)


def erasure_ledger(folder: Path) -> Path:
    """Where the embedded hub records each key it destroys (hub/privacy/erasures.py):
    HUB_ERASURES, best a file outside the data folder so that it outlives it, else
    erasures.jsonl in the data folder."""
    return Path(os.environ.get("HUB_ERASURES") or folder / "erasures.jsonl")


def _keys(folder: Path, clock: Clock) -> KeyStore:
    """The embedded writer's subject keys: each one destroyed goes in the erasure ledger."""
    keys = KeyStore(folder / "keys.db")
    keys.on_destroyed = ErasureLedger(erasure_ledger(folder), clock).record
    return keys


def assemble(
    folder: Path,
    log: EventSource,
    cipher: Cipher,
    clock: Clock,
    decide_here: EventLog | None,
    remote: CommandGateway | None = None,
    synced: Callable[[], Any] | None = None,
    owns: Callable[[str], bool] = lambda p: True,
    saves_snapshots: bool = True,
) -> Hub:
    """Build the parts around a log. Commands are decided here (`decide_here`, the log this
    process writes, with the processors) or sent to `remote`; the views come from the
    snapshot and the log's tail, every commit is then published as it happens."""
    photos = _photos(folder, cipher)
    snapshot_path = folder / "snapshot.json"
    views = snapshots.load(snapshot_path)
    aggregates = Aggregates(log)
    processors = None
    if decide_here is not None:
        handler = CommandHandler(decide_here, aggregates, Guards(views, clock), clock)
        gateway: CommandGateway = SealingGateway(cipher, LocalGateway(handler, synced), log.answer_for)
        processors = Processors(gateway, views, clock, owns)
    else:
        assert remote is not None
        gateway = SealingGateway(cipher, remote, log.answer_for)
    shredder = Shredder(cipher, photos)
    live = Broadcaster(lambda data: reveal(data, cipher.open))
    reactions: list[Reaction] = [shredder, live]
    if processors is not None:
        reactions.append(processors)
    publisher = Publisher(views, aggregates, live, reactions)
    publisher.fold(log)
    shredder.recover(views)
    queries = Queries(views, log, cipher.open, clock)
    return Hub(
        gateway,
        queries,
        publisher,
        log,
        photos,
        clock,
        processors,
        snapshot_path if saves_snapshots else None,
    )


def build(folder: Path, clock: Clock | None = None) -> Hub:
    """An embedded hub on the data folder (log.db, keys.db, photos/, snapshot.json),
    started, its commits not yet delivered (see `deliver`)."""
    log = SqliteLog(folder / "log.db")
    clock = clock or SystemClock()
    return assemble(folder, log, Cipher(_keys(folder, clock)), clock, log)


def deliver(
    hub: Hub, loop: asyncio.AbstractEventLoop, relay: Callable[[list[dict[str, Any]]], None] | None = None
) -> None:
    """Publish each commit on the hub's event loop, in order, before answering; and first
    send it to `relay` (the followers of `hub serve --processes`), so that they write
    their sockets' frames while this process writes its own."""

    def publish(events: list[dict[str, Any]]) -> None:
        if relay is not None:
            relay(events)
        hub.publisher.publish_many(events)

    def on_commit(events: list[dict[str, Any]]) -> None:  # on the log's writer thread
        loop.call_soon_threadsafe(publish, events)

    hub.log.subscribe(on_commit)


@dataclass
class Running:
    """A started hub and what must be stopped with it."""

    hub: Hub
    ticks: bool
    parts: list[Any] = field(default_factory=list)

    async def stop(self) -> None:
        await self.hub.settle()
        for part in reversed(self.parts):
            await part.stop()
        self.hub.save_snapshot()
        self.hub.log.close()


async def start(folder: Path, clock: Clock | None = None, role: str = "serve") -> Running:
    """Build and start the hub for `hub serve` (or `hub worker`), embedded or on Kafka.

    Embedded, `role` is "serve" (one process), or "leader" and "follower" for the
    processes of `hub serve --processes N` (hub/log/relay.py).
    """
    clock = clock or SystemClock()
    loop = asyncio.get_running_loop()
    if kafka_url() is not None:
        return await _kafka(folder, clock, role, loop)
    if role == "follower":
        return await _follower(folder, clock, loop)
    if role != "leader":
        hub = build(folder, clock)
        deliver(hub, loop)
        return Running(hub, ticks=True)
    log = SqliteLog(folder / "log.db")
    relay = Relay(folder)
    hub = assemble(folder, log, Cipher(_keys(folder, clock)), clock, log, synced=relay.synced)
    await relay.start(hub.gateway)
    deliver(hub, loop, relay.send)
    return Running(hub, ticks=True, parts=[relay])


async def _follower(folder: Path, clock: Clock, loop: asyncio.AbstractEventLoop) -> Running:
    log = FollowerLog(folder)
    await log.connect()
    # the leader's snapshot: read at start, written only by the leader
    hub = assemble(
        folder, log, Cipher(KeyStore(folder / "keys.db")), clock, None, remote=log, saves_snapshots=False
    )
    deliver(hub, loop)
    log.start()
    return Running(hub, ticks=False, parts=[log])


async def _kafka(folder: Path, clock: Clock, role: str, loop: asyncio.AbstractEventLoop) -> Running:
    from hub.log.kafka import KafkaNodeLog, KafkaWriterLog, bootstrap_of, ensure_topics
    from hub.logs import quiet_repeats
    from hub.privacy.kafka_keys import KeyShare

    quiet_repeats()  # while the broker is away: a line a kind of trouble, not thousands

    url = kafka_url()
    assert url is not None
    bootstrap, count, topics = bootstrap_of(url), partitions(), kafka_topics()
    await ensure_topics(bootstrap, count, topics)
    keys = KeyStore(folder / "keys.db")
    share = KeyShare(bootstrap, keys, count, topics)
    await share.start()
    cipher = Cipher(keys)
    replica = SqliteLog(folder / "replica.db", durable=False)
    if role == "worker":
        writer = KafkaWriterLog(bootstrap, replica, count, topics)
        await writer.start()
        await writer.catch_up()
        hub = assemble(folder, writer, cipher, clock, writer, owns=writer.owns)
        deliver(hub, loop)
        return Running(hub, ticks=True, parts=[share, writer])
    # keys on the broker before the events sealed with them
    node = KafkaNodeLog(
        bootstrap, replica, count, topics, before_submit=share.flush, group=node_group(folder, topics)
    )
    hub = assemble(folder, node, cipher, clock, None, remote=node)
    deliver(hub, loop)
    await node.start()
    return Running(hub, ticks=False, parts=[share, node])


def node_group(folder: Path, topics: Topics) -> str:
    """The consumer group an API node reads the event topic as: `<prefix>.node.<name>`,
    the name from HUB_NODE_NAME, else the host and its data folder."""
    name = os.environ.get("HUB_NODE_NAME", "").strip()
    if not name:
        where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
        name = f"{socket.gethostname()}-{where}"
    return f"{topics.prefix}.node.{name}"


EXAMPLE_SECRETS = frozenset({"change-me-to-a-long-random-secret", "changeme", "change-me", "secret"})
SECRET_CHARACTERS = 32


def secret(folder: Path) -> str:
    """The token-signing secret: HUB_SECRET, or one made on first start and kept. An
    example, short or repetitive HUB_SECRET is refused (ValueError): tokens signed with a
    guessable secret could be forged by anyone."""
    given = os.environ.get("HUB_SECRET")
    if given is not None:
        if given in EXAMPLE_SECRETS or len(given) < SECRET_CHARACTERS or len(set(given)) < 10:
            raise ValueError(
                f"HUB_SECRET must be a random secret of at least {SECRET_CHARACTERS} characters, "
                "not an example (try: openssl rand -base64 48)"
            )
        return given
    path = folder / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
