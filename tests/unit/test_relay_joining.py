"""A follower of `hub serve --processes` that joins while the leader writes misses no
commit (hub/log/relay.py): its connect returns only once the leader counts it in, so
every commit after is sent to it and every commit before is in the file it then reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.log.relay import FollowerLog, Relay


class Leader:
    async def submit(self, *args: Any) -> dict[str, Any]:
        raise AssertionError("no command is sent in this test")


def test_a_commit_made_as_a_follower_connects_reaches_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = Relay(tmp_path)
        await relay.start(Leader())
        follower = FollowerLog(tmp_path)
        follower._stopping = True  # when the test ends the relay goes: this process stays
        heard: list[list[dict[str, Any]]] = []
        follower.subscribe(heard.append)
        await follower.connect()
        # the follower reads the file now: a commit from here on must come over the relay
        relay.send([{"position": 1}])
        follower.start()
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.01)
        await follower.stop()
        await relay.stop()
        assert heard == [[{"position": 1}]], "a commit made just after the follower connected was lost"

    asyncio.run(scenario())
