"""A command is decided against everything its partition holds (DESIGN: Kafka, the worker
is the single writer): a node answers a command once it reads its record from the
broker, which can be before the worker that wrote it has taken it into its own replica;
the client's next command, decided in between, must still see it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kafka.support import running_cluster, unique_prefix
from tests.support import create

pytestmark = pytest.mark.kafka

# every batch the worker writes waits 2 s between the broker and its replica
SLOW_TAKE = {"HUB_FAILPOINTS": "worker.after_produce=sleep(2)"}


def test_the_next_command_sees_the_last_one_answered_before_the_worker_took_it(tmp_path: Path) -> None:
    with running_cluster(tmp_path, unique_prefix("decide"), nodes=1, settings=SLOW_TAKE) as cluster:
        admin = cluster.a.login("admin")
        try:
            create(admin, "/v1/partnerships", {"id": "ryw", "name": "Read your writes"})
            venue = {"id": "ryw-pub", "name": "The Crown", "kind": "night_time"}
            answer = admin.post("/v1/partnerships/ryw/venues", json=venue)
            assert answer.status_code == 201, answer.text  # was 409 "no such partnership"
            venues = admin.get("/v1/partnerships/ryw").json()["venues"]
        finally:
            admin.close()
    assert [v["id"] for v in venues] == ["ryw-pub"]
