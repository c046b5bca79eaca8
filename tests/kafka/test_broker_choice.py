"""Which broker the Kafka tests use (tests/kafka/broker.py). Needs no broker and no Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kafka.broker import choose, docker_answers


class Spy:
    """Stands in for the Docker ping or the container start, and counts its calls."""

    def __init__(self, answer: Any) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.answer


def test_hub_test_kafka_is_taken_first_and_docker_is_not_asked() -> None:
    engine, container = Spy(True), Spy("container:1")

    chosen = choose({"HUB_TEST_KAFKA": " 127.0.0.1:29092 "}, engine, container)

    assert chosen == "127.0.0.1:29092"
    assert (engine.calls, container.calls) == (0, 0)


@pytest.mark.parametrize("environ", [{}, {"HUB_TEST_KAFKA": ""}, {"HUB_TEST_KAFKA": "  "}])
def test_without_hub_test_kafka_a_container_starts_when_docker_answers(environ: dict[str, str]) -> None:
    engine, container = Spy(True), Spy("127.0.0.1:32771")

    assert choose(environ, engine, container) == "127.0.0.1:32771"
    assert (engine.calls, container.calls) == (1, 1)


def test_without_hub_test_kafka_or_docker_there_is_no_broker() -> None:
    engine, container = Spy(False), Spy("never")

    assert choose({}, engine, container) is None
    assert (engine.calls, container.calls) == (1, 0)


@pytest.mark.parametrize("host", ["unix://{missing}", "tcp://127.0.0.1:1", "not a docker host"])
def test_asking_docker_that_is_not_there_says_no_and_raises_nothing(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", host.format(missing=tmp_path / "docker.sock"))

    assert docker_answers(timeout=0.5) is False
