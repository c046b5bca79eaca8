"""JSON Schema of every command and event, and the AsyncAPI document of topics and socket.

The AsyncAPI document is self-contained: pydantic puts each model's `$defs` at its own
schema's root, so they are moved into `components/schemas` once each (`Shelf`) and every
`$ref` points there. Operations name their channel's own messages, as AsyncAPI 3 asks.
`scripts/asyncapi-validate` checks it with the official parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hub import __version__
from hub.log.kafka import Topics
from schemas.commands import COMMAND_TYPES
from schemas.envelope import Actor, Envelope
from schemas.events import EVENT_TYPES, PRIVATE_FIELDS

SCHEMAS = "#/components/schemas/"
KAFKA_BINDING = "0.5.0"
WS_BINDING = "0.1.0"


def command_schemas() -> dict[str, Any]:
    """JSON Schema of every command (the `args` of a submission, with its action), by action."""
    return {action: model.model_json_schema() for action, model in COMMAND_TYPES.items()}


def event_schemas() -> dict[str, Any]:
    return {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}


class Shelf:
    """`components/schemas`: every named schema once, each `$ref` pointing at the shelf."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def put(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        """Shelve `schema` (and its `$defs`) as `name`; a `$ref` to it."""
        flat = self.flatten(schema)
        if self.schemas.setdefault(name, flat) != flat:
            raise ValueError(f"two different schemas are called {name}")
        return ref(name)

    def flatten(self, schema: Any) -> Any:
        """`schema` without `$defs` (shelved instead), its `#/$defs/X` refs made shelf refs."""
        if isinstance(schema, list):
            return [self.flatten(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        for name, found in schema.get("$defs", {}).items():
            self.put(name, found)
        flat = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                flat[key] = SCHEMAS + value.removeprefix("#/$defs/")
            elif key != "$defs":
                flat[key] = self.flatten(value)
        return flat


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    """An object schema with these properties, of which `required` must be there."""
    return {"type": "object", "required": required, "properties": properties}


# Each message on a channel, by name: what it is.
SUMMARIES = {
    "command": "A command for the worker that owns its partnership's partition",
    "decided": "A decided command: its events (all or none) and its answer",
    "refused": "A command the worker refused: nothing was written",
    "key": "A subject's key, sent before any event sealed with it",
    "erased": "A tombstone: the subject was erased, and compaction drops its key",
    "hello": "The client's first frame: its token, and where it resumes from",
    "ack": "The client acknowledges an alert",
    "token": "A fresh token for the same member keeps the socket open",
    "ping": "Is the socket alive?",
    "welcome": "The head of each partnership the member may see",
    "event": "An event the member may see: in order, each once",
    "acked": "The acknowledgement is recorded",
    "token_renewed": "The socket now lasts as long as the fresh token",
    "pong": "The socket is alive",
    "error": "A refusal, or why the hub closes the socket (code 1008)",
}


def _message(name: str, payload: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"name": name, "summary": SUMMARIES[name], "payload": payload, **more}


def _kafka_message(name: str, payload: dict[str, Any], key: str, **more: Any) -> dict[str, Any]:
    """A record whose Kafka key is `key`."""
    binding = {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": KAFKA_BINDING}}
    return _message(name, payload, bindings=binding, **more)


def _events(shelf: Shelf) -> list[dict[str, str]]:
    """Every event type as stored (the envelope around its data), shelved under its type."""
    shelf.put("Envelope", Envelope.model_json_schema())
    refs = []
    for name, model in EVENT_TYPES.items():
        data = shelf.put(model.__name__, model.model_json_schema())
        own = _obj(["type", "data"], type={"const": name}, data=data)
        refs.append(shelf.put(name, {"allOf": [ref("Envelope"), own], "title": name}))
    return refs


def _commands(shelf: Shelf) -> list[dict[str, Any]]:
    """A submission as it travels: its id, its action and that action's arguments."""
    shelved = []
    for action, model in COMMAND_TYPES.items():
        args = shelf.put(model.__name__, model.model_json_schema())
        shelved.append(
            _obj(
                ["id", "action", "args"],
                id={"type": "string", "description": "the submission's id: a retry with it writes nothing"},
                action={"const": action},
                args=args,
                causation_id={"type": ["string", "null"]},
            )
        )
    return shelved


def _kafka_messages(shelf: Shelf) -> dict[str, Any]:
    """The records on `hub.commands` (keyed by partnership), `hub.events` (likewise) and
    `hub.keys` (keyed by key id, compacted)."""
    shelf.put("Actor", Actor.model_json_schema())
    command = _obj(
        ["partnership", "command", "actor"],
        partnership={"type": "string"},
        command={"oneOf": _commands(shelf)},
        actor=ref("Actor"),
        deadline={"type": "number", "description": "Unix time after which the worker decides nothing"},
    )
    decided = _obj(
        ["partnership", "command_id", "answer", "events"],
        partnership={"type": "string"},
        command_id={"type": "string"},
        answer=_obj(["positions"], positions={"type": "array", "items": {"type": "integer"}}),
        events={"type": "array", "items": {"oneOf": _events(shelf)}},
    )
    refused = _obj(
        ["partnership", "command_id", "error"],
        partnership={"type": "string"},
        command_id={"type": "string"},
        error=_obj(["status", "detail"], status={"type": "integer"}, detail={}),
    )
    p, k = "the partnership's id", "the key's id"
    return {
        "command": _kafka_message("command", command, p),
        "decided": _kafka_message("decided", decided, p),
        "refused": _kafka_message("refused", refused, p),
        "key": _kafka_message(
            "key", {"type": "string", "format": "binary"}, k, contentType="application/octet-stream"
        ),
        "erased": _kafka_message("erased", {"type": "null"}, k),
    }


def _op(name: str, optional: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    """A live-socket frame, `{"op": name, ...}`: every property required but the `optional`."""
    required = ["op", *(k for k in properties if k not in optional)]
    return _obj(required, op={"const": name}, **properties)


def _live_messages() -> dict[str, Any]:
    """The live socket's frames: the client's (hello, ack, token, ping), then the hub's."""
    text = {"type": "string"}
    positions = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    token = {"type": "string", "description": "an access token (POST /v1/auth/token)"}
    private = ", ".join(sorted(PRIVATE_FIELDS))
    frames = {
        "hello": _op("hello", ("since",), token=token, since=positions),
        "ack": _op("ack", ("partnership", "command_id"), alert_id=text, partnership=text, command_id=text),
        "token": _op("token", token=token),
        "ping": _op("ping"),
        "welcome": _op("welcome", positions=positions),
        "event": _op(
            "event",
            partnership=text,
            position={"type": "integer", "minimum": 1},
            type={"enum": sorted(EVENT_TYPES)},
            id=text,
            occurred_at=text,
            actor={"type": "string", "description": "the user who caused it"},
            data={"type": "object", "description": f"the event's data less {private}"},
        ),
        "acked": _op(
            "acked",
            alert_id=text,
            partnership=text,
            positions={"type": "array", "items": {"type": "integer"}},
        ),
        "token_renewed": _op("token", expires_in={"type": "integer", "minimum": 0}),
        "pong": _op("pong"),
        "error": _op("error", detail=text),
    }
    return {name: _message(name, payload) for name, payload in frames.items()}


# Kafka topics and the live socket: each channel's messages, and who sends what.
CHANNELS = {
    "commands": ["command"],
    "events": ["decided", "refused"],
    "keys": ["key", "erased"],
    "live": ["hello", "ack", "token", "ping", "welcome", "event", "acked", "token_renewed", "pong", "error"],
}
# operation: (action, channel, messages, replies), from the hub's side (all of its nodes).
OPERATIONS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "sendCommand": ("send", "commands", ["command"], []),
    "decideCommand": ("receive", "commands", ["command"], []),
    "publishDecision": ("send", "events", ["decided", "refused"], []),
    "followEvents": ("receive", "events", ["decided", "refused"], []),
    "publishKey": ("send", "keys", ["key", "erased"], []),
    "followKeys": ("receive", "keys", ["key", "erased"], []),
    "greetListener": ("receive", "live", ["hello"], ["welcome", "error"]),
    "acknowledgeAlert": ("receive", "live", ["ack"], ["acked", "error"]),
    "renewToken": ("receive", "live", ["token"], ["token_renewed", "error"]),
    "answerPing": ("receive", "live", ["ping"], ["pong"]),
    "sendLiveEvent": ("send", "live", ["event"], []),
    "endLive": ("send", "live", ["error"], []),
}
OPERATION_SUMMARIES = {
    "sendCommand": "An API node sends a command to the worker that owns its partnership",
    "decideCommand": "The worker decides each command before its deadline",
    "publishDecision": "The worker, the partnership's single writer, publishes each decision",
    "followEvents": "Every node keeps a replica of the log, which feeds its views and live frames",
    "publishKey": "A node publishes each key it makes, and a tombstone when a subject is erased",
    "followKeys": "Every node stores everyone else's keys",
    "greetListener": "The hub checks the token, then sends every frame since, then live frames",
    "acknowledgeAlert": "The hub records an acknowledgement of an alert",
    "renewToken": "The hub moves the socket's expiry to the fresh token's",
    "answerPing": "The hub answers a ping",
    "sendLiveEvent": "The hub sends each frame the member may see, exactly once, in order",
    "endLive": "The hub says why before it closes a socket (revoked access, expired token)",
}


TOPICS = {
    "commands": "Commands from API nodes to the workers, keyed by partnership (HUB_PARTITIONS partitions)",
    "events": "The log: one record per decided command, keyed by partnership, kept for ever",
    "keys": "Subjects' keys, keyed by key id, compacted; HUB_TOPICS sets every topic's prefix",
}


def _channel(name: str, address: str) -> dict[str, Any]:
    return {
        "address": address,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in CHANNELS[name]},
    }


def _kafka_channels() -> dict[str, Any]:
    topics = Topics()
    channels = {}
    for name in ("commands", "events", "keys"):
        topic = getattr(topics, name)
        settings = topics.settings(topics.factor(3))[topic]
        configuration: dict[str, Any] = {"cleanup.policy": settings["cleanup.policy"].split(",")}
        # what the binding can say (the others are in the README's Kafka section)
        configuration |= {k: int(v) for k, v in settings.items() if k in ("retention.ms", "retention.bytes")}
        binding = {"topic": topic, "topicConfiguration": configuration, "bindingVersion": KAFKA_BINDING}
        channels[name] = {
            **_channel(name, topic),
            "description": TOPICS[name],
            "servers": [{"$ref": "#/servers/kafka"}],
            "bindings": {"kafka": binding},
        }
    return channels


def _live_channel() -> dict[str, Any]:
    return {
        **_channel("live", "/v1/live"),
        "description": (
            "The live socket: JSON text frames. A client that resumes from its last position gets "
            "every frame it may see exactly once, in order; one too slow to keep up is closed with "
            "code 1013 and resumes."
        ),
        "servers": [{"$ref": "#/servers/hub"}],
        "bindings": {"ws": {"method": "GET", "bindingVersion": WS_BINDING}},
    }


def _operations() -> dict[str, Any]:
    operations = {}
    for name, (action, channel, messages, replies) in OPERATIONS.items():
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": OPERATION_SUMMARIES[name],
            "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
        }
        if replies:
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in replies],
            }
        operations[name] = operation
    return operations


SERVERS = {
    "kafka": {
        "host": "{bootstrap}",
        "protocol": "kafka",
        "description": "Kafka mode's brokers (HUB_LOG=kafka://HOST:PORT)",
        "variables": {"bootstrap": {"default": "127.0.0.1:9092"}},
    },
    "hub": {
        "host": "{host}",
        "protocol": "ws",
        "description": "An API node (`hub serve`); wss behind TLS",
        "variables": {"host": {"default": "127.0.0.1:8000"}},
    },
}


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3 for `hub.commands`, `hub.events`, `hub.keys` and the live socket."""
    shelf = Shelf()
    messages = _kafka_messages(shelf) | _live_messages()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "The hub: event topics and live socket",
            "version": __version__,
            "description": "Kafka mode's topics, with every command and event, and the live socket.",
        },
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": _kafka_channels() | {"live": _live_channel()},
        "operations": _operations(),
        "components": {"schemas": dict(sorted(shelf.schemas.items())), "messages": messages},
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
