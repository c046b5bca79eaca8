"""`hub worker`: the Faust app that decides commands and runs the processors on Kafka.

- The command agent consumes `hub.commands`. Partitions are the unit of parallelism:
  the worker that owns a partition is the single writer of its partnerships. It decides
  each command with the same pure domain code as the embedded hub, stamps positions and
  the hash chain, and produces one atomic record to `hub.events` that carries the events
  and the answer (or the refusal), which the API node that asked matches by command id.
- The processors (breach detection, warning escalation, breach alerts) react to the
  worker's own events; a Faust timer runs the clock-driven ones (expiry, lapsed
  warnings, retention) every second.
- A command delivered twice (after a crash, before its offset was committed) finds its
  first answer in the replica, so it is answered again and written once.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
import orjson

from hub import bootstrap
from hub.domain import Command, NotFound, Rejected
from hub.kafka_log import KafkaWriterLog, Topics, bootstrap_of, ensure_topics
from hub.log import Conflict
from hub.service import Actor

log = logging.getLogger("hub.worker")

SNAPSHOT_EVERY_SECONDS = 60.0


class Worker:
    """The hub as the worker runs it, opened once Faust has started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: bootstrap.Running | None = None
        self.ready = asyncio.Event()

    async def open(self) -> None:
        self.running = await bootstrap.start(self.folder, role="worker")
        self.ready.set()
        log.info("worker ready")

    @property
    def log(self) -> KafkaWriterLog:
        assert self.running is not None
        writer = self.running.hub.log
        assert isinstance(writer, KafkaWriterLog)
        return writer

    async def handle(self, raw: bytes) -> None:
        """Decide one command and answer it through `hub.events`."""
        assert self.running is not None
        hub = self.running.hub
        try:
            message = orjson.loads(raw)
            p = message["partnership"]
            command = Command(**message["command"])
            actor = Actor(**message["actor"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("unreadable command record skipped: %r", raw[:200])
            return
        first = hub.log.answer_for(p, command.id)
        if first is not None:
            await self.log.answer(p, command.id, first)
            return
        try:
            await hub.submit(p, command, actor)
        except NotFound as refusal:
            await self.log.refuse(p, command.id, 404, str(refusal))
        except (Rejected, Conflict) as refusal:
            await self.log.refuse(p, command.id, 409, str(refusal))
        except (KeyError, TypeError, ValueError) as error:
            log.exception("invalid command %s", command.id)
            await self.log.refuse(p, command.id, 422, f"invalid command: {error}")

    async def catch_up(self) -> None:
        if self.running is not None:
            stored = await self.log.catch_up()
            log.info("caught up %d records after a rebalance", stored)

    async def close(self) -> None:
        if self.running is not None:
            await self.running.stop()


def create_app(folder: Path, url: str, partitions: int, topics: Topics) -> tuple[faust.App, Worker]:
    brokers = bootstrap_of(url)
    app = faust.App(
        f"{topics.prefix}-worker",
        broker=[f"kafka://{b}" for b in brokers.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        store="memory://",
        topic_partitions=partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # A killed worker's partitions move on after 10 s, not Faust's default 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_commit_every=100,
        broker_commit_interval=0.5,
        producer_acks=-1,
        stream_wait_empty=False,
        datadir=str(folder / "faust"),
    )
    commands = app.topic(topics.commands, partitions=partitions, value_type=bytes, key_type=bytes)
    worker = Worker(folder)

    @app.task
    async def open_hub() -> None:
        await worker.open()

    @app.agent(commands)
    async def decide(stream: Any) -> None:
        await worker.ready.wait()
        async for raw in stream:
            await worker.handle(raw)

    @app.timer(interval=1.0)
    async def clock() -> None:
        if worker.ready.is_set() and worker.running is not None:
            worker.running.hub.tick()

    @app.timer(interval=SNAPSHOT_EVERY_SECONDS)
    async def snapshot() -> None:
        if worker.ready.is_set() and worker.running is not None:
            await asyncio.to_thread(worker.running.hub.save_snapshot)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        await worker.catch_up()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        await worker.close()

    return app, worker


def run(folder: Path, url: str, partitions: int, topics: Topics, loglevel: str = "warn") -> int:
    """Create the topics if missing, then run the Faust worker until stopped."""
    from faust.worker import Worker as FaustWorker

    asyncio.run(ensure_topics(bootstrap_of(url), partitions, topics))
    app, _ = create_app(folder, url, partitions, topics)
    FaustWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    return 0
