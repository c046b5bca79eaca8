"""County night: DESIGN.md's "a county's Saturday night" row, embedded and on Kafka.

`python -m bench.county [--mode embedded|kafka|both] [--minutes 10] [--devices 4500]
[--partnerships 15]` writes bench/results/county.json (one entry a mode: the machine,
the settings, every sample; a run of one mode keeps the other's entry) and prints a table.

The night of bench/soak.py (its load, its devices, its check of every device's frames)
spread over a county: `--partnerships` partnerships (`county00`, ...), each set up as soak
sets up its one (a pub, a club, a shop, one member of each receiving role, two subjects
each excluded from one venue, so sightings raise breaches). Device i is in partnership
i mod k and signs in as member (i / k) mod 6 of it (bench/soakclient `-partnerships`);
the load is the county's, not each partnership's: 20 alerts/s (a fifth urgent, each
acknowledged 2 s later by a third of the receiving members), 5 incidents/s, 2
sightings/s (one in ten a breach), 2 reads/s, request k of a kind going to partnership
k mod k, open loop. 1% of the devices hang up and resume after every sample.

- `embedded`: one `hub serve` (one process, SQLite log).
- `kafka`: a one-broker Kafka on this machine (bench/kafka_e2e.py's `broker`, port 29392:
  its own, not 29192),
  two `hub worker`s and two API nodes (tests/kafka/support.py's KafkaCluster, 12
  partitions, a topic prefix of its own). Device client process i holds its devices on
  node i mod 2, and the posts alternate between the nodes. The positions a device may
  see are folded from node A's replica (`replica.db` in its data folder) once both
  nodes' replicas hold the same heads.

Verdict (DESIGN.md): alert posted → every device that may see it p99 < 100 ms; 0 frames
lost, 0 duplicated, every device's (count, last, digest) exact; RSS and open files of
every hub process within 10% from minute 2 to the last minute; every request 2xx; no
tracebacks; every hash chain verifies (Kafka: both nodes' replicas).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import kafka_e2e, soak
from bench.clients import CpuMeter, cpu_seconds, raise_nofile
from bench.common import RESULTS, machine, percentiles_ms, table, write
from bench.soak import (
    ACK_AFTER_S,
    ACK_SHARE,
    CATEGORIES,
    MEMBERS,
    OWN_VENUE,
    READS,
    URGENT_EVERY,
    flatness,
    proc_status,
    window_figures,
)

ROOT = Path(__file__).resolve().parent.parent
PARTNERSHIPS = 15
DEVICES = 4_500
MINUTES = 10
HANG_UPS = DEVICES // 100  # 1% of the devices after every sample, as in the soak
CLIENT_PROCESSES = 2
E2E_P99_TARGET_MS = 100
SETTLE_S = 120  # the replicas reaching the same heads
# Not kafka_e2e's 29192: a bench there may find another's broker, use it, and see it stopped
# under it when that one ends (it happened). KRaft's controller takes KAFKA_PORT + 1.
KAFKA_PORT = 29392


def names(count: int) -> list[str]:
    return [f"county{i:02d}" for i in range(count)]


# -- the hub -------------------------------------------------------------------------------


@dataclass
class Deployment:
    """What the bench needs of a running hub: where to post and connect, the processes to
    watch, and the log (or replica) to read the positions from."""

    mode: str
    api: list[Any]  # tests.support.Server: the API nodes, in the order posts and devices use them
    processes: dict[str, int]  # name -> pid of every hub process
    log: Path  # the SQLite log or node A's replica
    replicas: list[Path] = field(default_factory=list)  # every replica that must agree (Kafka)
    watched: dict[str, int] = field(default_factory=dict)  # sampled too, not judged (the broker)
    logs: list[Path] = field(default_factory=list)  # every process's output
    folders: list[Path] = field(default_factory=list)  # data folders whose chains `hub verify` checks
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # partnership -> role -> username
    subjects: dict[str, dict[str, str]] = field(default_factory=dict)  # partnership -> venue -> id

    @property
    def sampled(self) -> dict[str, int]:
        return self.processes | self.watched

    def heads(self, path: Path | None = None) -> dict[str, int]:
        from hub.log.sqlite import SqliteReader

        reader = SqliteReader(path or self.log)
        try:
            return {p: position for p, (position, _) in reader.heads().items() if p in self.users}
        finally:
            reader.close()

    def settled(self, cap_s: float = SETTLE_S) -> dict[str, int]:
        """The heads, once every replica holds the same ones twice 2 s apart."""
        deadline, last = time.monotonic() + cap_s, None
        while True:
            every = [self.heads(path) for path in self.replicas or [self.log]]
            same = all(h == every[0] for h in every)
            if (same and every[0] == last) or time.monotonic() > deadline:
                return every[0]
            last = every[0] if same else None
            time.sleep(2)


def set_up(
    server: Any, partnerships: list[str]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Every partnership as the soak sets up its one: (usernames, subject ids)."""
    from tests.support import create, set_up_partnership

    admin = server.login("admin")
    users = {p: set_up_partnership(admin, p) for p in partnerships}
    admin.close()
    subjects: dict[str, dict[str, str]] = {}
    for p in partnerships:
        coordinator = server.login(users[p]["coordinator"])
        subjects[p] = {}
        for venue in ("pub", "club"):
            body = {"name": f"County Subject {p} {venue}", "description": "grey hoodie"}
            subject = create(coordinator, f"/v1/partnerships/{p}/subjects", body)["id"]
            rule = {"subject_id": subject, "kind": "exclusion", "venues": [f"{p}-{venue}"], "reason": "board"}
            create(coordinator, f"/v1/partnerships/{p}/exclusions", rule)
            subjects[p][venue] = subject
        coordinator.close()
    return users, subjects


def keep_logs(mode: str, paths: list[Path | None]) -> None:
    """Every process's output to .cache/bench/county-logs/MODE-NAME.log (the data
    folders go when the run ends; a crash's traceback is in there)."""
    folder = ROOT / ".cache" / "bench" / "county-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path is not None and path.exists():
            (folder / f"{mode}-{path.name}").write_bytes(path.read_bytes())


@contextlib.contextmanager
def embedded(partnerships: list[str]) -> Iterator[Deployment]:
    """One `hub serve` on a fresh data folder, set up."""
    from tests.support import Server, make_admin

    with tempfile.TemporaryDirectory(prefix="bench-county-") as tmp:
        data = Path(tmp)
        make_admin(data)
        server = Server(data, env={"HUB_PROCESSES": "1"}).start()
        try:
            assert server.process is not None and server.log_path is not None
            hub = Deployment("embedded", [server], {"hub": server.process.pid}, data / "log.db")
            hub.logs, hub.folders = [server.log_path], [data]
            hub.users, hub.subjects = set_up(server, partnerships)
            yield hub
        finally:
            server.stop()
            keep_logs("embedded", [server.log_path])


def listening(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:`port` (`ss`), None if none is found."""
    try:
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"pid=(\d+)", out.stdout)
    return int(found.group(1)) if found else None


async def stable(bootstrap: str, group: str, members: int, cap_s: float = 90) -> None:
    """Until the workers' consumer group is Stable with every worker in it, twice 2 s apart:
    set up during their first rebalance, a new owner of a partition answered "no such
    partnership" for a partnership made a moment before (seen here with two workers)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline, seen = time.monotonic() + cap_s, 0
        while seen < 2 and time.monotonic() < deadline:
            (answer,) = await admin.describe_consumer_groups([group])
            _, _, state, _, _, joined, *_ = answer.groups[0]
            seen = seen + 1 if state == "Stable" and len(joined) == members else 0
            await asyncio.sleep(2)
    finally:
        await admin.close()


@contextlib.contextmanager
def on_kafka(partnerships: list[str], port: int = KAFKA_PORT) -> Iterator[Deployment]:
    """A broker, two workers and two API nodes (12 partitions), set up; both replicas settled."""
    from tests.kafka.support import KafkaCluster

    with kafka_e2e.broker(port) as broker, tempfile.TemporaryDirectory(prefix="bench-county-kafka-") as tmp:
        prefix = f"bench-county-{uuid.uuid4().hex[:8]}"
        cluster = KafkaCluster(Path(tmp), broker["bootstrap"], prefix, nodes=2, partitions=12, workers=2)
        try:
            cluster.start()
            asyncio.run(stable(broker["bootstrap"], f"{prefix}-worker", len(cluster.workers)))
            every: list[Any] = [*cluster.nodes, *cluster.workers]
            pids = {p.name: p.process.pid for p in every if p.process}
            replicas = [node.data / "replica.db" for node in cluster.nodes]
            hub = Deployment("kafka", cluster.nodes, pids, replicas[0], replicas)
            hub.logs = [p.log_path for p in every if p.log_path]
            hub.folders = [node.data for node in cluster.nodes]
            hub.watched = {"broker": pid} if (pid := listening(port)) else {}
            hub.users, hub.subjects = set_up(cluster.a, partnerships)
            hub.settled()
            yield hub
        except Exception as error:
            raise RuntimeError(f"{error!r}\n{cluster.tails()}") from error
        finally:
            cluster.stop()
            every_one: list[Any] = [*cluster.nodes, *cluster.workers]
            keep_logs("kafka", [p.log_path for p in every_one])


# -- the devices and the load --------------------------------------------------------------


Who = tuple[str, str]  # (partnership, member role)


class Load(soak.Load):
    """soak's load for a county: request k of a kind goes to partnership k mod k (j = k div
    k is its number there), posted through the API nodes in turn."""

    def __init__(
        self, urls: list[str], tokens: dict[Who, str], subjects: dict[str, dict[str, str]], names: list[str]
    ) -> None:
        super().__init__(urls[0], tokens, {})  # type: ignore[arg-type]
        self.county_subjects, self.names = subjects, names
        self.nodes = itertools.cycle(urls)

    def where(self, k: int) -> tuple[str, int]:
        return self.names[k % len(self.names)], k // len(self.names)

    def url(self, member: Any, path: str) -> str:
        return f"{next(self.nodes)}/v1/partnerships/{member[0]}/{path}"

    async def alert(self, k: int, due: float, due_ns: int) -> None:
        p, j = self.where(k)
        urgent = (j + k % len(self.names)) % URGENT_EVERY == 0  # a fifth, not all at once
        body = {
            "channel": "main",
            "priority": "urgent" if urgent else "routine",
            "text": f"bench {k} {due_ns}",
        }
        written = await self.request("alert", due, (p, MEMBERS[j % len(MEMBERS)]), "alerts", body)
        if urgent and written is not None:
            await asyncio.sleep(ACK_AFTER_S)
            ackers = [(p, MEMBERS[(j + 1 + i) % len(MEMBERS)]) for i in range(len(MEMBERS) // ACK_SHARE)]
            at = time.perf_counter()
            await asyncio.gather(
                *(self.request("ack", at, m, f"alerts/{written['id']}/ack", {}) for m in ackers)
            )

    async def incident(self, k: int, due: float, due_ns: int) -> None:
        p, j = self.where(k)
        reporter = MEMBERS[j % len(MEMBERS)]
        venue = OWN_VENUE.get(reporter) or ("pub", "club", "shop")[j % 3]
        body = {
            "category": CATEGORIES[j % len(CATEGORIES)],
            "venue": f"{p}-{venue}",
            "description": f"county incident {k}",
            "loss_value": j % 50,
        }
        await self.request("incident", due, (p, reporter), "incidents", body)

    async def sighting(self, k: int, due: float, due_ns: int) -> None:
        p, j = self.where(k)
        subject, venue = (
            ("pub", "pub") if j % 10 == 0 else (("pub", "club")[j % 2], "shop")
        )  # 1 in 10: a breach
        body = {
            "subject_id": self.county_subjects[p][subject],
            "venue": f"{p}-{venue}",
            "camera": f"cam {j % 12}",
        }
        await self.request("sighting", due, (p, ("cctv_operator", "police")[j % 2]), "sightings", body)

    async def read(self, k: int, due: float, due_ns: int) -> None:
        p, j = self.where(k)
        path, params = READS[j % len(READS)]
        await self.request("read", due, (p, MEMBERS[j % len(MEMBERS)]), path, params=params)


# -- samples -------------------------------------------------------------------------------


class Sampler(soak.Sampler):
    """soak's sampler (its `run`: a sample every SAMPLE_S, then hang-ups) over every hub
    process: `NAME.rss_bytes`, `NAME.open_files`, `NAME.threads`, `NAME.cores` a sample."""

    def __init__(
        self, hub: Deployment, devices: soak.Devices, load: Load, tokens: dict[Who, str], hang_ups: int
    ) -> None:
        from hub.log.sqlite import SqliteReader

        self.hub, self.devices, self.load, self.hang_ups = hub, devices, load, hang_ups
        self.order = list(tokens)  # token index -> (partnership, role)
        self.log = SqliteReader(hub.log)
        self.samples: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.cpu = {name: cpu_seconds(pid) for name, pid in hub.sampled.items()}
        self.exited: dict[str, float] = {}  # process -> the first sample it was gone at
        self.before = (0.0, 0.0, sum(devices.cpu_split()))

    async def take(self) -> dict[str, Any]:
        window = await asyncio.to_thread(self.devices.merged, "sample")
        t = time.perf_counter() - self.started
        span = max(1e-9, t - self.before[0])
        clients = sum(self.devices.cpu_split())
        sample: dict[str, Any] = {"t_s": round(t, 1), "loadavg_1m": os.getloadavg()[0]}
        for name, pid in self.hub.sampled.items():
            try:
                status, cpu = proc_status(pid), cpu_seconds(pid)
            except (OSError, KeyError, IndexError):  # it exited (a zombie has no VmRSS)
                self.exited.setdefault(name, round(t, 1))
                continue
            sample |= {f"{name}.{key}": value for key, value in status.items()}
            sample[f"{name}.cores"] = round((cpu - self.cpu[name]) / span, 3)
            self.cpu[name] = cpu
        heads = self.log.heads()
        sample |= {
            "head": sum(heads[p][0] for p in self.hub.users if p in heads),
            "clients_cores": round((clients - self.before[2]) / span, 3),
            **window_figures(window, span),
        }
        self.before = (t, 0.0, clients)
        self.samples.append(sample)
        rss = "  ".join(f"{n} {sample[f'{n}.rss_bytes'] / 2**20:.0f}" for n in self.hub.sampled)
        print(
            f"{t:7.1f}s  rss MiB {rss}  head {sample['head']:7d}  frames/s {sample['frames_per_s']:6d}"
            f"  p99 {sample['latency_p99_ms']} ms  load {sample['loadavg_1m']:.1f}",
            flush=True,
        )
        return sample

    def refresh(self) -> None:
        """Fresh tokens for the load and every member's open sockets."""
        node = self.hub.api[0]
        tokens = {who: node.token(self.hub.users[who[0]][who[1]]) for who in self.order}
        self.load.set_tokens(tokens)  # type: ignore[arg-type]
        for i, who in enumerate(self.order):
            self.devices.refresh(i, tokens[who])


# -- what each device should have received -------------------------------------------------


def delivery(
    report: dict[str, Any], want: dict[int, tuple[int, int, int]], partnerships: list[str]
) -> dict[str, Any]:
    """soak's check of each device, a partnership at a time (member numbers there), summed."""
    m, parts = len(MEMBERS), {}
    for i, p in enumerate(partnerships):
        rows = [[d[0] - i * m, *d[1:]] for d in report["devices"] if d[0] // m == i]
        mine = {j: want[i * m + j] for j in range(m)}
        behind = sum(1 for d in rows if d[2] < mine[d[0]][1])
        parts[p] = soak.delivery(report | {"devices": rows, "behind": behind}, mine)
    summed = "devices devices_exact devices_mismatched devices_behind_at_end frames_expected"
    summed += " frames_lost frames_unexpected"
    whole = next(iter(parts.values())) | {
        key: sum(part[key] for part in parts.values()) for key in summed.split()
    }
    whole.pop("per_member")
    keep = ("frames_expected", "frames_lost", "devices_exact", "devices_behind_at_end", "per_member")
    return whole | {"per_partnership": {p: {k: part[k] for k in keep} for p, part in parts.items()}}


# -- verdict -------------------------------------------------------------------------------


def steadiness(samples: list[dict[str, Any]], processes: list[str], seconds: float) -> dict[str, Any]:
    """Each process's RSS and open files, minute 2 against the last (soak's flatness); the
    largest change of each over the processes."""
    each = {
        name: {
            key: flatness([s for s in samples if f"{name}.{key}" in s], f"{name}.{key}", seconds)
            for key in ("rss_bytes", "open_files")
        }
        for name in processes
    }
    out: dict[str, Any] = {"processes": each}
    for key in ("rss_bytes", "open_files"):
        found: list[dict[str, Any]] = [f[key] for f in each.values() if f[key] is not None]  # type: ignore[misc]
        out[f"{key}_flat"] = all(f["flat"] for f in found) if found and len(found) == len(each) else None
        changes = [f["change_pct"] for f in found if f["change_pct"] is not None]
        out[f"{key}_change_pct"] = max(changes, key=abs) if changes else None
    return out


def verdict(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    sent, load, server = result["delivery"], result["load"], result["server"]
    steady = steadiness(result["samples"], list(result["processes"]), seconds)
    answers = {status for kind in load.values() for status in kind["statuses"]}
    checks = {
        f"e2e_p99_under_{E2E_P99_TARGET_MS}_ms": result["latency"]["p99_ms"] < E2E_P99_TARGET_MS,
        "none_lost": sent["frames_lost"] == 0 and sent["devices_behind_at_end"] == 0,
        "none_duplicated": sent["frames_duplicated_or_reordered"] == 0,
        "every_device_exact": sent["devices_mismatched"] == 0,
        "rss_flat": steady["rss_bytes_flat"],
        "open_files_flat": steady["open_files_flat"],
        "every_request_2xx": all(status in ("200", "201") for status in answers),
        "no_tracebacks": server["log_tracebacks"] == 0,
        "chains_verify": server["chains_verify"],
        "replicas_agree": server["replicas_agree"],
        "no_process_exited": not result["exited"],
    }
    return {"ok": all(v is not False for v in checks.values()), **checks, "steadiness": steady}


# -- the run -------------------------------------------------------------------------------


def night(hub: Deployment, minutes: float, devices: int, processes: int, hang_ups: int) -> dict[str, Any]:
    """The load and the devices on a set-up hub; what was measured, before the verdict."""
    partnerships = list(hub.users)
    node = hub.api[0]
    tokens = {(p, m): node.token(hub.users[p][m]) for p in partnerships for m in MEMBERS}
    since = hub.settled()
    urls, since_each = [s.ws_url for s in hub.api], [since[p] for p in partnerships]
    fleet = soak.Devices(urls, list(tokens.values()), since_each, devices, processes, tuple(partnerships))
    try:
        connected = {"devices": fleet.ready, "connect_s": fleet.connect_s, "errors": fleet.errors[:3]}
        load = Load([s.url for s in hub.api], tokens, hub.subjects, partnerships)
        sampler = Sampler(hub, fleet, load, tokens, hang_ups)
        meter = CpuMeter(hub.processes.get("hub"), fleet)  # type: ignore[arg-type]
        hub_cpu = dict(sampler.cpu)
        asyncio.run(soak.soak(load, sampler, minutes * 60))
        cpu = meter.read() | {f"{n}_cpu_s": round(sampler.cpu[n] - hub_cpu[n], 2) for n in hub_cpu}
        time.sleep(2)  # the processors' last commands (breaches) land
        heads = hub.settled()
        sampler.close()
        want: dict[int, tuple[int, int, int]] = {}
        for i, p in enumerate(partnerships):
            for j, seen in soak.fold(hub.log, p, hub.users[p], since[p], heads[p]).items():
                want[i * len(MEMBERS) + j] = seen
        report = soak.settle(fleet, {i: w[1] for i, w in want.items()})
    finally:
        fleet.close()
    events = sum(heads.values()) - sum(since.values())
    return {
        "latency": percentiles_ms(report["hist"]),
        "delivery": delivery(report, want, partnerships),
        "load": load.summary(),
        "events": {"at_start": since, "at_end": heads, "per_s": round(events / (minutes * 60), 1)},
        "cpu": cpu,
        "connect": connected,
        "samples": sampler.samples,
        "exited": sampler.exited,
    }


def health(hub: Deployment) -> dict[str, Any]:
    """Every process's log, every chain, every replica's heads."""
    from tests.support import hub_verify

    logs = "\n".join(path.read_text(errors="replace") for path in hub.logs if path.exists())
    heads = [hub.heads(path) for path in hub.replicas]
    return {
        "chains_verify": all(hub_verify(folder).returncode == 0 for folder in hub.folders),
        "replicas_agree": all(h == heads[0] for h in heads) if heads else None,
        "log_tracebacks": logs.count("Traceback"),
        "log_errors": sum("ERROR" in line for line in logs.splitlines()),
        "log_tail": logs[-2000:],
    }


def run(
    mode: str = "embedded",
    minutes: float = MINUTES,
    devices: int = DEVICES,
    partnerships: int = PARTNERSHIPS,
    processes: int = CLIENT_PROCESSES,
    hang_ups: int = HANG_UPS,
) -> dict[str, Any]:
    """One county night in `mode` (embedded or kafka); {"error": ...} if it cannot run."""
    sys.path.insert(0, str(ROOT))
    load_before = os.getloadavg()
    raise_nofile()
    settings = {
        "mode": mode,
        "minutes": minutes,
        "devices": devices,
        "partnerships": partnerships,
        "client_processes": processes,
        "hang_ups_per_sample": hang_ups,
        "soak": soak.settings(minutes, devices, processes, hang_ups),
    }
    deploy = embedded if mode == "embedded" else on_kafka
    try:
        with deploy(names(partnerships)) as hub:
            result = night(hub, minutes, devices, processes, hang_ups)
            result |= {"server": health(hub), "processes": hub.processes, "watched": hub.watched}
    except Exception as error:  # the other mode's figures are kept
        return {"error": f"{error!r}"[:4000], "settings": settings}
    result["verdict"] = verdict(result, minutes * 60)
    result["machine"] = machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    return {"minutes": minutes, **result, "settings": settings}


def keys(mode: str, result: dict[str, Any]) -> dict[str, Any]:
    """bench/run.py's keys for one mode (null when it could not run)."""
    if "error" in result:
        return {f"county_{mode}_error": result["error"][:500]}
    v, sent = result["verdict"], result["delivery"]
    return {
        f"county_{mode}_ok": v["ok"],
        f"county_{mode}_p99_ms": result["latency"]["p99_ms"],
        f"county_{mode}_frames_lost": sent["frames_lost"],
        f"county_{mode}_frames_duplicated": sent["frames_duplicated_or_reordered"],
        f"county_{mode}_rss_change_pct": v["steadiness"]["rss_bytes_change_pct"],
        f"county_{mode}_open_files_change_pct": v["steadiness"]["open_files_change_pct"],
    }


def rows(mode: str, result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    name = f"county_{mode}"
    if "error" in result:
        return [(name, None, result["error"].partition("\n")[0][:200])]
    v, sent, lat, cpu = result["verdict"], result["delivery"], result["latency"], result["cpu"]
    steady, m = v["steadiness"], result["machine"]
    refused = sum(
        n for k in result["load"].values() for s, n in k["statuses"].items() if s not in ("200", "201")
    )
    hub_cpu = ", ".join(f"{n} {cpu[f'{n}_cpu_s']}" for n in [*result["processes"], *result["watched"]])
    load = f"{m['loadavg_before'][0]:.1f} / {m['loadavg_after'][0]:.1f}"
    return [
        (f"{name}_ok", v["ok"], f"{result['minutes']} min, {sent['devices']:,} devices, load {load}"),
        (
            f"{name}_p99_ms",
            lat["p99_ms"],
            f"target < {E2E_P99_TARGET_MS}; p50 {lat['p50_ms']}, max {lat['max_ms']}",
        ),
        (
            f"{name}_frames_lost",
            sent["frames_lost"],
            f"of {sent['frames_expected']:,}; behind {sent['devices_behind_at_end']}",
        ),
        (
            f"{name}_frames_duplicated",
            sent["frames_duplicated_or_reordered"],
            f"exact {sent['devices_exact']:,}",
        ),
        (
            f"{name}_rss_change_pct",
            steady["rss_bytes_change_pct"],
            f"flat ≤ 10%: {v['rss_flat']} (worst process)",
        ),
        (f"{name}_open_files_change_pct", steady["open_files_change_pct"], f"flat: {v['open_files_flat']}"),
        ("  requests not 2xx / tracebacks", f"{refused} / {result['server']['log_tracebacks']}", ""),
        (
            "  cpu s",
            hub_cpu,
            f"clients {cpu['clients_cpu_s']}, others {cpu['other_cpu_s']}, {cpu['wall_s']} s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("embedded", "kafka", "both"), default="both")
    parser.add_argument("--minutes", type=float, default=MINUTES)
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--partnerships", type=int, default=PARTNERSHIPS)
    parser.add_argument("--hang-ups", type=int, default=None, help="devices that resume every sample (1%%)")
    args = parser.parse_args()
    hang_ups = args.devices // 100 if args.hang_ups is None else args.hang_ups
    modes = ("embedded", "kafka") if args.mode == "both" else (args.mode,)
    earlier = RESULTS / "county.json"  # a run of one mode keeps the other's last entry
    results: dict[str, Any] = orjson.loads(earlier.read_bytes()) if earlier.exists() else {}
    for mode in modes:
        print(
            f"county night, {mode}: {args.partnerships} partnerships, {args.devices:,} devices ...",
            flush=True,
        )
        results[mode] = run(mode, args.minutes, args.devices, args.partnerships, CLIENT_PROCESSES, hang_ups)
    path = write("county", results)
    print(table([row for mode in modes for row in rows(mode, results[mode])]))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
