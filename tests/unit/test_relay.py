"""The relay between the processes of `hub serve --processes` (hub/log/relay.py), over a real
Unix socket: commits go out in order, and the leader's answers wait for every follower
to have applied what was sent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.log.relay import COUNTED_IN, Relay, framed, received


class Leader:
    """Just what the relay uses of the leader: a gateway for its followers' commands."""

    async def submit(self, *args: Any) -> dict[str, Any]:
        raise AssertionError("no command is sent in this test")


async def _follower(relay: Relay) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(relay.path))
    assert await received(reader) == COUNTED_IN  # counted in: every commit from now is sent
    return reader, writer


def test_the_leader_waits_until_every_follower_has_applied_what_was_sent(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = Relay(tmp_path)
        await relay.start(Leader())
        reader, writer = await _follower(relay)
        await asyncio.wait_for(relay.synced(), 1)  # nothing sent yet: nothing to wait for
        relay.send([{"position": 1}])
        relay.send([{"position": 2}, {"position": 3}])
        assert await received(reader) == {"events": [{"position": 1}]}
        assert await received(reader) == {"events": [{"position": 2}, {"position": 3}]}
        waiting = asyncio.create_task(relay.synced())
        writer.write(framed({"applied": 1}))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # one of two commits applied
        writer.write(framed({"applied": 2}))
        await asyncio.wait_for(waiting, 1)
        relay.send([{"position": 4}])
        waiting = asyncio.create_task(relay.synced())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        writer.close()  # a follower that has gone is not waited for
        await asyncio.wait_for(waiting, 1)
        await relay.stop()
        assert not relay.path.exists()

    asyncio.run(scenario())
