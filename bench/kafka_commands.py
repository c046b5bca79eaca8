"""Kafka mode's capacity: commands answered 201 through one worker and through two.

`python -m bench.kafka_commands [--seconds 10]` writes bench/results/kafka_commands.json
and prints a table. DESIGN.md's targets: ≥ 5,000 commands/s with one worker, two ≥ 1.8x
one, p99 < 50 ms at half of one worker's capacity.

A one-broker KRaft Kafka (bench/kafka_e2e.py's `broker`: port 29192, a data folder of its
own), then for 1 and 2 workers a cluster as the Kafka tests run it (tests/kafka/support.py:
`hub worker` processes, two `hub serve` API nodes, 12 partitions, a fresh topic prefix)
with a partnership on every partition (two workers share them). Capacity: wrk (closed loop) posts
alerts for each partnership through alternating API nodes, 6 connections each, after a
warm-up; only 201 answers count. Then, on the one-worker cluster, an open-loop client
posts at half that capacity, spread over the partnerships, and times each answer from the
moment it was due.

Everything, broker included, shares this machine's two cores, so the rate through REST
measures the machine more than the worker. Two figures that do not depend on what else
runs: the CPU milliseconds each process spends per command answered (workers, API nodes,
the broker, and the rest of the machine: wrk), measured over the capacity run; and the
worker on its own (`worker_alone`): commands produced straight onto `<prefix>.commands`
as an API node sends them, as fast as the broker takes them, and their answers read back
from `<prefix>.events` (read_committed), so no REST and no API node is in the path.
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
from bench.clients import cpu_seconds, machine_cpu_seconds
from bench.common import histogram, machine, percentiles_ms, write
from bench.rest import LUA, _parse, ensure_wrk

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 12
# one partnership on every partition, so that two workers always share the work
PARTNERSHIPS = PARTITIONS
CONNECTIONS_EACH = 6
ALONE_COMMANDS = 20_000
IDLE_S = 3.0
TARGETS = {"kafka_commands_per_s_1w": 5_000, "kafka_scale_2w": 1.8, "kafka_p99_ms_half": 50}
KEYS = (
    "kafka_commands_per_s_1w",
    "kafka_commands_per_s_2w",
    "kafka_scale_2w",
    "kafka_p99_ms_half",
    "kafka_worker_alone_per_s",
    "kafka_worker_cpu_ms_per_command",
)


class CpuShare:
    """CPU each named process (and the rest of the machine) spends over a phase, less
    what it spends idle (measured for IDLE_S first: the broker's and Faust's timers)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        before, began = self._now(), time.monotonic()
        time.sleep(IDLE_S)
        self.start, self.began = self._now(), time.monotonic()
        self.idle = {name: (self.start[name] - before[name]) / (self.began - began) for name in before}

    def _now(self) -> dict[str, float]:
        mine = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return mine | {"machine": machine_cpu_seconds()}

    def per_command(self, commands: int) -> dict[str, Any]:
        """Per process: CPU ms per command above its idle rate, and the cores it used;
        `others` is the rest of the machine (the load client, anything else running)."""
        end, wall = self._now(), time.monotonic() - self.began
        used = {name: end[name] - self.start[name] for name in end}
        idle = dict(self.idle)
        used["others"] = max(0.0, used.pop("machine") - sum(used.values()))
        idle["others"] = max(0.0, idle.pop("machine") - sum(idle.values()))
        return {
            name: {
                "ms": round(1000 * max(0.0, seconds - idle[name] * wall) / max(1, commands), 3),
                "cores": round(seconds / wall, 2),
                "idle_cores": round(idle[name], 3),
            }
            for name, seconds in used.items()
        }


def _pids(cluster: Any, broker_pid: int | None) -> dict[str, int]:
    pids = {f"worker_{n + 1}": w.process.pid for n, w in enumerate(cluster.workers)}
    pids |= {node.name: node.process.pid for node in cluster.nodes}
    return pids | ({"broker": broker_pid} if broker_pid else {})


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


def capacity(
    cluster: Any, tokens: dict[str, str], seconds: float, folder: Path, broker_pid: int | None = None
) -> dict[str, Any]:
    """wrk on every partnership at once, through alternating nodes; 201s a second, and
    the CPU each process spent per command answered."""
    binary = ensure_wrk()
    cpu = CpuShare(_pids(cluster, broker_pid))
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
        "cpu_ms_per_command": cpu.per_command(created),
        "created": created,
        "other_answers": sum(r["other"] for r in results),
        "statuses": [r["statuses"] for r in results],
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "p99_ms_closed_loop": max(round(r["latency_us"]["p99_ms"] / 1000, 1) for r in results),
        "seconds": round(measured, 2),
        "connections": CONNECTIONS_EACH * len(results),
    }


async def _alone(bootstrap: str, prefix: str, actors: dict[str, str], count: int) -> tuple[int, float]:
    """`count` commands straight onto the command topic, round robin over the
    partnerships; (answers read back, seconds from the first send to the last answer)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from hub.log.kafka import partition_of

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await producer.start()
    await consumer.start()
    try:
        events = [TopicPartition(f"{prefix}.events", n) for n in range(PARTITIONS)]
        consumer.assign(events)
        await consumer.seek_to_end(*events)
        for tp in events:
            await consumer.position(tp)
        names = list(actors)
        ids = [uuid.uuid4().hex for _ in range(count)]
        waiting = set(ids)
        started = time.perf_counter()
        for n, command_id in enumerate(ids):
            p = names[n % len(names)]
            message = {
                "partnership": p,
                "command": {
                    "id": command_id,
                    "action": "broadcast_alert",
                    "args": {
                        "alert_id": uuid.uuid4().hex,
                        "text": "bench: worker alone",
                        "priority": "routine",
                    },
                    "causation_id": None,
                },
                "actor": {"user": actors[p], "role": "cctv_operator"},
                "deadline": time.time() + 600,
            }
            topic = f"{prefix}.commands"
            await producer.send(
                topic, orjson.dumps(message), key=p.encode(), partition=partition_of(p, PARTITIONS)
            )
        await producer.flush()
        until = time.monotonic() + 600
        while waiting and time.monotonic() < until:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                waiting.difference_update(orjson.loads(r.value).get("command_id") for r in records)
        return count - len(waiting), time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


def worker_alone(cluster: Any, actors: dict[str, str], broker_pid: int | None) -> dict[str, Any]:
    """The workers' own rate, no REST in the path, and the CPU per command it cost."""
    cpu = CpuShare(_pids(cluster, broker_pid))
    answered, seconds = asyncio.run(_alone(cluster.bootstrap, cluster.prefix, actors, ALONE_COMMANDS))
    return {
        "commands": ALONE_COMMANDS,
        "answered": answered,
        "seconds": round(seconds, 2),
        "commands_per_s": round(answered / seconds),
        "cpu_ms_per_command": cpu.per_command(answered),
    }


async def _open_loop(cluster: Any, tokens: dict[str, str], rate: float, seconds: float) -> dict[str, Any]:
    """Posts due at a fixed rate, round robin over partnerships and nodes; each answer
    timed from when it was due (a late send counts against the hub)."""
    # no pool timeout: a post waiting for a connection is late, and its lateness counts
    timeout = httpx.Timeout(30, pool=None)
    clients = [httpx.AsyncClient(base_url=node.url, timeout=timeout) for node in cluster.nodes]
    latencies = histogram()
    statuses: dict[str, int] = {}
    names = list(tokens)
    started = time.perf_counter()
    total = int(rate * seconds)

    async def one(n: int) -> None:
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        p = names[n % len(names)]
        try:
            answer = await clients[n % len(clients)].post(
                f"/v1/partnerships/{p}/alerts",
                json={"text": f"bench open loop {n}", "priority": "routine"},
                headers={"Authorization": f"Bearer {tokens[p]}"},
            )
            status = str(answer.status_code)
        except httpx.HTTPError as error:  # counted, not raised: the other answers still count
            status = type(error).__name__
        statuses[status] = statuses.get(status, 0) + 1
        latencies.record_value(max(1, int((time.perf_counter() - due) * 1e6)))

    try:
        await asyncio.gather(*(one(n) for n in range(total)))
    finally:
        for client in clients:
            await client.aclose()
    return {
        "rate_per_s": round(rate),
        "seconds": seconds,
        "statuses": statuses,
        "latency": percentiles_ms(latencies),
    }


def on_cluster(broker: dict[str, Any], workers: int, seconds: float, half_of: float | None) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.kafka.support import KafkaCluster
    from tests.support import set_up_partnership

    with tempfile.TemporaryDirectory(prefix="bench-kafka-commands-") as tmp:
        prefix = f"bench-cmd-{uuid.uuid4().hex[:8]}"
        bootstrap, pid = broker["bootstrap"], broker.get("pid")
        cluster = KafkaCluster(Path(tmp), bootstrap, prefix, nodes=2, partitions=PARTITIONS, workers=workers)
        try:
            cluster.start()
            admin = cluster.a.login("admin")
            tokens, actors = {}, {}
            for p in partnerships():
                users = set_up_partnership(admin, p)
                tokens[p] = cluster.a.token(users["cctv_operator"])
                actors[p] = users["cctv_operator"]
            admin.close()
            capacity(cluster, tokens, 3, Path(tmp))  # warm-up: connections, JIT-free but caches
            result: dict[str, Any] = {"capacity": capacity(cluster, tokens, seconds, Path(tmp), pid)}
            if half_of is None:
                result["alone"] = worker_alone(cluster, actors, pid)
            else:
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
            one = on_cluster(broker, 1, seconds, None)
            one_rate = one["capacity"]["commands_per_s"]
            two = on_cluster(broker, 2, seconds, None)
            half = on_cluster(broker, 1, seconds, one_rate)["half"]
    except Exception as error:
        return {"error": f"the run failed: {error}"}
    two_rate = two["capacity"]["commands_per_s"]
    return {
        "kafka_commands_per_s_1w": one_rate,
        "kafka_commands_per_s_2w": two_rate,
        "kafka_scale_2w": round(two_rate / max(1, one_rate), 2),
        "kafka_p99_ms_half": half["latency"]["p99_ms"],
        "kafka_worker_alone_per_s": one["alone"]["commands_per_s"],
        "kafka_worker_cpu_ms_per_command": one["alone"]["cpu_ms_per_command"]["worker_1"]["ms"],
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


def _cpu(per_command: dict[str, Any]) -> str:
    return ", ".join(f"{name} {c['ms']} ({c['cores']} cores)" for name, c in per_command.items())


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Table rows for bench/run.py and main: (key, value, note)."""
    if "error" in result:
        return [("kafka_commands_per_s_1w", None, result["error"].partition("\n")[0][:200])]
    one, two = result["one_worker"], result["two_workers"]
    return [
        ("kafka_commands_per_s_1w", result["kafka_commands_per_s_1w"], "target ≥ 5,000 (REST, 2 API nodes)"),
        ("kafka_commands_per_s_2w", result["kafka_commands_per_s_2w"], "target ≥ 1.8x one"),
        ("kafka_scale_2w", result["kafka_scale_2w"], "target ≥ 1.8"),
        ("kafka_p99_ms_half", result["kafka_p99_ms_half"], "target < 50, open loop at half of one worker"),
        ("  cpu ms/command, 1 worker", "", _cpu(one["capacity"]["cpu_ms_per_command"])),
        ("  cpu ms/command, 2 workers", "", _cpu(two["capacity"]["cpu_ms_per_command"])),
        ("kafka_worker_alone_per_s", result["kafka_worker_alone_per_s"], "1 worker, no REST in the path"),
        ("  worker alone, 2 workers", two["alone"]["commands_per_s"], "commands/s"),
        ("kafka_worker_cpu_ms_per_command", result["kafka_worker_cpu_ms_per_command"], "1 worker, alone"),
        ("  cpu ms/command, alone", "", _cpu(one["alone"]["cpu_ms_per_command"])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    result = run(args.seconds) | {"machine": machine()}
    write("kafka_commands", result)
    for key, value, note in rows(result):
        print(f"{key:34} {value!s:>10}  {note}")


if __name__ == "__main__":
    main()
