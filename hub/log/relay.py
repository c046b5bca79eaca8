"""Several `hub serve` processes on one machine: one leader writes, the others follow.

One Python process writes live frames on one core. `hub serve --processes N` starts N
processes that all serve the same port (SO_REUSEPORT: the kernel shares the connections
out among them), so the frames of one alert are written by every core at once.

The leader is the embedded hub as ever: the SQLite log's one writer, the processors and
the clock. It also listens on `relay.sock` in the data folder. Each follower connects
there and keeps its own views and live sockets:

- every commit's events go to every follower over the relay, in log order, once the
  leader has applied them; a follower applies them the same way (views, live frames);
- a follower reads the log file only once the leader has counted it in (its first
  message), so that every commit is in what it read or is sent to it after;
- a follower sends its commands to the leader over the relay, to be decided there;
- each follower acknowledges every commit it has applied, and the leader answers a
  command only once every follower has its events: an answered write reads back at
  once, whichever process the next request lands on;
- a follower reads history (backlogs, audit, verify, as-of) from the log file, read-only;
  subject keys from the shared key file.

When the leader goes, the relay closes and each follower stops. Messages both ways are
JSON, each after its length (4 bytes, big-endian).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import struct
from pathlib import Path
from typing import Any

import orjson

from hub.application.gateway import CommandGateway
from hub.application.refusals import refusal, refused
from hub.domain import Actor
from hub.log.port import Commit, Unavailable
from hub.log.sqlite import SqliteReader
from schemas.commands import Submission

log = logging.getLogger("hub.log.relay")

SOCKET_NAME = "relay.sock"
HEADER = struct.Struct(">I")
# A follower's command that the leader has not answered in this time is answered 503.
ANSWER_SECONDS = 30.0
# How long the leader waits for followers to apply a commit before it answers anyway.
SYNC_SECONDS = 5.0
# How long a follower waits for its leader to start listening.
CONNECT_SECONDS = 300.0
# The leader's first message to a follower: it is counted in, every commit from now is sent.
COUNTED_IN = {"following": True}


def framed(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    return HEADER.pack(len(body)) + body


async def received(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None when the other end has gone."""
    try:
        header = await reader.readexactly(HEADER.size)
        message: dict[str, Any] = orjson.loads(await reader.readexactly(HEADER.unpack(header)[0]))
        return message
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class _Follower:
    """One follower's connection: commits sent to it, and how many it has applied."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.sent = 0
        self.applied = 0
        self.waiting: list[tuple[int, asyncio.Future[None]]] = []

    def acknowledged(self, applied: int) -> None:
        self.applied = applied
        still = []
        for target, future in self.waiting:
            if target <= applied:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self.waiting = still

    def caught_up(self) -> asyncio.Future[None] | None:
        """Done once this follower has applied every commit sent to it so far."""
        if self.applied >= self.sent or self.writer.is_closing():
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((self.sent, future))
        return future

    def gone(self) -> None:
        self.acknowledged(self.sent)


class Relay:
    """The leader's end: commits out to every follower, followers' commands in."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / SOCKET_NAME
        self.gateway: CommandGateway | None = None
        self.followers: set[_Follower] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, gateway: CommandGateway) -> None:
        """Listen for followers; their commands are decided through `gateway` (whose
        answers wait for `synced`)."""
        self.gateway = gateway
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self.path.chmod(0o600)

    def send(self, events: list[dict[str, Any]]) -> None:
        """Called on the event loop with each commit's events, before the hub applies them."""
        if self.followers:
            message = framed({"events": events})
            for follower in self.followers:
                follower.writer.write(message)
                follower.sent += 1

    async def synced(self) -> None:
        """Wait until every follower has applied every commit sent so far (or has gone)."""
        waits = [f for f in (follower.caught_up() for follower in self.followers) if f is not None]
        if waits:
            done, _ = await asyncio.wait(waits, timeout=SYNC_SECONDS)
            if len(done) < len(waits):
                log.warning("a follower is more than %s s behind the log", SYNC_SECONDS)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        follower = _Follower(writer)
        self.followers.add(follower)
        # From here every commit is sent to it: it reads the file only once told so.
        writer.write(framed(COUNTED_IN))
        try:
            while (message := await received(reader)) is not None:
                if "applied" in message:
                    follower.acknowledged(message["applied"])
                    continue
                task = asyncio.create_task(self._decide(writer, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            self.followers.discard(follower)
            follower.gone()
            writer.close()

    async def _decide(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"answer": request.get("id")}
        try:
            assert self.gateway is not None
            submission = Submission.from_wire(request["command"])
            actor = Actor(**request["actor"])
            reply["ok"] = await self.gateway.submit(request["partnership"], submission, actor)
        except Exception as error:
            reply["error"] = refused(error)
            if reply["error"]["status"] >= 500:
                log.exception("a follower's command %s failed", request.get("command"))
        if not writer.is_closing():
            writer.write(framed(reply))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for follower in list(self.followers):
            follower.writer.close()
            follower.gone()
        for task in list(self._tasks):
            task.cancel()
        self.path.unlink(missing_ok=True)


class FollowerLog(SqliteReader):
    """A follower's log and command gateway: it reads the leader's file, and sends its
    commands to the leader and takes each commit's events from it over the relay."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / "log.db")
        self.socket_path = folder / SOCKET_NAME
        self.on_commit: Commit | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._incoming: asyncio.StreamReader | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._applied = 0
        self._follow: asyncio.Task[None] | None = None
        self._stopping = False

    async def connect(self, timeout: float = CONNECT_SECONDS) -> None:
        """Connect before the hub reads the file, so no commit falls between the two:
        return once the leader has counted this follower in (a connection the leader's
        loop has not yet taken is sent no commit, and one made then is lost).

        The leader may still be starting (folding a long log): wait for it.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                self._incoming, self._writer = await asyncio.open_unix_connection(str(self.socket_path))
                if await received(self._incoming) != COUNTED_IN:
                    raise ConnectionRefusedError(
                        "the leader closed the relay before counting this follower in"
                    )
                return
            except (FileNotFoundError, ConnectionRefusedError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def start(self) -> None:
        self._follow = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._incoming is not None
        try:
            while (message := await received(self._incoming)) is not None:
                if "events" in message:
                    if self.on_commit is not None:
                        self.on_commit(message["events"])
                    # after the hub has applied them (on_commit queued that first)
                    asyncio.get_running_loop().call_soon(self._acknowledge)
                    continue
                future = self._waiting.pop(message["answer"], None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(refusal(message["error"]))
                else:
                    future.set_result(message["ok"])
        finally:
            self._lost()

    def _acknowledge(self) -> None:
        self._applied += 1
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(framed({"applied": self._applied}))

    def _lost(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(Unavailable("the hub's writer process has gone"))
        self._waiting.clear()
        if not self._stopping:
            log.warning("the leader has gone: this follower stops")
            os.kill(os.getpid(), signal.SIGTERM)

    def subscribe(self, on_commit: Commit) -> None:
        self.on_commit = on_commit

    async def submit(self, partnership: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        if self._writer is None or self._writer.is_closing():
            raise Unavailable("the hub's writer process has gone")
        number = next(self._ids)
        future = self._waiting[number] = asyncio.get_running_loop().create_future()
        self._writer.write(
            framed(
                {
                    "id": number,
                    "partnership": partnership,
                    "command": submission.to_wire(),
                    "actor": actor.as_dict(),
                }
            )
        )
        try:
            return await asyncio.wait_for(future, ANSWER_SECONDS)
        except TimeoutError as error:
            raise Unavailable("the hub's writer did not answer in time; retry with the same key") from error
        finally:
            self._waiting.pop(number, None)

    async def stop(self) -> None:
        self._stopping = True
        if self._follow is not None:
            self._follow.cancel()
        if self._writer is not None:
            self._writer.close()
