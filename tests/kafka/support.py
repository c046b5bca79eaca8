"""Kafka-mode parts for tests: the broker rule, and a cluster of real processes.

`KafkaCluster` runs `hub worker` and N `hub serve` API nodes as subprocesses with
HUB_LOG=kafka://..., their own topic prefix (HUB_TOPICS), a shared HUB_SECRET and
HUB_PHOTOS, and a data folder each; it can SIGTERM, SIGKILL and restart each of them.

The broker (tests/kafka/broker.py): HUB_TEST_KAFKA=127.0.0.1:PORT (a broker from
`scripts/kafka start`, as `make test` sets it), else testcontainers' Kafka when a Docker
engine answers; without either the tests are skipped, except in CI (CI=true), where that
is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import PASSWORD, Server, skip_unless_ci

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 4


def require_broker() -> str:
    """The broker's host:port (tests/kafka/broker.py: HUB_TEST_KAFKA, else a testcontainers
    Kafka when Docker answers); skip (or, in CI, fail) when there is none."""
    from tests.kafka.broker import session_broker

    bootstrap = session_broker()
    if bootstrap:
        return bootstrap
    message = (
        "no Kafka broker: run `KAFKA_PORT=29092 scripts/kafka start` and set "
        "HUB_TEST_KAFKA=127.0.0.1:29092 (or run `make test`, or install testcontainers with a Docker engine)"
    )
    skip_unless_ci(message)
    raise AssertionError("unreachable")


def unique_prefix(name: str) -> str:
    """A topic prefix no other test (or earlier run) uses."""
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


def tail(path: Path | None, lines: int = 60) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass
class Node(Server):
    """A `hub serve` API node in Kafka mode, with exactly the environment `env` it is given."""

    name: str = "node"

    def environment(self) -> dict[str, str]:
        return self.env

    def start(self) -> Node:
        self.data.mkdir(parents=True, exist_ok=True)
        self.launch(self.data.parent / f"{self.name}.log", cwd=REPO)
        return self

    def wait_ready(self, timeout: float = 60) -> Node:
        super().wait_ready(timeout)
        return self

    def restart(self, how: str = "term") -> Node:
        if how == "kill":
            self.kill()
        else:
            self.stop()
        return self.start().wait_ready()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class WorkerProcess:
    """`hub worker`: the Faust app that decides every command."""

    data: Path
    env: dict[str, str]
    name: str = "worker"
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> WorkerProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data.parent / f"{self.name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "--data", str(self.data), "worker", "--log-level", "warn"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO,
            )
        return self

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class KafkaCluster:
    """Workers (one unless told) and N API nodes on one broker, under their own topic prefix."""

    def __init__(
        self,
        root: Path,
        bootstrap: str,
        prefix: str,
        nodes: int = 2,
        partitions: int = PARTITIONS,
        workers: int = 1,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.partitions = partitions
        self.photos = root / "photos"
        env = {k: v for k, v in os.environ.items() if k not in ("HUB_DATA", "HUB_OUTBOX_LIMIT")}
        env.update(
            {
                "HUB_LOG": f"kafka://{bootstrap}",
                "HUB_TOPICS": prefix,
                "HUB_PARTITIONS": str(partitions),
                "HUB_SECRET": f"secret-{prefix}-{uuid.uuid4().hex}",
                "HUB_PHOTOS": str(self.photos),
                "PYTHONUNBUFFERED": "1",
                **(settings or {}),
            }
        )
        self.env = env
        self.workers = [WorkerProcess(root / "worker", env)] + [
            WorkerProcess(root / f"worker-{i + 1}", env, name=f"worker-{i + 1}") for i in range(workers - 1)
        ]
        self.worker = self.workers[0]
        self.nodes = [
            Node(root / f"node-{chr(97 + i)}", env=env, name=f"node-{chr(97 + i)}") for i in range(nodes)
        ]

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> KafkaCluster:
        for worker in self.workers:
            worker.start()
        for node in self.nodes:
            node.start()
        self.make_admin()
        for node in self.nodes:
            node.wait_ready()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for worker in self.workers:
            worker.stop()

    def hub(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A one-off `hub` command in Kafka mode (its own data folder)."""
        return subprocess.run(
            [sys.executable, "-m", "hub", "--data", str(self.root / "cli"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=REPO,
        )

    def make_admin(self, name: str = "admin", within: float = 90) -> None:
        """`hub admin create` through the worker: retried until the worker is up."""
        deadline = time.monotonic() + within
        last = ""
        while time.monotonic() < deadline:
            if not self.worker.alive:
                raise RuntimeError(f"the worker exited:\n{tail(self.worker.log_path)}")
            result = self.hub("admin", "create", name, "--password-stdin", stdin=PASSWORD + "\n")
            if result.returncode == 0 or "already exists" in result.stderr + result.stdout:
                return
            last = result.stderr[-2000:]
            time.sleep(0.5)
        raise RuntimeError(f"admin create failed for {within}s:\n{last}\n{self.tails()}")

    def tails(self, lines: int = 40) -> str:
        parts = []
        for process in (*self.workers, *self.nodes):
            parts.append(f"----- {process.name} -----\n{tail(process.log_path, lines)}")
        return "\n".join(parts)

    # -- helpers -----------------------------------------------------------------------

    @property
    def a(self) -> Node:
        return self.nodes[0]

    @property
    def b(self) -> Node:
        return self.nodes[1]


@contextmanager
def running_cluster(
    root: Path, prefix: str, nodes: int = 2, workers: int = 1, settings: dict[str, str] | None = None
) -> Iterator[KafkaCluster]:
    """A started cluster; `settings` are extra environment variables for every process."""
    cluster = KafkaCluster(root, require_broker(), prefix, nodes, workers=workers, settings=settings)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# -- reading the log back ------------------------------------------------------------------


def audit_events(server: Server, token: str, p: str, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{server.url}/v1/partnerships/{p}/audit/events",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line]


def verify(server: Server, token: str, p: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.url}/v1/partnerships/{p}/audit/verify",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError) as error:
            last = error
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what} not within {timeout}s (last: {last!r})")


class Poster:
    """A thread posting alerts with unique texts through one node, recording the answers.

    Each alert carries its text as Idempotency-Key. A 503 says either that nothing was
    written (`refused`) or that the hub cannot tell yet (`unknown`); `settle` retries the
    unknown ones with the same key, which returns the first answer if one was written.
    """

    def __init__(self, server: Server, token: str, p: str, label: str, pause: float = 0.02) -> None:
        self.server, self.token, self.p, self.label, self.pause = server, token, p, label, pause
        self.answered: dict[str, dict[str, Any]] = {}  # text -> 201 answer
        self.refused: set[str] = set()  # 503: nothing was written
        self.unknown: set[str] = set()  # 503: cannot tell yet
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Poster:
        self._thread.start()
        return self

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)

    def _post(self, client: httpx.Client, text: str) -> None:
        try:
            answer = client.post(
                f"/v1/partnerships/{self.p}/alerts", json={"text": text}, headers={"Idempotency-Key": text}
            )
        except httpx.HTTPError as error:  # the node itself is away: nothing was answered
            self.errors.append(f"{text}: {error!r}")
            time.sleep(0.2)
            return
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        if answer.status_code == 201:
            self.answered[text] = answer.json()
            self.unknown.discard(text)
        elif answer.status_code == 503 and "nothing was written" in answer.text:
            self.refused.add(text)
        elif answer.status_code == 503 and "cannot tell" in answer.text:
            self.unknown.add(text)
        else:
            self.errors.append(f"{text}: {answer.status_code} {answer.text[:300]}")

    def _run(self) -> None:
        with self._client() as client:
            n = 0
            while not self._stop.is_set():
                self._post(client, f"{self.label}-{n:05d}")
                n += 1
                time.sleep(self.pause)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=90)

    def settle(self) -> list[str]:
        """Retry every unknown outcome with its key until answered; the texts retried."""
        retried = sorted(self.unknown)
        with self._client() as client:
            for text in retried:
                for _ in range(30):
                    self._post(client, text)
                    if text in self.answered:
                        break
                    time.sleep(1)
        assert not self.unknown, f"still unknown: {sorted(self.unknown)}"
        return retried


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]
