"""Events as the tests state them: a type name and its data, as the typed event model."""

from __future__ import annotations

from typing import Any

from schemas.events import EVENT_TYPES, Event

# Personal data and secrets as a decider receives them: already sealed.
SEALED = {"key": "k", "ct": "c"}


def Fact(type: str, data: dict[str, Any]) -> Event:
    return EVENT_TYPES[type].model_validate(data)
