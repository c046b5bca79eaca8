"""The whole hub's decider: every stream's decider, and the route from a command to it.

The deciders are found in this package's modules (each stream module exports
`decider`), so a new stream needs no line here. `tests/unit/test_registry.py` proves
that every command has exactly one decider and every event type one stream.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import hub.domain
from hub.domain import Context, Rejected
from hub.domain.decider import Decider
from hub.domain.partnership import Partnership
from schemas.commands import Command, RegisterPartnership
from schemas.events import Event


def _discover() -> tuple[Decider[Any], ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(hub.domain.__path__), key=lambda i: i.name):
        decider = getattr(importlib.import_module(f"hub.domain.{info.name}"), "decider", None)
        if isinstance(decider, Decider):
            found.append(decider)
    return tuple(found)


DECIDERS = _discover()
ROUTES: dict[type[Command], Decider[Any]] = {
    command: decider for decider in DECIDERS for command in decider.command_types()
}
FAMILIES: dict[str, Decider[Any]] = {decider.family: decider for decider in DECIDERS}


def decider_of(command: Command) -> Decider[Any]:
    return ROUTES[type(command)]


def decider_for_stream(stream: str) -> Decider[Any]:
    """The decider of a stream, by its name (`alert-a1` is an alert stream)."""
    return FAMILIES[stream.split("-", 1)[0]]


def stream_of(command: Command) -> str:
    return decider_of(command).stream_of(command)


def decide(command: Command, state: Any, ctx: Context, setup: Partnership) -> list[Event]:
    """Decide `command` against its stream's state; every command but a partnership's
    registration needs a registered partnership."""
    if not setup.registered and not isinstance(command, RegisterPartnership):
        raise Rejected("no such partnership")
    return decider_of(command).decide(command, state, ctx, setup)
