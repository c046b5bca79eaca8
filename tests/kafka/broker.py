"""Where the Kafka tests' broker comes from, in this order:

1. HUB_TEST_KAFKA=host:port (`make test` sets it to the broker `scripts/kafka` starts);
2. else, when testcontainers is installed and a Docker engine answers, one Kafka
   container (testcontainers' Kafka module, KRaft) started at the first test that asks
   and stopped when the session ends;
3. else none: the test skips, or fails in CI (tests/support.py `skip_unless_ci`).

Asking whether Docker answers is cheap and cannot hang or raise: a ping with a short
timeout, asked once a session.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
from collections.abc import Callable, Mapping
from typing import Any

# testcontainers' KafkaContainer drives Confluent's image; KRaft needs 7.0 or later.
IMAGE = "confluentinc/cp-kafka:7.6.0"
PING_SECONDS = 2.0


def choose(
    environ: Mapping[str, str], engine_answers: Callable[[], bool], start_container: Callable[[], str]
) -> str | None:
    """The broker's host:port, or None; Docker is not asked when HUB_TEST_KAFKA is set."""
    given = environ.get("HUB_TEST_KAFKA", "").strip()
    if given:
        return given
    if engine_answers():
        return start_container()
    return None


def docker_answers(timeout: float = PING_SECONDS) -> bool:
    """True when testcontainers can run here: it is installed and the Docker engine
    (DOCKER_HOST, or the default socket) answers a ping within `timeout`."""
    if importlib.util.find_spec("testcontainers") is None:
        return False
    try:
        import docker

        client = docker.from_env(timeout=timeout)
    except Exception:  # no engine, a bad DOCKER_HOST, no docker SDK: no Docker here
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


_session: dict[str, Any] = {}


def session_container() -> str:
    """A Kafka container for the whole test session: started once, stopped at exit.

    One broker, so the transaction log (the worker's fenced writers use transactions)
    keeps one replica. A container that failed to start is not tried again.
    """
    if "failed" in _session:
        raise RuntimeError("the Kafka container did not start earlier in this session") from _session[
            "failed"
        ]
    if "bootstrap" not in _session:
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer(IMAGE).with_kraft()
        container.with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        container.with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        try:
            container.start()
        except Exception as error:
            _session["failed"] = error
            raise
        atexit.register(container.stop)
        _session["bootstrap"] = container.get_bootstrap_server()
    return str(_session["bootstrap"])


@functools.cache
def _docker_answers_once() -> bool:
    return docker_answers()


def session_broker() -> str | None:
    """The broker for this test session, by the rule above."""
    return choose(os.environ, _docker_answers_once, session_container)
