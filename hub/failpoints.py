"""Fail points: the hub pauses or dies at a named place, for fault tests.

`HUB_FAILPOINTS="name=action;name=action"`, read once at start. An action is `sleep(S)`
(pause S seconds), `exit` (the process dies at once, like kill -9: no cleanup, no
flush) or `off` (do nothing), and either may be followed by `*N`: the first N times
only. Actions chain with `->` as in TiKV's fail-rs: `off*40->exit` lets the place pass 40
times and dies the 41st, so a test can kill the hub in the middle of a write load.

Names: `worker.before_produce` (a command decided and stamped, not yet on the topic),
`worker.after_produce`, `log.before_commit`, `log.after_commit`, `api.before_answer`.
Unset, a fail point is one lookup in an empty dict.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass

NAMES = frozenset(
    {
        "worker.before_produce",
        "worker.after_produce",
        "log.before_commit",
        "log.after_commit",
        "api.before_answer",
    }
)
_STEP = re.compile(r"^(off|exit|sleep\((\d+(?:\.\d+)?)\))(?:\*(\d+))?$")


log = logging.getLogger("hub.failpoints")


@dataclass
class Step:
    action: str  # "off", "exit" or "sleep"
    seconds: float = 0.0
    times: int | None = None  # None: for ever


class FailPoint:
    """One place's steps, taken in order; each step's count is used up before the next."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self._lock = threading.Lock()

    def next_step(self) -> Step | None:
        with self._lock:
            while self.steps:
                step = self.steps[0]
                if step.times is None:
                    return step
                if step.times > 0:
                    step.times -= 1
                    return step
                self.steps.pop(0)
            return None


def parse(spec: str) -> dict[str, FailPoint]:
    """`name=action[*N][->action[*N]...];...`, refusing what it does not understand."""
    points: dict[str, FailPoint] = {}
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        name, _, actions = entry.partition("=")
        name = name.strip()
        if name not in NAMES:
            raise ValueError(
                f"HUB_FAILPOINTS: no fail point named {name!r} (known: {', '.join(sorted(NAMES))})"
            )
        steps = []
        for text in actions.split("->"):
            match = _STEP.match(text.strip())
            if match is None:
                raise ValueError(f"HUB_FAILPOINTS: {name}: cannot read the action {text.strip()!r}")
            action = match.group(1).split("(")[0]
            times = int(match.group(3)) if match.group(3) else None
            steps.append(Step(action, float(match.group(2) or 0), times))
        points[name] = FailPoint(steps)
    return points


POINTS = parse(os.environ.get("HUB_FAILPOINTS", ""))


def _pause(name: str) -> float:
    """Take the place's next step: die here, or the seconds to pause (0: go on)."""
    point = POINTS.get(name)
    step = point.next_step() if point is not None else None
    if step is None or step.action == "off":
        return 0.0
    if step.action == "exit":
        os.kill(os.getpid(), signal.SIGKILL)
    log.warning("fail point %s: pausing %.1fs", name, step.seconds)
    return step.seconds


def hit(name: str) -> None:
    """A fail point on a thread that may block (the log's writer)."""
    seconds = _pause(name)
    if seconds:
        time.sleep(seconds)


async def reached(name: str) -> None:
    """A fail point on the event loop: a sleep pauses this task only."""
    seconds = _pause(name)
    if seconds:
        await asyncio.sleep(seconds)
