"""A decider: the pure functions of one kind of stream, as the command path runs them.

`stream_of` names the stream a command addresses, `initial` and `evolve` fold the
stream's events into its state, and `decide` turns a command and that state into new
events, or refuses it. `setup` is the partnership's own state (venues, channels,
members), which every decision may consult.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args

from hub.domain import Context
from schemas.commands import Command
from schemas.events import Event

State = TypeVar("State")
Evolution = Callable[[State, dict[str, Any]], State]


@dataclass(frozen=True)
class Decider(Generic[State]):
    """One kind of stream: its commands, the event types it folds, and its functions."""

    family: str
    commands: Any  # the union of this stream's command types
    stream_of: Callable[[Any], str]
    initial: Callable[[], State]
    evolve: Callable[[State, str, dict[str, Any]], State]
    events: tuple[str, ...]
    decide: Callable[[Any, State, Context, Any], list[Event]]

    @classmethod
    def of(
        cls,
        family: str,
        commands: Any,
        stream_of: Callable[[Any], str],
        initial: Callable[[], State],
        evolutions: Mapping[str, Evolution[State]],
        decide: Callable[[Any, State, Context, Any], list[Event]],
    ) -> Decider[State]:
        """A decider whose `evolve` is a table of evolutions, one per event type it holds."""
        return cls(family, commands, stream_of, initial, evolver(evolutions), tuple(evolutions), decide)

    def command_types(self) -> tuple[type[Command], ...]:
        return tuple(get_args(self.commands) or (self.commands,))


def unchanged(state: State, data: dict[str, Any]) -> State:
    """An event the stream keeps in its log that changes none of its decision state."""
    return state


def evolver(evolutions: Mapping[str, Evolution[State]]) -> Callable[[State, str, dict[str, Any]], State]:
    """A stream's `evolve` from its table of evolutions, one per event type it holds."""

    def evolve(state: State, type: str, data: dict[str, Any]) -> State:
        step = evolutions.get(type)
        return state if step is None else step(state, data)

    return evolve
