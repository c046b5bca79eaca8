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
- A command is decided only before its deadline (set by the API node that sent it);
  after it, it is refused with 503 and nothing is written, so the node's 503 is true.
- The agent never raises: Faust would ack the command it was on, unanswered. While the
  broker is away the command is retried until it is answered or refused.
- The worker writes only the partitions the consumer group assigned it, after reading
  the event topic to its end; during a rebalance its appends wait.
- A command is decided against everything written to its partition: not while a batch
  of it is between the broker and this worker's replica (another node may have answered
  that batch, and this command may be the next step of the same client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import faust
import orjson
from pydantic import ValidationError

from hub import bootstrap, push
from hub.application.refusals import refused
from hub.domain import Actor, Refusal
from hub.log.kafka import DEADLINE, Expired, KafkaWriterLog, NotOwner, Topics, bootstrap_of, ensure_topics
from hub.log.port import Conflict, Unavailable
from hub.push.sender import PushSender
from hub.push.sender import enabled as push_enabled
from hub.push.vapid import vapid_key
from schemas.commands import Submission

log = logging.getLogger("hub.worker")

SNAPSHOT_EVERY_SECONDS = 60.0
RETRY_SECONDS = 1.0
SHUTDOWN_SECONDS = 30.0
COMMANDS_IN_FLIGHT = 64


def _exit_now() -> None:
    log.error("the worker did not stop within %.0fs; exiting now", SHUTDOWN_SECONDS)
    logging.shutdown()
    os._exit(1)


class Worker:
    """The hub as the worker runs it, opened once Faust has started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: bootstrap.Running | None = None
        self.ready = asyncio.Event()
        self.assignment: set[int] | None = None
        self._assigning = asyncio.Lock()
        self.push: PushSender | None = None

    async def open(self) -> None:
        self.running = await bootstrap.start(self.folder, role="worker")
        self.push = _push_sender(self.running.hub, self.folder)
        # Nothing is written until the consumer group says which partitions are ours.
        self.log.hold()
        self.ready.set()
        if self.assignment is not None:
            await self._claim()
        log.info("worker ready")

    @property
    def log(self) -> KafkaWriterLog:
        assert self.running is not None
        writer = self.running.hub.log
        assert isinstance(writer, KafkaWriterLog)
        return writer

    async def assigned(self, partitions: set[int]) -> None:
        self.assignment = partitions
        if self.running is not None:
            await self._claim()

    def revoked(self) -> None:
        if self.running is not None:
            self.log.hold()

    async def _claim(self) -> None:
        """Read what other writers wrote to our new partitions, then write them."""
        async with self._assigning:
            assignment = self.assignment
            if assignment is None:
                return
            while True:
                try:
                    stored = await self.log.catch_up()
                    break
                except Exception:
                    log.exception("catching up after a rebalance failed; retrying")
                    await asyncio.sleep(RETRY_SECONDS)
            if assignment == self.assignment:
                self.log.claim(assignment)
            log.info("caught up %d records; writing partitions %s", stored, sorted(assignment))

    async def handle(self, raw: bytes) -> None:
        """Decide one command and answer it through `hub.events`.

        Never raises: an exception would end the agent, and Faust acks the command it was
        on, so it would be lost unanswered.
        """
        try:
            message = orjson.loads(raw)
            p = message["partnership"]
            command_id = message["command"]["id"]
            actor = Actor(**message["actor"])
            deadline = message.get("deadline")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("unreadable command record skipped: %r", raw[:200])
            return
        try:
            command = Submission.from_wire(message["command"])
        except (ValidationError, KeyError, TypeError) as error:
            # a malformed command is refused, answered 422 like anywhere else
            await self._refuse_until_sent(p, command_id, error)
            return
        while True:
            try:
                await self._decide(p, command, actor, deadline)
                return
            except NotOwner as error:
                # moved to another worker in a rebalance: it reads the command from there
                log.warning("command %s left to the partition's new owner: %s", command.id, error)
                return
            except Unavailable as error:
                log.warning("command %s waits for the event log: %s", command.id, error)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception as error:
                log.exception("command %s failed", command.id)
                await self._refuse_until_sent(p, command.id, error)
                return

    async def _refuse_until_sent(self, p: str, command_id: str, error: BaseException) -> None:
        refusal = refused(error)
        while True:
            try:
                await self.log.refuse(p, command_id, refusal["status"], refusal["detail"])
                return
            except Exception:
                await asyncio.sleep(RETRY_SECONDS)

    async def _decide(self, p: str, command: Submission, actor: Actor, deadline: float | None) -> None:
        assert self.running is not None
        hub = self.running.hub
        await self.log.decidable(p)
        first = hub.log.answer_for(p, command.id)
        if first is not None:
            await self.log.answer(p, command.id, first)
            return
        if deadline is not None and time.time() > deadline:
            await self.log.refuse(p, command.id, 503, "the hub was too slow to decide; nothing was written")
            return
        token = DEADLINE.set(deadline)
        try:
            await hub.submit(p, command, actor)
        except Expired as error:  # its words say that nothing was written
            await self.log.refuse(p, command.id, 503, str(error))
        except (Refusal, Conflict, ValidationError) as error:
            refusal = refused(error)
            await self.log.refuse(p, command.id, refusal["status"], refusal["detail"])
        finally:
            DEADLINE.reset(token)

    def tick(self) -> None:
        """The clock-driven processors, for the partnerships this worker writes."""
        assert self.running is not None and self.running.hub.processors is not None
        self.running.hub.processors.tick()

    async def close(self) -> None:
        if self.push is not None:
            await self.push.close()
        if self.running is not None:
            await self.running.stop()


def _push_sender(hub: bootstrap.Hub, folder: Path) -> PushSender | None:
    """Web Push goes out from the worker that writes the partnership, once per event
    (API nodes send none); the VAPID key is the one every node hands out."""
    if hub.processors is None or not push_enabled():
        return None
    return push.attach(hub.processors, hub.log, hub.queries.open_sealed, vapid_key(folder, kafka=True))


def _faust_app(folder: Path, url: str, partitions: int, topics: Topics) -> faust.App:
    brokers = bootstrap_of(url)
    return faust.App(
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


def create_app(folder: Path, url: str, partitions: int, topics: Topics) -> tuple[faust.App, Worker]:
    app = _faust_app(folder, url, partitions, topics)
    commands = app.topic(topics.commands, partitions=partitions, value_type=bytes, key_type=bytes)
    worker = Worker(folder)

    @app.task
    async def open_hub() -> None:
        await worker.open()

    # Many commands in flight: the log writes those of a partition that queue up while
    # its last transaction is in flight as the next one (hub/log/kafka.py).
    @app.agent(commands, concurrency=COMMANDS_IN_FLIGHT)
    async def decide(stream: Any) -> None:
        await worker.ready.wait()
        async for raw in stream:
            await worker.handle(raw)

    @app.timer(interval=1.0)
    async def clock() -> None:
        if worker.ready.is_set() and worker.running is not None:
            worker.tick()

    @app.timer(interval=SNAPSHOT_EVERY_SECONDS)
    async def snapshot() -> None:
        if worker.ready.is_set() and worker.running is not None:
            await worker.running.hub.save_snapshot_aside()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        worker.revoked()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(sender: Any, assigned: Any = (), *args: Any, **kwargs: Any) -> None:
        await worker.assigned({tp.partition for tp in assigned if tp.topic == topics.commands})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust may never finish stopping while the broker is away; all that matters is
        # on the broker or in the replica (a SIGKILL loses nothing), so give it a limit.
        watchdog = threading.Timer(SHUTDOWN_SECONDS, _exit_now)
        watchdog.daemon = True
        watchdog.start()
        await worker.close()

    return app, worker


def run(folder: Path, url: str, partitions: int, topics: Topics, loglevel: str = "warn") -> int:
    """Create the topics if missing, then run the Faust worker until stopped."""
    from faust.worker import Worker as FaustWorker

    asyncio.run(ensure_topics(bootstrap_of(url), partitions, topics))
    app, _ = create_app(folder, url, partitions, topics)
    worker = FaustWorker(app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG (to spin on every record),
    # which makes every debug call in aiokafka and Faust build a record: no spinner.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
