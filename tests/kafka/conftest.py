"""Kafka tests: a failing test shows the tails of its cluster's process logs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.kafka.support import KafkaCluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        cluster = value if isinstance(value, KafkaCluster) else getattr(value, "cluster", None)
        if isinstance(cluster, KafkaCluster):
            report.sections.append((f"kafka cluster {cluster.prefix}: process logs", cluster.tails()))
            return
