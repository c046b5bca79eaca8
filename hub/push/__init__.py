"""Web Push (RFC 8030, 8291, 8292): the VAPID key, the endpoint checks and the sender.
What is pushed to whom, and what it says, is pure: hub/application/push.py."""

from __future__ import annotations

from hub.application.processors import Processors
from hub.application.push import PushIndex
from hub.log.port import EventReader
from hub.push.sender import Opener, PushSender
from hub.push.vapid import Vapid


def attach(processors: Processors, log: EventReader, open_sealed: Opener, vapid: Vapid) -> PushSender:
    """A sender that reacts to every event the processors see, its index folded from `log`."""
    index = PushIndex()
    index.load(log)
    sender = PushSender(
        index,
        processors.views,
        open_sealed,
        vapid,
        processors.carry_out,
        processors.owns,
        processors.clock.now,
    )
    processors.also.append(sender)
    return sender
