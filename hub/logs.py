"""One log line per kind of trouble, with a count, not thousands a second.

While the broker is away the Kafka client, Faust and the hub's own retry loops log the
same warning many times a second (about 24,000 lines a worker in a 28 s outage). `Repeats`
lets the first record of each kind through (a kind: logger, level and message template,
whatever its arguments), holds back the same kind for `window` seconds, and then lets the
next one through saying how many it held back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WINDOW_SECONDS = 30.0
NOISY = ("aiokafka", "faust", "mode", "hub")


class Repeats(logging.Filter):
    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window, self.clock = window, clock
        # kind -> (when one was last let through, how many held back since)
        self.seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        last = self.seen.get(kind)
        if last is not None and now - last[0] < self.window:
            self.seen[kind] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} [and {last[1]:,} more like it in the last {now - last[0]:.0f}s]"
        self.seen[kind] = (now, 0)
        return True


def quiet_repeats(prefixes: tuple[str, ...] = NOISY, window: float = WINDOW_SECONDS) -> Repeats:
    """Put one `Repeats` on every logger under `prefixes` that exists now (the libraries'
    module loggers exist once they are imported): a filter on a logger sees only the
    records logged to it, so each gets it."""
    repeats = Repeats(window)
    names = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] in prefixes]
    for name in [*prefixes, *names]:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Repeats) for f in logger.filters):
            logger.addFilter(repeats)
    return repeats
