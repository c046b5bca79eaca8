"""The one place that builds a running hub from settings, for every entrypoint.

`HUB_LOG` chooses the log: unset (or `sqlite`) for the embedded hub, `kafka://host:port`
for Kafka mode, where `hub serve` is an API node and `hub worker` the writer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.clock import Clock, SystemClock
from hub.log.relay import FollowerLog, Relay
from hub.log.sqlite import SqliteLog
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.photos import PhotoStore
from hub.service import Hub


def data_dir(path: str | Path | None = None) -> Path:
    folder = Path(path or os.environ.get("HUB_DATA") or "data")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kafka_url() -> str | None:
    url = os.environ.get("HUB_LOG", "")
    return url if url.startswith("kafka://") else None


def partitions() -> int:
    return int(os.environ.get("HUB_PARTITIONS", "12"))


def topic_prefix() -> str:
    return os.environ.get("HUB_TOPICS", "hub")


def _photos(folder: Path, cipher: Cipher) -> PhotoStore:
    # Kafka-mode nodes share one photo folder (a shared volume): HUB_PHOTOS.
    return PhotoStore(Path(os.environ.get("HUB_PHOTOS") or folder / "photos"), cipher)


def build(folder: Path, clock: Clock | None = None, run_processors: bool = True) -> Hub:
    """An embedded hub on the data folder: log.db, keys.db, photos/, snapshot.json."""
    cipher = Cipher(KeyStore(folder / "keys.db"))
    return Hub(
        SqliteLog(folder / "log.db"),
        cipher,
        _photos(folder, cipher),
        clock or SystemClock(),
        snapshot_path=folder / "snapshot.json",
        run_processors=run_processors,
    )


def attach(
    hub: Hub, loop: asyncio.AbstractEventLoop, relay: Callable[[list[dict[str, Any]]], None] | None = None
) -> None:
    """Deliver each commit to the hub on its event loop, in order, before answering; and
    first to `relay` (the followers of `hub serve --processes`), so that they write their
    sockets' frames while this process writes its own."""

    def deliver(events: list[dict[str, Any]]) -> None:
        if relay is not None:
            relay(events)
        hub.publish_many(events)

    hub.log.on_commit = lambda events: loop.call_soon_threadsafe(deliver, events)  # type: ignore[attr-defined]


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
    url = kafka_url()
    loop = asyncio.get_running_loop()
    if url is None and role == "follower":
        return await _follower(folder, clock, loop)
    if url is None:
        hub = build(folder, clock)
        hub.start()
        if role != "leader":
            attach(hub, loop)
            return Running(hub, ticks=True)
        relay = Relay(hub, folder)
        await relay.start()
        attach(hub, loop, relay.send)
        return Running(hub, ticks=True, parts=[relay])

    from hub.log.kafka import KafkaNodeLog, KafkaWriterLog, Topics, bootstrap_of, ensure_topics
    from hub.privacy.kafka_keys import KeyShare

    bootstrap, count, topics = bootstrap_of(url), partitions(), Topics(topic_prefix())
    await ensure_topics(bootstrap, count, topics)
    keys = KeyStore(folder / "keys.db")
    share = KeyShare(bootstrap, keys, count, topics)
    await share.start()
    cipher = Cipher(keys)
    replica = SqliteLog(folder / "replica.db", durable=False)
    log: KafkaNodeLog | KafkaWriterLog
    if role == "worker":
        log = KafkaWriterLog(bootstrap, replica, count, topics)
        await log.start()
        await log.catch_up()
    else:
        log = KafkaNodeLog(bootstrap, replica, count, topics)
    hub = Hub(
        log,
        cipher,
        _photos(folder, cipher),
        clock or SystemClock(),
        folder / "snapshot.json",
        role == "worker",
    )
    hub.start()
    attach(hub, loop)
    if isinstance(log, KafkaNodeLog):
        hub.remote = log.submit
        log.before_submit = share.flush  # keys on the broker before events sealed with them
        await log.start()
    return Running(hub, ticks=role == "worker", parts=[share, log])


async def _follower(folder: Path, clock: Clock | None, loop: asyncio.AbstractEventLoop) -> Running:
    log = FollowerLog(folder)
    await log.connect()
    cipher = Cipher(KeyStore(folder / "keys.db"))
    hub = Hub(log, cipher, _photos(folder, cipher), clock or SystemClock(), folder / "snapshot.json", False)
    hub.start()
    hub.snapshot_path = None  # the leader's snapshot: read at start, written only by the leader
    hub.remote = log.submit
    attach(hub, loop)
    log.start()
    return Running(hub, ticks=False, parts=[log])


def secret(folder: Path) -> str:
    """The token-signing secret: HUB_SECRET, or one made on first start and kept."""
    if os.environ.get("HUB_SECRET"):
        return os.environ["HUB_SECRET"]
    path = folder / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
