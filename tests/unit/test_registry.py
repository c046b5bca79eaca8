"""The one command path holds together: every command has exactly one decider, every
event type one stream, one view handler (or an explicit "no view") and one audience
rule; each event type's name is written once; no production function outgrows a
screen; and the packages import downward only."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest

from hub.domain.registry import DECIDERS, ROUTES
from projections.audience import RULES
from projections.views import HANDLERS, NO_VIEW
from schemas.commands import ANY_COMMAND, COMMAND_TYPES
from schemas.events import EVENT_TYPES, PUSH_EVENTS

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("hub", "api", "projections", "schemas", "streams")


def production_modules() -> list[Path]:
    return sorted(path for package in PRODUCTION for path in (ROOT / package).rglob("*.py"))


def test_every_command_has_exactly_one_decider() -> None:
    commands = get_args(get_args(ANY_COMMAND)[0])  # the union the wire is parsed with
    assert len(commands) == len(COMMAND_TYPES) == len(set(commands))
    claimed = Counter(command for decider in DECIDERS for command in decider.command_types())
    assert {c: n for c, n in claimed.items() if n != 1} == {}
    assert set(claimed) == set(commands) == set(ROUTES)


def test_every_event_type_belongs_to_exactly_one_stream_and_is_folded_there() -> None:
    folded = Counter(event for decider in DECIDERS for event in decider.events)
    assert {e: n for e, n in folded.items() if n != 1} == {}
    assert set(folded) == set(EVENT_TYPES)


def test_every_event_type_has_a_view_handler_or_says_it_has_none() -> None:
    """The push subscriptions' events are folded by the push sender's own index
    (hub/application/push.py), never by the screens' views."""
    assert not set(HANDLERS) & NO_VIEW
    assert not (set(HANDLERS) | NO_VIEW) & PUSH_EVENTS
    assert set(HANDLERS) | NO_VIEW | PUSH_EVENTS == set(EVENT_TYPES)


def test_every_event_type_has_an_audience_rule() -> None:
    """Push subscriptions are no one's live frame: without a rule, their audience is NOBODY."""
    assert not set(RULES) & PUSH_EVENTS
    assert set(RULES) | PUSH_EVENTS == set(EVENT_TYPES)


def test_each_event_type_name_is_written_in_one_production_module() -> None:
    spelled: dict[str, list[str]] = {name: [] for name in EVENT_TYPES}
    for path in production_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in spelled:
                spelled[node.value].append(str(path.relative_to(ROOT)))
    assert {name: places for name, places in spelled.items() if places != ["schemas/events.py"]} == {}


def test_no_production_function_is_longer_than_sixty_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in production_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []


# Layers, lowest first: a module may import its own layer and those below it, never above.
LAYERS = [
    ("schemas",),
    ("hub.domain", "hub.clock", "hub.failpoints", "hub.logs"),
    ("projections",),
    ("hub.application", "hub.log.port"),
    ("hub.log", "hub.privacy", "hub.schemas_export", "hub.push"),
    ("hub.bootstrap", "hub.demo", "hub.backup"),
    ("api", "streams"),
    ("hub.cli", "hub.__main__"),
]


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (level, len(prefix))
    return None if best is None else best[0]


def imports_of(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_import_downward_only(path: Path) -> None:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    own = layer_of(module)
    if module == "hub":
        return
    assert own is not None, f"{module} is in no layer"
    upward = [name for name in imports_of(path) if (layer_of(name) or 0) > own]
    assert upward == []
