"""End to end in Kafka mode: an alert posted over REST → its frame at a subscriber, light load.

A one-broker KRaft Kafka (`scripts/kafka`, port 29192 unless told otherwise, in a data
folder of its own made for the run, so it never meets `make test`'s broker on 29092 or
anyone's files under /tmp/hub-kafka-PORT), one `hub worker` (Faust: decides every
command) and `nodes` API nodes (`hub serve`, HUB_LOG=kafka://...), started as the Kafka
tests start them (tests/kafka/support.py, KafkaCluster) under a topic prefix no other
run uses. Then exactly the measurement of bench/e2e.py: `subscribers` live sockets held
by the Go client, one CCTV operator posting urgent alerts one at a time, one every
`interval_ms`; latency from just before the POST to the frame's arrival at each socket.

The path measured: POST on an API node → command record on `<prefix>.commands` → the
worker decides → one record on `<prefix>.events` → every API node consumes it into its
replica and views → the POST is answered and the frame pushed. With `nodes=1` the post
and the sockets are on the same node; with `nodes=2` the post goes to node A and the
sockets are on node B.

A broker that already answers on the port is used and left running; one started here is
stopped (and its data folder removed) at the end, on error too. Nothing raises: when the
broker or the cluster cannot be started, or the run fails, `run` returns {"error": ...}
with the settings, and the bench reports null.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.e2e import measure
from bench.fanout import PARTNERSHIP

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "kafka"
PORT = 29192  # `make test` uses 29092; KRaft's controller takes PORT + 1
PARTITIONS = 12  # as deployed (hub/bootstrap.py's default)
BROKER_START_S = 300  # fetching the jars with Maven the first time included; scripts/kafka waits 60 s itself


class Unavailable(RuntimeError):
    """The broker or the cluster could not be started."""


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)<", (ROOT / "scripts" / "kafka.pom.xml").read_text())
    return match.group(1) if match else "unknown"


@contextlib.contextmanager
def broker(port: int) -> Iterator[dict[str, Any]]:
    """A broker on 127.0.0.1:`port`: the one there, or one started (and stopped) here."""
    with tempfile.TemporaryDirectory(prefix="bench-kafka-broker-") as data:
        env = {
            **os.environ,
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(port + 1),
            "KAFKA_DATA": data,  # never the default /tmp/hub-kafka-PORT another run may own
        }

        def script(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout
            )

        info: dict[str, Any] = {"bootstrap": f"127.0.0.1:{port}", "version": kafka_version()}
        if script("status", 30).returncode == 0:
            yield info | {"started_here": False}
            return
        started = time.perf_counter()
        try:
            try:
                result = script("start", BROKER_START_S)
            except subprocess.TimeoutExpired as error:
                raise Unavailable(f"scripts/kafka start took more than {BROKER_START_S} s") from error
            if result.returncode != 0:
                raise Unavailable(f"scripts/kafka start failed: {(result.stderr or result.stdout)[-2000:]}")
            pid = Path(data, "kafka.pid").read_text().strip()
            started_s = round(time.perf_counter() - started, 1)
            yield info | {
                "started_here": True,
                "start_s": started_s,
                "pid": int(pid) if pid.isdigit() else None,
            }
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                script("stop", 60)  # SIGTERM, SIGKILL after 30 s; a no-op if it never started


def on_cluster(
    bootstrap: str, nodes: int, partitions: int, alerts: int, subscribers: int, interval_ms: float
) -> dict[str, Any]:
    """A worker and `nodes` API nodes on `bootstrap`, a partnership, then the measurement."""
    sys.path.insert(0, str(ROOT))
    from tests.kafka.support import KafkaCluster, wait_until
    from tests.support import set_up_partnership

    prefix = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-kafka-e2e-") as tmp:
        cluster = KafkaCluster(Path(tmp), bootstrap, prefix, nodes=nodes, partitions=partitions)
        started = time.perf_counter()
        try:
            try:
                cluster.start()  # bounded: the admin within 90 s, each node ready within 60 s
                admin = cluster.a.login("admin")
                users = set_up_partnership(admin, PARTNERSHIP)
                admin.close()
                listen_on = cluster.nodes[-1]
                # node B has the members (the last one made) before its sockets sign in
                wait_until(lambda: listen_on.token(users["door_staff_club"]), 30, "members on the last node")
            except Exception as error:
                raise Unavailable(f"the cluster did not start: {error!r}\n{cluster.tails()}") from error
            cluster_start_s = round(time.perf_counter() - started, 1)
            try:
                result = measure(cluster.a, listen_on, users, alerts, subscribers, interval_ms)
            except Exception as error:
                raise RuntimeError(f"{error!r}\n{cluster.tails()}") from error
        finally:
            cluster.stop()
    return result | {"topics": prefix, "cluster_start_s": cluster_start_s}


def run(
    alerts: int = 500,
    subscribers: int = 10,
    interval_ms: float = 20,
    nodes: int = 1,
    port: int = PORT,
    bootstrap: str | None = None,
    partitions: int = PARTITIONS,
) -> dict[str, Any]:
    """bench/e2e.py's result in Kafka mode, with `settings`; {"error": ...} if it cannot run."""
    settings: dict[str, Any] = {
        "worker": 1,
        "api_nodes": nodes,
        "posted_on": "node A",
        "sockets_on": "node A" if nodes == 1 else "node B",
        "partitions": partitions,
        "loadavg_before": os.getloadavg(),  # a shared machine: other people's work shows in the tail
    }
    try:
        with contextlib.ExitStack() as stack:
            if bootstrap is None:
                settings["broker"] = stack.enter_context(broker(port))
            else:
                settings["broker"] = {"bootstrap": bootstrap, "started_here": False}
            measured = on_cluster(
                settings["broker"]["bootstrap"], nodes, partitions, alerts, subscribers, interval_ms
            )
            settings |= {"topics": measured.pop("topics"), "cluster_start_s": measured.pop("cluster_start_s")}
            settings["loadavg_after"] = os.getloadavg()
    except Unavailable as error:
        return {"error": str(error), "settings": settings}
    except Exception as error:  # a failed run must not lose the bench's other figures
        return {"error": f"the run failed: {error}", "settings": settings}
    return measured | {"settings": settings}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1, help="2: post on A, sockets on B")
    parser.add_argument("--port", type=int, default=PORT, help="the broker's port (started if none answers)")
    parser.add_argument("--bootstrap", help="host:port of a running broker to use instead")
    args = parser.parse_args()
    result = run(args.alerts, args.subscribers, nodes=args.nodes, port=args.port, bootstrap=args.bootstrap)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
