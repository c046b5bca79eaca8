"""A hostile network on loopback: a TCP proxy that cuts, delays and stalls connections.

Clients connect to the proxy; each connection (a `Link`) is forwarded to the target
port. While the weather is on (one task, one seeded `random.Random`), now and then it
picks a live link and

- cuts it: both sides closed at once, with a FIN, or with a RST (SO_LINGER 0), dropping
  whatever was in flight;
- stalls it: reads nothing from either side for a while, so the server's send buffer
  fills. The proxy's socket to the server has a small receive buffer and segment size,
  so the kernel cannot soak up a stall: it backs up into the server itself.

On a share of the links (drawn per link, from the seed) each chunk on its way to the
client waits a latency first. A FIN from either side is passed on (a half-close), after
what came before it. Which link and which fault come from the seed; when they land
depends on the machine, so a test counts what happened (`Counts`) rather than expecting
a sequence.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import cast


@dataclass(frozen=True)
class Weather:
    """How hostile the network is. Times in seconds."""

    seed: int = 11
    mean_gap: float = 0.25  # between two faults, over all links (exponentially distributed)
    cut_share: float = 0.5  # of faults; the rest are stalls
    reset_share: float = 0.5  # of cuts: a RST instead of a FIN
    stall: tuple[float, float] = (0.5, 4.0)  # how long a stall lasts, uniform
    slow_share: float = 0.25  # of links: each chunk to the client waits a latency first
    latency: tuple[float, float] = (0.001, 0.05)  # a slow link's, uniform
    upstream_rcvbuf: int = 4096  # the proxy's socket to the server (see above)
    upstream_mss: int = 1000

    def latency_of(self, link: int) -> float:
        """Link number `link`'s latency: 0 unless it is one of the slow ones."""
        draw = random.Random(self.seed * 100_003 + link)
        return draw.uniform(*self.latency) if draw.random() < self.slow_share else 0.0


@dataclass
class Counts:
    links: int = 0
    cuts_fin: int = 0
    cuts_reset: int = 0
    stalls: int = 0
    delayed_chunks: int = 0
    bytes_to_clients: int = 0


CLIENT, SERVER = "client", "server"


class _End(asyncio.Protocol):
    """One side of a link: what it receives goes to the link."""

    def __init__(self, link: Link, side: str) -> None:
        self.link, self.side = link, side
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.link.connected(self)

    def data_received(self, data: bytes) -> None:
        self.link.received(self.side, data)

    def eof_received(self) -> bool:
        self.link.finish(self.side)
        return True  # still open the other way

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.close()

    def pause_writing(self) -> None:  # this side's peer reads slowly: read less from the other
        self.link.hold(_other(self.side), "backpressure")

    def resume_writing(self) -> None:
        self.link.release(_other(self.side), "backpressure")


def _other(side: str) -> str:
    return SERVER if side == CLIENT else CLIENT


class Link:
    """One proxied connection. Reading from a side is paused while anything holds it
    (`holds`: a stall, a slow peer)."""

    def __init__(self, proxy: Proxy, number: int) -> None:
        self.proxy, self.number = proxy, number
        self.ends: dict[str, _End] = {}
        self.holds: dict[str, set[str]] = {CLIENT: set(), SERVER: set()}
        self.early: list[bytes] = []  # from the client before the server's end is connected
        self.finished: set[str] = set()  # sides that sent a FIN
        self.latency = proxy.weather.latency_of(number)
        self.pending: deque[tuple[float, bytes]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.stalled = False
        self.closed = False

    def connected(self, end: _End) -> None:
        self.ends[end.side] = end
        if self.closed:  # cut while connecting
            if end.side == CLIENT:
                asyncio.get_running_loop().call_soon(self._abort, end, False)
            return  # the server's end: Proxy._connect aborts it once uvloop owns the socket
        if self.holds[end.side]:  # a stall began while it connected (uvloop starts reading
            # after connection_made, so a pause there would not hold)
            asyncio.get_running_loop().call_soon(self._pause, end.side, True)
        if end.side == SERVER:
            for data in self.early:
                self._write(SERVER, data)
            self.early.clear()
            if CLIENT in self.finished:
                self._write_eof(SERVER)

    def received(self, side: str, data: bytes) -> None:
        if side == CLIENT and SERVER not in self.ends:
            self.early.append(data)
        elif side == CLIENT:
            self._write(SERVER, data)
        elif self.latency == 0:
            self._deliver(data)
        else:
            loop = asyncio.get_running_loop()
            self.proxy.counts.delayed_chunks += 1
            self.pending.append((loop.time() + self.latency, data))
            if self.timer is None:
                self.timer = loop.call_at(self.pending[0][0], self._due)

    def _due(self) -> None:
        """Deliver the chunks whose latency is over, in the order they came."""
        self.timer = None
        now = asyncio.get_running_loop().time()
        while self.pending and self.pending[0][0] <= now:
            self._deliver(self.pending.popleft()[1])
        if self.pending:
            self.timer = asyncio.get_running_loop().call_at(self.pending[0][0], self._due)

    def _deliver(self, data: bytes) -> None:
        self.proxy.counts.bytes_to_clients += len(data)
        self._write(CLIENT, data)

    def _write(self, side: str, data: bytes) -> None:
        end = self.ends.get(side)
        if not self.closed and end is not None and end.transport is not None:
            end.transport.write(data)

    def hold(self, side: str, reason: str) -> None:
        held = self.holds[side]
        first = not held
        held.add(reason)
        if first:
            self._pause(side, True)

    def release(self, side: str, reason: str) -> None:
        held = self.holds[side]
        if reason in held:
            held.discard(reason)
            if not held:
                self._pause(side, False)

    def _pause(self, side: str, pause: bool) -> None:
        end = self.ends.get(side)
        if self.closed or end is None or end.transport is None or end.transport.is_closing():
            return
        pause = pause and bool(self.holds[side])  # still held (a pause comes a step late)
        if pause:
            end.transport.pause_reading()
        else:
            end.transport.resume_reading()

    def stall(self, seconds: float) -> None:
        self.stalled = True
        for side in (CLIENT, SERVER):
            self.hold(side, "stall")
        asyncio.get_running_loop().call_later(seconds, self.unstall)

    def unstall(self) -> None:
        self.stalled = False
        for side in (CLIENT, SERVER):
            self.release(side, "stall")

    def finish(self, side: str) -> None:
        """`side` sent a FIN: pass it on once what came before it is written (a chunk still
        in its latency goes now); once both sides have, close the link."""
        if self.closed:
            return
        self.finished.add(side)
        if side == SERVER:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            while self.pending:
                self._deliver(self.pending.popleft()[1])
        self._write_eof(_other(side))
        if len(self.finished) == 2:
            self.closed = True
            self.proxy.links.pop(self.number, None)
            for end in self.ends.values():
                if end.transport is not None:
                    end.transport.close()  # after what it still has to write

    def _write_eof(self, side: str) -> None:
        end = self.ends.get(side)
        if end is not None and end.transport is not None and end.transport.can_write_eof():
            end.transport.write_eof()

    def close(self, reset: bool = False) -> None:
        """Both sides closed now, what is in flight dropped; with `reset`, a RST."""
        if self.closed:
            return
        self.closed = True
        self.proxy.links.pop(self.number, None)
        if self.timer is not None:
            self.timer.cancel()
        self.pending.clear()
        for end in self.ends.values():
            self._abort(end, reset)

    @staticmethod
    def _abort(end: _End, reset: bool) -> None:
        transport = end.transport
        if transport is None or transport.is_closing():
            return
        if reset:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class Proxy:
    """Listens on a free loopback port and forwards to `target_port`, in `weather`."""

    def __init__(self, target_port: int, weather: Weather | None = None) -> None:
        self.target_port = target_port
        self.weather = weather or Weather()
        self.counts = Counts()
        self.links: dict[int, Link] = {}
        self.port = 0
        self._random = random.Random(self.weather.seed)
        self._server: asyncio.Server | None = None
        self._weather: asyncio.Task[None] | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> Proxy:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def start_weather(self) -> None:
        self._weather = asyncio.create_task(self._rain())

    async def calm(self) -> None:
        """No more faults; stalls under way end now."""
        if self._weather is not None:
            self._weather.cancel()
            await asyncio.gather(self._weather, return_exceptions=True)
            self._weather = None
        for link in list(self.links.values()):
            if link.stalled:
                link.unstall()

    async def stop(self) -> None:
        await self.calm()
        if self._server is not None:
            self._server.close()
        for link in list(self.links.values()):
            link.close()
        await asyncio.gather(*self._connecting, return_exceptions=True)

    def _accept(self) -> _End:
        self.counts.links += 1
        link = Link(self, self.counts.links)
        self.links[link.number] = link
        task = asyncio.get_running_loop().create_task(self._connect(link))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return _End(link, CLIENT)

    async def _connect(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.weather.upstream_rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, self.weather.upstream_mss)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", self.target_port))
            _, end = await loop.create_connection(lambda: _End(link, SERVER), sock=sock)
        except OSError:
            sock.close()
            link.close()
            return
        if link.closed:  # not from connection_made: uvloop takes the socket over after it
            Link._abort(end, reset=False)

    async def _rain(self) -> None:
        rng, weather = self._random, self.weather
        while True:
            await asyncio.sleep(rng.expovariate(1 / weather.mean_gap))
            if not self.links:
                continue
            link = self.links[rng.choice(sorted(self.links))]
            if rng.random() < weather.cut_share:
                reset = rng.random() < weather.reset_share
                link.close(reset=reset)
                if reset:
                    self.counts.cuts_reset += 1
                else:
                    self.counts.cuts_fin += 1
            elif not link.stalled:
                self.counts.stalls += 1
                link.stall(rng.uniform(*weather.stall))
