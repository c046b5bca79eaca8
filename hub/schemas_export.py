"""JSON Schema of every command and event, and the AsyncAPI document of topics and socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hub import __version__
from schemas.commands import COMMAND_TYPES, command_json_schema
from schemas.envelope import Envelope
from schemas.events import EVENT_TYPES


def command_schemas() -> dict[str, Any]:
    """JSON Schema of every command (the `args` of a submission, with its action), by action."""
    return {action: model.model_json_schema() for action, model in COMMAND_TYPES.items()}


def event_schemas() -> dict[str, Any]:
    return {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}


def _command_message() -> dict[str, Any]:
    """A record on `hub.commands`: the partnership, the submission, who gave it, its deadline."""
    return {
        "type": "object",
        "required": ["partnership", "command", "actor"],
        "properties": {
            "partnership": {"type": "string"},
            "command": {
                "type": "object",
                "required": ["id", "action", "args"],
                "properties": {
                    "id": {"type": "string"},
                    "action": {"enum": sorted(COMMAND_TYPES)},
                    "args": command_json_schema(),
                    "causation_id": {"type": ["string", "null"]},
                },
            },
            "actor": {
                "type": "object",
                "properties": {"user": {"type": "string"}, "role": {"type": "string"}},
            },
            "deadline": {"type": "number"},
        },
    }


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3 for `hub.commands`, `hub.events`, `hub.keys` and the live socket."""
    messages = {
        name.replace(".", "_"): {
            "name": name,
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {"type": "object", "properties": {"type": {"const": name}, "data": schema}},
                ]
            },
        }
        for name, schema in event_schemas().items()
    }
    refs = [{"$ref": f"#/components/messages/{m}"} for m in messages]
    frame = {
        "type": "object",
        "properties": {
            "op": {"enum": ["welcome", "event", "acked", "error"]},
            "partnership": {"type": "string"},
            "position": {"type": "integer"},
            "type": {"type": "string"},
            "data": {"type": "object"},
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "The hub: event topics and live socket", "version": __version__},
        "channels": {
            "events": {
                "address": "hub.events",
                "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in messages},
            },
            "commands": {
                "address": "hub.commands",
                "messages": {"command": {"payload": _command_message()}},
            },
            "keys": {"address": "hub.keys", "messages": {"key": {"payload": {"type": "object"}}}},
            "live": {
                "address": "/v1/live",
                "messages": {
                    "hello": {"payload": {"type": "object", "required": ["op", "token"]}},
                    "ack": {"payload": {"type": "object", "required": ["op", "alert_id"]}},
                    "frame": {"payload": frame},
                },
            },
        },
        "operations": {
            "publishEvents": {"action": "send", "channel": {"$ref": "#/channels/events"}, "messages": refs},
        },
        "components": {"schemas": {"Envelope": Envelope.model_json_schema()}, "messages": messages},
    }


def export(folder: Path) -> list[Path]:
    """Write events/, commands/ JSON Schemas and asyncapi.json into `folder`."""
    written = []
    for kind, found in (("events", event_schemas()), ("commands", command_schemas())):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for name, schema in found.items():
            path = folder / kind / f"{name}.json"
            path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
            written.append(path)
    path = folder / "asyncapi.json"
    path.write_bytes(orjson.dumps(asyncapi(), option=orjson.OPT_INDENT_2))
    written.append(path)
    return written
