"""The AsyncAPI document parses without error under the official AsyncAPI parser
(`scripts/asyncapi-validate`, @asyncapi/parser pinned in scripts/asyncapi/), `hub schemas
export` writes the very document the running hub serves at /asyncapi.json, and the live
socket's real frames have the shape the document gives them."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Live, Server, hub_command, skip_unless_ci

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "asyncapi-validate"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the checker on `path`; its first run installs the parser with npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        skip_unless_ci("the AsyncAPI check needs node and npm (Debian: nodejs, npm)")
    return subprocess.run([str(CHECKER), str(path)], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """asyncapi.json as `hub schemas export DIR` writes it."""
    folder = tmp_path_factory.mktemp("schemas")
    result = hub_command(folder / "data", "schemas", "export", str(folder / "out"))
    assert result.returncode == 0, result.stderr
    return folder / "out" / "asyncapi.json"


def document(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_the_exported_document_has_no_error_under_the_official_parser(exported: Path) -> None:
    result = check(exported)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "valid AsyncAPI (0 errors, 0 warnings" in result.stdout, report


def test_the_served_document_is_the_exported_one(hub_server: Server, exported: Path) -> None:
    answer = httpx.get(hub_server.url + "/asyncapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == document(exported)


def test_the_checker_fails_a_document_with_the_old_defects(exported: Path, tmp_path: Path) -> None:
    """Operations naming components' messages, not their channel's, and a `$defs` ref
    that the document lacks: what the export did before, each an error."""
    broken = copy.deepcopy(document(exported))
    for operation in broken["operations"].values():
        operation["messages"] = [
            {"$ref": m["$ref"].replace(f"{operation['channel']['$ref']}/", "#/components/")}
            for m in operation["messages"]
        ]
    broken["components"]["schemas"]["Envelope"]["properties"]["actor"] = {"$ref": "#/$defs/Actor"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = check(path)
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    assert "asyncapi3-operation-messages-from-referred-channel" in result.stdout, report
    assert "'#/$defs/Actor' does not exist" in result.stdout, report
    assert "NOT valid AsyncAPI" in result.stdout, report


def test_every_ref_stays_inside_the_document(exported: Path) -> None:
    """No `$defs` left to dangle, and no ref the parser would have to fetch."""

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            here = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return here + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    found = document(exported)
    assert "$defs" not in json.dumps(found)
    for ref in refs(found):
        assert ref.startswith("#/"), ref
        target: Any = found
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"{ref} points at nothing"
            target = target[part]


def test_the_document_names_the_topics_every_event_and_command(exported: Path) -> None:
    from schemas.commands import COMMAND_TYPES
    from schemas.events import EVENT_TYPES

    found = document(exported)
    addresses = {c["address"] for c in found["channels"].values()}
    assert addresses == {"hub.commands", "hub.events", "hub.keys", "/v1/live"}
    schemas, messages = found["components"]["schemas"], found["components"]["messages"]
    events = messages["decided"]["payload"]["properties"]["events"]
    assert [e["$ref"].rsplit("/", 1)[1] for e in events["items"]["oneOf"]] == list(EVENT_TYPES)
    for name, model in EVENT_TYPES.items():
        data = schemas[name]["allOf"][1]["properties"]["data"]
        assert data == {"$ref": f"#/components/schemas/{model.__name__}"}, name
    command = messages["command"]["payload"]["properties"]["command"]
    assert [c["properties"]["action"]["const"] for c in command["oneOf"]] == list(COMMAND_TYPES)


def assert_shaped(frame: dict[str, Any], found: dict[str, Any], message: str) -> None:
    """`frame` has every required property of `message`'s payload, no other than it names,
    and the op it fixes."""
    payload = found["components"]["messages"][message]["payload"]
    properties = payload["properties"]
    assert set(payload["required"]) <= set(frame) <= set(properties), (message, frame)
    assert frame["op"] == properties["op"]["const"], (message, frame)


def test_live_frames_have_the_documented_shape(hub_server: Server, exported: Path) -> None:
    found = document(exported)
    user = hub_server.users["north"]["coordinator"]  # type: ignore[attr-defined]
    token = hub_server.token(user)
    live = Live(hub_server, token, {"north": 0})
    try:
        assert_shaped(live.welcome, found, "welcome")
        coordinator = hub_server.login(user)
        answer = coordinator.post("/v1/partnerships/north/alerts", json={"text": "Shoplifter heading north"})
        assert answer.status_code == 201, answer.text
        event = live.frames_until(lambda f: f.get("type") == "alert.broadcast", timeout=30)[-1]
        assert_shaped(event, found, "event")
        types = found["components"]["messages"]["event"]["payload"]["properties"]["type"]["enum"]
        assert event["type"] in types
        replies = {
            "acked": {"op": "ack", "alert_id": event["data"]["alert_id"]},
            "token_renewed": {"op": "token", "token": token},
            "pong": {"op": "ping"},
            "error": {"op": "ack", "alert_id": "no-such-alert"},
        }
        for message, sent in replies.items():
            live.connection.send(json.dumps(sent))
            assert_shaped(live.frames_until(lambda f: f.get("op") != "event", timeout=30)[-1], found, message)
    finally:
        live.close()
