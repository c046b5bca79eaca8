"""docker-compose.yml: valid YAML, a secret it cannot start without, and Kafka settings that
mean, unset, what the hub's own defaults mean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.bootstrap import kafka_topics, node_group
from hub.log.kafka import Topics

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
HUB_SERVICES = ("worker", "api-a", "api-b")
REFERENCE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<how>:-|:\?)(?P<word>[^}]*))?\}")


def services() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Any] = compose["services"]
    return found


def interpolated(environment: dict[str, str], shell: dict[str, str]) -> dict[str, str]:
    """The environment as compose hands it over: `${X:-default}` and `${X:?message}`."""

    def value(match: re.Match[str]) -> str:
        given = shell.get(match["name"], "")
        if given or match["how"] is None:
            return given
        if match["how"] == ":?":
            raise LookupError(match["word"])
        return str(match["word"])

    return {name: REFERENCE.sub(value, str(text)) for name, text in environment.items()}


def test_every_hub_process_needs_a_secret_and_has_none_by_default() -> None:
    assert "change-me" not in COMPOSE.read_text()
    for name in HUB_SERVICES:
        environment = services()[name]["environment"]
        assert environment["HUB_SECRET"].startswith("${HUB_SECRET:?"), name
        with pytest.raises(LookupError, match="set HUB_SECRET"):
            interpolated(environment, {})


def test_unset_kafka_settings_give_the_hubs_own_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HUB_SERVICES:
        environment = interpolated(services()[name]["environment"], {"HUB_SECRET": "s" * 40})
        monkeypatch.delenv("HUB_TOPICS", raising=False)
        for key, text in environment.items():
            monkeypatch.setenv(key, text)
        assert kafka_topics() == Topics(), name


def test_kafka_settings_given_in_the_shell_reach_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = {"HUB_SECRET": "s" * 40, "HUB_KAFKA_REPLICATION": "3", "HUB_KAFKA_MIN_INSYNC": "2"}
    shell["HUB_KAFKA_KEYS_SEGMENT_MS"] = "5000"
    monkeypatch.delenv("HUB_TOPICS", raising=False)
    for name in HUB_SERVICES:
        for key, text in interpolated(services()[name]["environment"], shell).items():
            monkeypatch.setenv(key, text)
        assert kafka_topics() == Topics(replication=3, min_insync=2, keys_segment_ms=5000), name


def test_each_api_node_reads_as_a_consumer_group_of_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = set()
    for name in ("api-a", "api-b"):
        environment = services()[name]["environment"]
        assert environment["HUB_LOG"] == services()["worker"]["environment"]["HUB_LOG"]
        monkeypatch.setenv("HUB_NODE_NAME", environment["HUB_NODE_NAME"])
        groups.add(node_group(Path("/data"), Topics()))
    assert groups == {"hub.node.api-a", "hub.node.api-b"}
