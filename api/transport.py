"""Direct frame writes for live sockets served by uvicorn's websockets sans-io protocol,
and an HTTP protocol that leaves nothing behind when it hands a connection to a socket.

`HubWebSocketsProtocol` puts a writer in each WebSocket scope (`extensions["hub.direct"]`).
The live socket hands it to its subscription so the broadcaster can write a ready-made
frame straight to an idle socket's transport: no wake-up, task switch or framing per
socket. Under any other server the scope has no writer and frames go through the
outbox as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

SCOPE_KEY = "hub.direct"
# Past this many bytes waiting in the transport, frames go through the outbox instead.
WRITE_BUFFER_LIMIT = 64 * 1024

Writer = Callable[[bytes], bool]


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, letting go of its parser once the connection is a
    WebSocket's. The parser's callbacks are this protocol's bound methods: the two hold
    each other, uvicorn breaks that only in `connection_lost`, which a protocol that handed
    its transport to a WebSocket never gets, and under the hub's raised GC thresholds
    (hub/cli.py) a full collection almost never comes. bench/soak.py found it: each live
    socket opened left its HTTP protocol, parser and request headers in memory (~1 MiB a
    minute with 2,000 devices that resume as phones do)."""

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]  # as connection_lost does
        self.cycle = None  # type: ignore[assignment]  # an earlier request's, which holds this protocol too


class HubWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-io protocol, plus `write_frame` for pre-encoded server frames."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope.setdefault("extensions", {})[SCOPE_KEY] = self.write_frame

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The writer is a bound method: left in the scope, the scope and this protocol hold
        # each other, and under the hub's raised GC thresholds (hub/cli.py) a full collection
        # almost never comes, so every closed socket's objects would stay in memory.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.get("extensions", {}).pop(SCOPE_KEY, None)

    def write_frame(self, data: bytes) -> bool:
        """Write one complete, unmasked frame if the socket is open and keeping up."""
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
        ):
            return False
        transport = self.transport
        if transport.is_closing() or transport.get_write_buffer_size() >= WRITE_BUFFER_LIMIT:
            return False
        transport.write(data)
        return True


def writer(scope: Mapping[str, Any]) -> Writer | None:
    """The scope's direct writer, or None under another server."""
    found = (scope.get("extensions") or {}).get(SCOPE_KEY)
    return found if callable(found) else None
