"""Fenced writers and answered writes through faults, on the real broker (DESIGN: Kafka).

Every test here asserts the same of the history afterwards: each write answered 201 is in
it exactly once, on every node, at the positions it was given; no position is held twice
(the log is gapless and verifies); the nodes' views are equal.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kafka.support import (
    KafkaCluster,
    Poster,
    WorkerProcess,
    audit_events,
    running_cluster,
    unique_prefix,
    verify,
    wait_until,
)
from tests.support import set_up_partnership

pytestmark = pytest.mark.kafka


class Partnership:
    """One partnership on a cluster, with a token per role."""

    def __init__(self, cluster: KafkaCluster, p: str) -> None:
        self.cluster, self.p = cluster, p
        admin = cluster.a.login("admin")
        try:
            self.users = set_up_partnership(admin, p)
        finally:
            admin.close()
        self.tokens = {role: cluster.a.token(user) for role, user in self.users.items()}

    def posters(self, label: str, pause: float = 0.02) -> list[Poster]:
        token = self.tokens["cctv_operator"]
        return [
            Poster(node, token, self.p, f"{label}{i}", pause).start()
            for i, node in enumerate(self.cluster.nodes)
        ]

    def head(self, node: Any) -> int:
        events = audit_events(node, self.tokens["auditor"], self.p)
        return len(events)

    def assert_history(self, posters: list[Poster]) -> list[dict[str, Any]]:
        """Every 201 once, at its positions, on every node; gapless, verified, equal views."""
        for poster in posters:
            poster.settle()
        answered = {text: answer for x in posters for text, answer in x.answered.items()}
        assert answered, "nothing was answered"
        assert not [e for x in posters for e in x.errors], [e for x in posters for e in x.errors][:5]
        top = max(max(a["positions"]) for a in answered.values())
        auditor = self.tokens["auditor"]
        histories = []
        for node in self.cluster.nodes:
            wait_until(lambda node=node: self.head(node) >= top, 60, f"{node.name} at {top}")
            events = audit_events(node, auditor, self.p)
            assert [e["position"] for e in events] == list(range(1, len(events) + 1))
            result = verify(node, auditor, self.p)
            assert result["ok"] is True and result["checked"] == len(events), result
            histories.append(events)
        assert all(h == histories[0] for h in histories[1:]), "the nodes' histories differ"
        events = histories[0]
        by_position = {e["position"]: e for e in events}
        labels = {x.label for x in posters}
        counts = Counter(
            e["data"]["text"]
            for e in events
            if e["type"] == "alert.broadcast" and e["data"]["text"].split("-")[0] in labels
        )
        assert not [t for t, n in counts.items() if n > 1], "written twice"
        assert set(answered) <= set(counts), (
            f"answered 201, not in the history: {set(answered) - set(counts)}"
        )
        refused = {t for x in posters for t in x.refused}
        assert not (refused & set(counts)), (
            f"answered 'nothing was written', in the history: {refused & set(counts)}"
        )
        for text, answer in answered.items():
            [position] = answer["positions"]
            assert by_position[position]["data"]["text"] == text, f"{text} answered at {position}"
            assert by_position[position]["data"]["alert_id"] == answer["id"]
        views = [self._alerts(node) for node in self.cluster.nodes]
        assert all(v == views[0] for v in views[1:]), "the nodes' views differ"
        return events

    def _alerts(self, node: Any) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{node.url}/v1/partnerships/{self.p}/alerts",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {self.tokens['coordinator']}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return sorted(answer.json(), key=lambda a: a["alert_id"])


def _log_has(worker: WorkerProcess, words: str) -> bool:
    return worker.log_path is not None and words in Path(worker.log_path).read_text(errors="replace")


def _restart_with(worker: WorkerProcess, **env: str) -> None:
    worker.stop()
    worker.env = {**worker.env, **env}
    worker.start()


def _answered(posters: list[Poster]) -> int:
    return sum(len(x.answered) for x in posters)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[KafkaCluster]:
    """Two API nodes and two workers, the second not started."""
    with running_cluster(tmp_path, unique_prefix("fence"), workers=2) as cluster:
        yield cluster


def test_a_stalled_worker_cannot_write_after_its_successor(tmp_path: Path) -> None:
    """The reproduction from the issue: worker A stalls between stamping a record and
    producing it; worker B is given the partition and writes those positions; then B stops
    and A takes the partition back. A's stale record must not land, A must not stamp a
    taken position after, and every answer is kept."""
    with running_cluster(tmp_path, unique_prefix("stall"), workers=1) as cluster:
        first = cluster.worker
        b = WorkerProcess(tmp_path / "worker-b", cluster.env, name="worker-b")
        cluster.workers.append(b)
        office = Partnership(cluster, "kst")
        _restart_with(first, HUB_FAILPOINTS="worker.before_produce=sleep(15)*1")
        token = office.tokens["cctv_operator"]
        stalled: dict[str, Any] = {}

        def post_stalled() -> None:
            answer = httpx.post(
                f"{cluster.a.url}/v1/partnerships/kst/alerts",
                json={"text": "b0-stall"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "b0-stall"},
                timeout=90,
            )
            stalled["answer"] = answer

        thread = threading.Thread(target=post_stalled, daemon=True)
        thread.start()
        wait_until(lambda: _log_has(first, "fail point worker.before_produce: pausing"), 60, "A stalled")
        # A is stopped outright, so the group drops it and B is given every partition.
        assert first.process is not None
        first.process.send_signal(signal.SIGSTOP)
        try:
            b.start()
            posters = office.posters("b", pause=0.05)
            wait_until(lambda: _answered(posters) >= 20, 90, "B writing")
        finally:
            first.process.send_signal(signal.SIGCONT)
        # A wakes with its stale record, rejoins; then B stops and A takes everything back.
        time.sleep(3)
        b.stop()
        before = _answered(posters)
        wait_until(lambda: _answered(posters) >= before + 20, 90, "A writing again")
        for poster in posters:
            poster.stop()
        thread.join(timeout=90)
        stalled_answer = stalled["answer"]
        assert stalled_answer.status_code in (201, 503), stalled_answer.text
        if stalled_answer.status_code == 201:
            posters[0].answered["b0-stall"] = stalled_answer.json()
        else:
            posters[0].unknown.add("b0-stall")  # settled by a retry with its key
        events = office.assert_history(posters)
        assert sum(e["data"].get("text") == "b0-stall" for e in events) == 1
        assert _log_has(first, "nothing was written"), "A's stale record was not refused"
        for node in cluster.nodes:
            assert _metric(node, "hub_replica_void_records_total") == 0


def _metric(node: Any, name: str) -> float:
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} not in /metrics"
    return sum(values)


@pytest.mark.parametrize(
    "where", ["worker.before_produce", "worker.after_produce"], ids=["before-produce", "after-produce"]
)
def test_a_worker_dying_at_a_fail_point_loses_no_answered_write(pair: KafkaCluster, where: str) -> None:
    """The worker dies (like kill -9) with a record stamped, or produced and unanswered;
    the second worker takes over; the first comes back."""
    office = Partnership(pair, f"kd{where[7]}")
    first, second = pair.workers
    second.stop()
    _restart_with(first, HUB_FAILPOINTS=f"{where}=off*30->exit")
    posters = office.posters("x", pause=0.02)
    try:
        wait_until(lambda: first.process is not None and first.process.poll() is not None, 120, "A died")
        _restart_with(second)
        _restart_with(first, HUB_FAILPOINTS="")
        before = _answered(posters)
        wait_until(lambda: _answered(posters) >= before + 30, 120, "answers after the death")
    finally:
        for poster in posters:
            poster.stop()
    office.assert_history(posters)


def test_an_api_node_dying_before_it_answers_loses_nothing(pair: KafkaCluster) -> None:
    office = Partnership(pair, "kdn")
    node = pair.a
    node.stop()
    node.env = {**node.env, "HUB_FAILPOINTS": "api.before_answer=off*20->exit"}
    node.start().wait_ready()
    posters = office.posters("n", pause=0.02)
    try:
        wait_until(lambda: not node.alive, 120, "node A died")
        node.env = {k: v for k, v in node.env.items() if k != "HUB_FAILPOINTS"}
        node.start().wait_ready()
        before = _answered(posters)
        wait_until(lambda: _answered(posters) >= before + 30, 120, "answers after the death")
    finally:
        for poster in posters:
            poster.stop()
    # The request A died on was never answered: the client sees an error and retries with
    # its key, which returns the first answer if it was written.
    dropped = [e.split(":")[0] for x in posters for e in x.errors]
    for poster in posters:
        poster.errors = []
        poster.unknown |= {t for t in dropped if t.startswith(poster.label + "-")}
    office.assert_history(posters)
