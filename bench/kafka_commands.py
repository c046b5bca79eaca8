"""Kafka mode's capacity: commands answered 201 through one worker and through two.

`python -m bench.kafka_commands [--seconds 10]` writes bench/results/kafka_commands.json
and prints a table. DESIGN.md's targets: ≥ 5,000 commands/s with one worker, two ≥ 1.8x
one, p99 < 50 ms at half of one worker's capacity.

A one-broker KRaft Kafka (bench/kafka_e2e.py's `broker`: port 29192, a data folder of its
own), then for 1 and 2 workers a cluster as the Kafka tests run it (tests/kafka/support.py:
`hub worker` processes, two `hub serve` API nodes, 12 partitions, a fresh topic prefix)
with four partnerships on four different partitions. Capacity: wrk (closed loop) posts
alerts for each partnership through alternating API nodes, 16 connections each, after a
warm-up; only 201 answers count. Then, on the one-worker cluster, an open-loop client
posts at half that capacity, spread over the partnerships, and times each answer from the
moment it was due. Everything, broker included, shares this machine's cores: the CPU of
each process is in the result.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import kafka_e2e
from bench.common import histogram, machine, percentiles_ms, write
from bench.rest import LUA, _parse, ensure_wrk

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 12
PARTNERSHIPS = 4
CONNECTIONS_EACH = 16
TARGETS = {"kafka_commands_per_s_1w": 5_000, "kafka_scale_2w": 1.8, "kafka_p99_ms_half": 50}


def partnerships(count: int = PARTNERSHIPS) -> list[str]:
    """Partnership ids that land on different partitions (as hub/log/kafka.py places them)."""
    chosen, taken, n = [], set(), 0
    while len(chosen) < count:
        name = f"bk{n}"
        partition = zlib.crc32(name.encode()) % PARTITIONS
        if partition not in taken:
            chosen.append(name)
            taken.add(partition)
        n += 1
    return chosen


def _script(folder: Path, p: str, token: str) -> Path:
    path = folder / f"post-{p}.lua"
    body = orjson.dumps({"text": "bench: suspected shoplifter heading north", "priority": "routine"}).decode()
    path.write_text(f"BODY = [[{body}]]\nTOKEN = [[{token}]]\n" + LUA)
    return path


def capacity(cluster: Any, tokens: dict[str, str], seconds: float, folder: Path) -> dict[str, Any]:
    """wrk on every partnership at once, through alternating nodes; 201s a second."""
    binary = ensure_wrk()
    runs = []
    for n, (p, token) in enumerate(tokens.items()):
        node = cluster.nodes[n % len(cluster.nodes)]
        command = [
            binary,
            "-t1",
            f"-c{CONNECTIONS_EACH}",
            f"-d{int(seconds)}s",
            "--timeout",
            "20s",
            "--latency",
            "-s",
            str(_script(folder, p, token)),
            f"{node.url}/v1/partnerships/{p}/alerts",
        ]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for run in runs:
        out, err = run.communicate(timeout=seconds + 90)
        parsed = _parse(out.decode(errors="replace"))
        if parsed is None:
            raise RuntimeError(f"wrk gave no result: {out.decode()[-800:]} {err.decode()[-800:]}")
        results.append(parsed)
    created = sum(r["created"] for r in results)
    measured = max(r["duration_us"] for r in results) / 1e6
    return {
        "commands_per_s": round(created / measured),
        "created": created,
        "other_answers": sum(r["other"] for r in results),
        "statuses": [r["statuses"] for r in results],
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "p99_ms_closed_loop": max(round(r["latency_us"]["p99_ms"] / 1000, 1) for r in results),
        "seconds": round(measured, 2),
        "connections": CONNECTIONS_EACH * len(results),
    }


async def _open_loop(cluster: Any, tokens: dict[str, str], rate: float, seconds: float) -> dict[str, Any]:
    """Posts due at a fixed rate, round robin over partnerships and nodes; each answer
    timed from when it was due (a late send counts against the hub)."""
    clients = [httpx.AsyncClient(base_url=node.url, timeout=30) for node in cluster.nodes]
    latencies = histogram()
    statuses: dict[int, int] = {}
    names = list(tokens)
    started = time.perf_counter()
    total = int(rate * seconds)

    async def one(n: int) -> None:
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        p = names[n % len(names)]
        answer = await clients[n % len(clients)].post(
            f"/v1/partnerships/{p}/alerts",
            json={"text": f"bench open loop {n}", "priority": "routine"},
            headers={"Authorization": f"Bearer {tokens[p]}"},
        )
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        latencies.record_value(max(1, int((time.perf_counter() - due) * 1e6)))

    try:
        await asyncio.gather(*(one(n) for n in range(total)))
    finally:
        for client in clients:
            await client.aclose()
    return {
        "rate_per_s": round(rate),
        "seconds": seconds,
        "statuses": {str(k): v for k, v in statuses.items()},
        "latency": percentiles_ms(latencies),
    }


def on_cluster(bootstrap: str, workers: int, seconds: float, half_of: float | None) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.kafka.support import KafkaCluster
    from tests.support import set_up_partnership

    with tempfile.TemporaryDirectory(prefix="bench-kafka-commands-") as tmp:
        prefix = f"bench-cmd-{uuid.uuid4().hex[:8]}"
        cluster = KafkaCluster(Path(tmp), bootstrap, prefix, nodes=2, partitions=PARTITIONS, workers=workers)
        try:
            cluster.start()
            admin = cluster.a.login("admin")
            tokens = {}
            for p in partnerships():
                users = set_up_partnership(admin, p)
                tokens[p] = cluster.a.token(users["cctv_operator"])
            admin.close()
            capacity(cluster, tokens, 3, Path(tmp))  # warm-up: connections, JIT-free but caches
            result: dict[str, Any] = {"capacity": capacity(cluster, tokens, seconds, Path(tmp))}
            if half_of is not None:
                result["half"] = asyncio.run(_open_loop(cluster, tokens, half_of / 2, seconds))
        except Exception as error:
            raise RuntimeError(f"{error!r}\n{cluster.tails()}") from error
        finally:
            cluster.stop()
    return result


def run(seconds: float = 10, port: int = kafka_e2e.PORT) -> dict[str, Any]:
    """The three keys and how they were measured; {"error": ...} if it cannot run."""
    try:
        with kafka_e2e.broker(port) as broker:
            one = on_cluster(broker["bootstrap"], 1, seconds, None)
            one_rate = one["capacity"]["commands_per_s"]
            two = on_cluster(broker["bootstrap"], 2, seconds, None)
            half = on_cluster(broker["bootstrap"], 1, seconds, one_rate)["half"]
    except Exception as error:
        return {"error": f"the run failed: {error}"}
    two_rate = two["capacity"]["commands_per_s"]
    return {
        "kafka_commands_per_s_1w": one_rate,
        "kafka_commands_per_s_2w": two_rate,
        "kafka_scale_2w": round(two_rate / max(1, one_rate), 2),
        "kafka_p99_ms_half": half["latency"]["p99_ms"],
        "one_worker": one,
        "two_workers": two,
        "half_of_one_worker": half,
        "targets": TARGETS,
        "settings": {
            "partitions": PARTITIONS,
            "partnerships": PARTNERSHIPS,
            "api_nodes": 2,
            "seconds": seconds,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    result = run(args.seconds) | {"machine": machine()}
    write("kafka_commands", result)
    if "error" in result:
        print(result["error"])
        return
    print(f"{'key':32} {'value':>10}  target")
    for key, target in (
        ("kafka_commands_per_s_1w", "≥ 5,000"),
        ("kafka_commands_per_s_2w", "≥ 1.8x one"),
        ("kafka_scale_2w", "≥ 1.8"),
        ("kafka_p99_ms_half", "< 50"),
    ):
        print(f"{key:32} {result[key]:>10}  {target}")


if __name__ == "__main__":
    main()
