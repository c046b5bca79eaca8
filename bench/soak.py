"""Soak: one embedded `hub serve` under a steady mixed load for `--minutes` (30 in `make
bench-full`), 2,000 live devices that resume on any close; RSS and open files sampled.

`python -m bench.soak [--minutes 30] [--devices 2000]` writes bench/results/soak.json (the
minutes it ran, the machine, the settings, every sample) and prints a table.

- The hub: `hub serve` (one process, SQLite log with fsync on commit) on a fresh data
  folder, set up over REST as tests/support.py does: partnership `soak` with a pub, a club
  and a shop and one member of each receiving role (door staff at the pub and at the club,
  retail staff at the shop, a CCTV operator, a police officer, the coordinator); two
  subjects, one excluded from the pub, one from the club.
- The devices: bench/soakclient (Go, one epoll thread a process, like bench/wsclient),
  `CLIENT_PROCESSES` processes; device i signs in as receiving member i mod 6 and starts
  from the head after set-up. A device whose socket closes (1013, an error, EOF) dials
  again and resumes from the last position it saw; after each sample `HANG_UPS` devices
  (1%, in turn) hang up and resume, as phones losing signal do (the backlog path). Each
  keeps a digest of the positions it received, in order; at the end every device's
  count, last position and digest are compared with the positions the log says its
  member may see (the log folded here with the hub's own views and audience rules):
  lost, duplicated or reordered frames show.
- The load, open loop (request k is due at t0 + k/rate whatever happened to the earlier
  ones; its answer time counts from then): 20 alerts/s posted by the members in turn, a
  fifth urgent, each urgent one acknowledged 2 s later over REST by a third of the
  receiving members and resolved by the control room 10 s after that, the routine ones
  cleared by the control room after a minute (the load writes every event: routine alerts
  closing by themselves after the partnership's setting would go on after it); 5 incidents/s
  at the venues, each closed by the control room 30 s later; 2 sightings/s by CCTV and
  police (one in ten of the excluded subject at the pub: a breach, and its breach alert);
  2 reads/s (active alerts, incidents, sightings, the gallery). DESIGN.md's county night,
  at one partnership's scale: steady, not a stress test.
- Every `SAMPLE_S`: the server's RSS (VmRSS) and open files (/proc/PID/fd), threads, CPU,
  the head position, frames delivered and the latency (alert due → frame at a device, HDR
  histogram) in that window.
- Verdict (DESIGN.md, county night): RSS and open files within 10% from minute 2 to the
  last minute (means of their samples), with the slope from minute 2 on; 0 frames lost, 0
  duplicated. The views keep active alerts, open incidents and the last 500 done records of
  each kind (projections/views.py), so they stop growing once the first records are done
  (minute 1); the fold here measures the views' own size (tracemalloc) at each sample's
  head, and `rss_less_views` is what is left when that is taken away.
- What grows: the server inherits this environment, so `HUB_TRACEMALLOC=path` (see
  api/tracing.py) has it write tracemalloc snapshots every minute, and `python -m
  api.tracing path` names the allocation sites that grew (a traced hub is slower: fewer
  `--devices` keep it from falling behind, which grows memory of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.clients import CpuMeter, cpu_seconds, raise_nofile
from bench.common import histogram, machine, percentiles_ms, table, write

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "soakclient"
BINARY = ROOT / ".cache" / "bench" / "soakclient"

SEED = 20261203  # nothing here is random; kept beside the results like the other benches
P = "soak"
DEVICES = 2_000
CLIENT_PROCESSES = 2
RATES = {"alert": 20.0, "incident": 5.0, "sighting": 2.0, "read": 2.0}  # per second
URGENT_EVERY = 5  # a fifth of the alerts are urgent
ACK_SHARE = 3  # a third of an urgent alert's receivers acknowledge it ...
ACK_AFTER_S = 2.0  # ... this long after it was answered
RESOLVE_AFTER_S = 10.0  # then the control room resolves it, this long after the acks
CLEAR_AFTER_S = 60.0  # the control room clears each routine alert this long after it
CLOSE_AFTER_S = 30.0  # the control room closes each incident this long after its report
SAMPLE_S = 10.0
HANG_UPS = 20  # devices that hang up and resume after each sample (1% of them every 10 s)
TOKEN_REFRESH_S = 20 * 60  # tokens live an hour: fresh ones to the load and the open sockets
FOLLOW_UPS = ("ack", "close")  # writes that follow an alert or incident, counted apart
FLAT = 0.10  # DESIGN.md: within 10% from minute 2 to the last
E2E_P99_TARGET_MS = 100
# The receiving members (tests/support.py's set_up_partnership), in the order devices get them.
MEMBERS = ("door_staff", "door_staff_club", "retail_staff", "cctv_operator", "police", "coordinator")
OWN_VENUE = {"door_staff": "pub", "door_staff_club": "club", "retail_staff": "shop"}
CATEGORIES = ("theft", "asb", "violence", "refused_entry", "criminal_damage", "fraud", "other")
READS = (
    ("alerts", {"active": "true"}),
    ("incidents", {}),
    ("sightings", {}),
    ("exclusions", {"status": "active"}),
)
DIGEST_FACTOR, MASK = 1_000_003, 2**64 - 1


def build() -> Path:
    """`go build` the device client into .cache/bench (once per source change)."""
    newest = max(p.stat().st_mtime for p in SOURCE.iterdir())
    if not BINARY.exists() or BINARY.stat().st_mtime < newest:
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-o", str(BINARY), "."],
            cwd=SOURCE,
            check=True,
            timeout=300,
            env={**os.environ, "GOFLAGS": "-buildvcs=false"},
        )
    return BINARY


# -- the hub -------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_hub() -> Iterator[tuple[Any, dict[str, str], dict[str, str]]]:
    """`hub serve` on a fresh data folder, set up: (server, usernames by role, subject ids)."""
    sys.path.insert(0, str(ROOT))
    from tests.support import Server, create, make_admin, set_up_partnership

    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        data = Path(tmp)
        make_admin(data)
        server = Server(data, env={"HUB_PROCESSES": "1"}).start()
        try:
            admin = server.login("admin")
            users = set_up_partnership(admin, P)
            admin.close()
            coordinator = server.login(users["coordinator"])
            subjects = {}
            for venue in ("pub", "club"):
                body = {"name": f"Soak Subject {venue}", "description": "grey hoodie"}
                subject = create(coordinator, f"/v1/partnerships/{P}/subjects", body)["id"]
                exclusion = {"subject_id": subject, "kind": "exclusion", "venues": [f"{P}-{venue}"]}
                create(coordinator, f"/v1/partnerships/{P}/exclusions", exclusion | {"reason": "board"})
                subjects[venue] = subject
            coordinator.close()
            yield server, users, subjects
        finally:
            server.stop()


def log_head(data: Path) -> int:
    from hub.log.sqlite import SqliteReader

    reader = SqliteReader(data / "log.db")
    try:
        return reader.head(P)
    finally:
        reader.close()


def proc_status(pid: int) -> dict[str, int]:
    """The server's RSS (bytes), threads and open files."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            found[key] = int(value.split()[0])
    return {
        "rss_bytes": found["VmRSS"] * 1024,
        "threads": found["Threads"],
        "open_files": len(os.listdir(f"/proc/{pid}/fd")),
    }


# -- the devices ---------------------------------------------------------------------------


class Devices:
    """`processes` soakclient processes holding `n` devices between them."""

    def __init__(
        self,
        url: str | list[str],
        tokens: list[str],
        since: int | list[int],
        n: int,
        processes: int,
        partnerships: tuple[str, ...] = (P,),
    ) -> None:
        """Device client process i on `url` (or `url[i % len(url)]`); `since` one position or
        one a partnership; tokens partnership-major (bench/soakclient `-partnerships`)."""
        urls = [url] if isinstance(url, str) else url
        starts = ",".join(map(str, since)) if isinstance(since, list) else str(since)
        binary = build()
        raise_nofile()
        self.n = n
        self.procs: list[subprocess.Popen[bytes]] = []
        first = 0
        for i in range(processes):
            share = n // processes + (1 if i < n % processes else 0)
            command = [str(binary), "-url", urls[i % len(urls)], "-tokens", ",".join(tokens)]
            command += ["-partnerships", ",".join(partnerships), "-since", starts]
            command += ["-n", str(share), "-first", str(first), "-timeout", "120s"]
            self.procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**os.environ, "GOMAXPROCS": "1"},
                    preexec_fn=raise_nofile,
                )
            )
            first += share
        started = time.perf_counter()
        answers = self._read_all(150)
        self.connect_s = round(time.perf_counter() - started, 3)
        self.ready = sum(a["ready"] for a in answers)
        self.errors = [a["error"] for a in answers if a.get("error")]

    def _read_all(self, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not readable:
                raise TimeoutError(f"device client {proc.pid} did not answer within {timeout_s} s")
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"device client {proc.pid} exited ({proc.poll()})")
            answers.append(orjson.loads(line))
        return answers

    def ask(self, line: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        return self._read_all(timeout_s)

    def merged(self, line: str) -> dict[str, Any]:
        """`sample` or `report` of every process, counters summed, histograms merged."""
        parts = self.ask(line)
        hist = histogram()
        closes: Counter[str] = Counter()
        for part in parts:
            for value, count in part["hist_us"]:
                hist.record_value(min(value, 60_000_000), count)
            closes.update(part["closes"])
        keys = ("open", "frames", "bytes", "alerts", "reconnects", "out_of_order", "dial_errors", "hung_up")
        merged: dict[str, Any] = {k: sum(p[k] for p in parts) for k in keys}
        errors = [p["error"] for p in parts if p["error"]]
        merged |= {"closes": dict(closes), "hist": hist, "error": errors[0] if errors else ""}
        if line == "report":
            merged["devices"] = [d for p in parts for d in p["devices"]]
        return merged

    def hang_up(self, k: int) -> None:
        """`k` connected devices, spread over the processes, hang up and resume."""
        self.ask(f"hangup {max(1, k // len(self.procs))}")

    def refresh(self, member: int, token: str) -> None:
        self.ask(f"token {member} {token}")

    def cpu_split(self) -> tuple[float, float]:
        from bench.clients import cpu_split

        parts = [cpu_split(p.pid) for p in self.procs if p.poll() is None]
        return sum(u for u, _ in parts), sum(s for _, s in parts)

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(b"quit\n")
                proc.stdin.flush()
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the load ------------------------------------------------------------------------------


class Load:
    """The mixed load, open loop, over REST; answers counted by kind and status."""

    def __init__(self, base_url: str, tokens: dict[str, str], subjects: dict[str, str]) -> None:
        self.base_url = base_url
        self.subjects = subjects
        self.set_tokens(tokens)
        self.statuses: dict[str, Counter[str]] = {k: Counter() for k in (*RATES, *FOLLOW_UPS)}
        self.answers = {k: histogram() for k in (*RATES, *FOLLOW_UPS)}
        self.head = 0  # the highest position any answer named
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    def set_tokens(self, tokens: dict[str, str]) -> None:
        self.headers = {m: {"Authorization": f"Bearer {t}"} for m, t in tokens.items()}

    async def run(self, seconds: float) -> None:
        # idle connections closed before uvicorn's 5 s keep-alive does: at the same 5 s a
        # request could go out on a socket the server was closing (a ReadError, seen here)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60, limits=limits) as client:
            self.client = client
            until = time.perf_counter() + seconds
            await asyncio.gather(*(self._schedule(kind, rate, until) for kind, rate in RATES.items()))
            while self.tasks:
                await asyncio.wait(set(self.tasks), timeout=90)

    async def _schedule(self, kind: str, rate: float, until: float) -> None:
        t0, t0_ns = time.perf_counter(), time.time_ns()
        act = getattr(self, kind)
        k = 0
        while (due := t0 + k / rate) < until:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(act(k, due, t0_ns + int(k * 1e9 / rate)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            k += 1

    def url(self, member: Any, path: str) -> str:
        return f"/v1/partnerships/{P}/{path}"

    async def request(
        self, kind: str, due: float, member: Any, path: str, body: Any = None, params: Any = None
    ) -> dict[str, Any] | None:
        """One request as `member`; its answer (a write's) or None; counted either way."""
        assert self.client is not None
        method = "GET" if body is None else "POST"
        url = self.url(member, path)
        try:
            answer = await self.client.request(
                method, url, json=body, params=params, headers=self.headers[member]
            )
            status = str(answer.status_code)
        except httpx.HTTPError as error:
            status = type(error).__name__
        self.statuses[kind][status] += 1
        self.answers[kind].record_value(min(60_000_000, max(1, int((time.perf_counter() - due) * 1e6))))
        if method == "GET" or status != "201":
            return None
        written: dict[str, Any] = answer.json()
        self.head = max(self.head, *written.get("positions", [0]))
        return written

    async def alert(self, k: int, due: float, due_ns: int) -> None:
        urgent = k % URGENT_EVERY == 0
        poster = MEMBERS[k % len(MEMBERS)]
        body = {
            "channel": "main",
            "priority": "urgent" if urgent else "routine",
            "text": f"bench {k} {due_ns}",
        }
        written = await self.request("alert", due, poster, "alerts", body)
        if not urgent and written is not None:
            await asyncio.sleep(CLEAR_AFTER_S)
            path = f"alerts/{written['id']}/resolve"
            await self.request("close", time.perf_counter(), "cctv_operator", path, {"note": "cleared"})
        if urgent and written is not None:
            await asyncio.sleep(ACK_AFTER_S)
            ackers = [MEMBERS[(k + 1 + i) % len(MEMBERS)] for i in range(len(MEMBERS) // ACK_SHARE)]
            path = f"alerts/{written['id']}/ack"
            now = time.perf_counter()
            await asyncio.gather(*(self.request("ack", now, m, path, {}) for m in ackers))
            await asyncio.sleep(RESOLVE_AFTER_S)
            path = f"alerts/{written['id']}/resolve"
            await self.request("close", time.perf_counter(), "cctv_operator", path, {"note": "dealt with"})

    async def incident(self, k: int, due: float, due_ns: int) -> None:
        reporter = MEMBERS[k % len(MEMBERS)]
        venue = OWN_VENUE.get(reporter) or ("pub", "club", "shop")[k % 3]
        body = {
            "category": CATEGORIES[k % len(CATEGORIES)],
            "venue": f"{P}-{venue}",
            "description": f"soak incident {k}",
            "loss_value": k % 50,
        }
        written = await self.request("incident", due, reporter, "incidents", body)
        if written is not None:
            await asyncio.sleep(CLOSE_AFTER_S)
            path = f"incidents/{written['id']}/close"
            await self.request("close", time.perf_counter(), "cctv_operator", path, {"outcome": "dealt with"})

    async def sighting(self, k: int, due: float, due_ns: int) -> None:
        # one in ten: the subject excluded from the pub, at the pub (a breach); else at the shop
        subject, venue = ("pub", "pub") if k % 10 == 0 else (("pub", "club")[k % 2], "shop")
        body = {"subject_id": self.subjects[subject], "venue": f"{P}-{venue}", "camera": f"cam {k % 12}"}
        await self.request("sighting", due, ("cctv_operator", "police")[k % 2], "sightings", body)

    async def read(self, k: int, due: float, due_ns: int) -> None:
        path, params = READS[k % len(READS)]
        await self.request("read", due, MEMBERS[k % len(MEMBERS)], path, params=params)

    def summary(self) -> dict[str, Any]:
        return {
            kind: {
                "statuses": dict(self.statuses[kind]),
                "answer_from_due": percentiles_ms(self.answers[kind]),
            }
            for kind in self.statuses
        }


# -- samples -------------------------------------------------------------------------------


def window_figures(window: dict[str, Any], span: float) -> dict[str, Any]:
    """What the devices saw in one sample's window of `span` seconds."""
    latency = percentiles_ms(window["hist"])
    return {
        "frames": window["frames"],
        "frames_per_s": round(window["frames"] / span),
        "timed_alerts": window["alerts"],
        "latency_p50_ms": latency["p50_ms"],
        "latency_p99_ms": latency["p99_ms"],
        "latency_max_ms": latency["max_ms"],
        "open_sockets": window["open"],
        "reconnects": window["reconnects"],
        "closes": window["closes"],
    }


class Sampler:
    """Every SAMPLE_S: the server's RSS, open files, threads and CPU; the log's head; what
    the devices received in the window and its latency."""

    def __init__(
        self, server: Any, devices: Devices, load: Load, users: dict[str, str], hang_ups: int
    ) -> None:
        from hub.log.sqlite import SqliteReader

        self.server, self.devices, self.load, self.users = server, devices, load, users
        self.hang_ups = hang_ups
        self.pid: int = server.process.pid
        self.log = SqliteReader(server.data / "log.db")
        self.samples: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.before = (0.0, cpu_seconds(self.pid), sum(devices.cpu_split()))

    async def run(self, seconds: float) -> None:
        refreshed = 0.0
        while True:
            sample = await self.take()
            if sample["t_s"] >= seconds - 0.5:
                return
            if sample["t_s"] - refreshed >= TOKEN_REFRESH_S:
                await asyncio.to_thread(self.refresh)
                refreshed = sample["t_s"]
            if self.hang_ups:
                await asyncio.to_thread(self.devices.hang_up, self.hang_ups)
            next_at = self.started + SAMPLE_S * (len(self.samples))
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def take(self) -> dict[str, Any]:
        window = await asyncio.to_thread(self.devices.merged, "sample")
        t = time.perf_counter() - self.started
        server_cpu, clients_cpu = cpu_seconds(self.pid), sum(self.devices.cpu_split())
        t0, server0, clients0 = self.before
        self.before = (t, server_cpu, clients_cpu)
        span = max(1e-9, t - t0)
        sample = {
            "t_s": round(t, 1),
            **proc_status(self.pid),
            "head": self.log.head(P),
            "server_cores": round((server_cpu - server0) / span, 3),
            "clients_cores": round((clients_cpu - clients0) / span, 3),
            **window_figures(window, span),
            "hung_up": window["hung_up"],
        }
        self.samples.append(sample)
        print(
            f"{sample['t_s']:7.1f}s  rss {sample['rss_bytes'] / 2**20:6.1f} MiB  files"
            f" {sample['open_files']:5d}  head {sample['head']:7d}  frames/s"
            f" {sample['frames_per_s']:6d}  p99 {sample['latency_p99_ms']} ms",
            flush=True,
        )
        return sample

    def refresh(self) -> None:
        """Fresh tokens for the load and for every member's open sockets."""
        tokens = {m: self.server.token(self.users[m]) for m in MEMBERS}
        self.load.set_tokens(tokens)
        for i, m in enumerate(MEMBERS):
            self.devices.refresh(i, tokens[m])

    def close(self) -> None:
        self.log.close()


async def soak(load: Load, sampler: Sampler, seconds: float) -> None:
    await asyncio.gather(load.run(seconds), sampler.run(seconds))


# -- what each device should have received -------------------------------------------------


def fold(
    log: Path, p: str, users: dict[str, str], since: int, head: int, at: Callable[[int], None] | None = None
) -> dict[int, tuple[int, int, int]]:
    """Partnership p's log folded with the hub's own views and audience rules: per member
    (its index in MEMBERS) the (count, last position, digest) of the frames it may see
    after `since`; `at(position)` is called after each event is applied."""
    from hub.log.sqlite import SqliteReader
    from projections.audience import Viewer, audience
    from projections.views import PartnershipView, apply

    viewers = [
        Viewer(
            users[m],
            m.removesuffix("_club"),
            frozenset({p}),
            f"{p}-{OWN_VENUE[m]}" if m in OWN_VENUE else None,
        )
        for m in MEMBERS
    ]
    seen = {i: (0, since, 0) for i in range(len(MEMBERS))}
    view = PartnershipView(p)
    reader = SqliteReader(log)
    try:
        for event in reader.read(p, 1, head):
            apply(view, event)
            position = event["position"]
            if at is not None:
                at(position)
            if position <= since:
                continue
            who = audience(view, event)
            for i, viewer in enumerate(viewers):
                if who.roles and who.admits(viewer):
                    count, _, digest = seen[i]
                    seen[i] = (count + 1, position, (digest * DIGEST_FACTOR + position) & MASK)
    finally:
        reader.close()
    return seen


def expected(
    data: Path, users: dict[str, str], since: int, head: int, marks: list[int]
) -> tuple[dict[int, tuple[int, int, int]], dict[int, int]]:
    """`fold` of the soak's partnership; and the views' own size (tracemalloc) at each
    position of `marks`."""
    todo = sorted({max(since, m) for m in marks})
    sizes: dict[int, int] = {}

    def at(position: int) -> None:
        while todo and position >= todo[0]:
            sizes[todo.pop(0)] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        seen = fold(data / "log.db", P, users, since, head, at)
    finally:
        tracemalloc.stop()
    return seen, {m: sizes.get(max(since, m), sizes.get(head, 0)) for m in marks}


def settle(devices: Devices, last: dict[int, int], cap_s: float = 180, quiet_s: float = 15) -> dict[str, Any]:
    """The devices' report once each has its member's last position, or nothing moved for
    `quiet_s` (a device that is reconnecting catches up first)."""
    deadline = time.monotonic() + cap_s
    seen, changed = -1, time.monotonic()
    while True:
        report = devices.merged("report")
        behind = sum(1 for d in report["devices"] if d[2] < last[d[0]])
        if behind == 0 or time.monotonic() > deadline:
            return report | {"behind": behind}
        if report["frames"] != seen:
            seen, changed = report["frames"], time.monotonic()
        elif time.monotonic() - changed > quiet_s:
            return report | {"behind": behind}
        time.sleep(1)


def delivery(report: dict[str, Any], want: dict[int, tuple[int, int, int]]) -> dict[str, Any]:
    """Each device's frames against its member's positions in the log."""
    lost = extra = exact = 0
    for member, frames, last, digest, disorder, _ in report["devices"]:
        count, last_want, digest_want = want[member]
        advancing = frames - disorder
        lost += max(0, count - advancing)
        extra += max(0, advancing - count)
        exact += (frames, last, int(digest)) == (count, last_want, digest_want)
    expected_frames = sum(want[d[0]][0] for d in report["devices"])
    return {
        "devices": len(report["devices"]),
        "devices_exact": exact,
        "devices_mismatched": len(report["devices"]) - exact,
        "devices_behind_at_end": report["behind"],
        "frames_expected": expected_frames,
        "frames_delivered": report["frames"],
        "frames_lost": lost,
        "frames_duplicated_or_reordered": report["out_of_order"],
        "frames_unexpected": extra,
        "reconnects": report["reconnects"],
        "hung_up_by_devices": report["hung_up"],
        "closes_by_server": report["closes"],
        "open_at_end": report["open"],
        "dial_errors": report["dial_errors"],
        "last_dial_error": report["error"],
        "per_member": {MEMBERS[i]: {"frames": w[0], "last": w[1]} for i, w in want.items()},
    }


# -- verdict -------------------------------------------------------------------------------


def flatness(samples: list[dict[str, Any]], key: str, seconds: float) -> dict[str, Any] | None:
    """Minute 2 against the last minute (means of their samples), and the slope from
    minute 2 on (least squares, per minute); None for a run shorter than 3 minutes."""
    if seconds < 180:
        return None
    second = [s[key] for s in samples if 60 <= s["t_s"] < 120]
    last = [s[key] for s in samples if s["t_s"] >= seconds - 60]
    tail = [(s["t_s"] / 60, s[key]) for s in samples if s["t_s"] >= 60]
    if not second or not last or len(tail) < 2:
        return None
    a, b = sum(second) / len(second), sum(last) / len(last)
    mx = sum(t for t, _ in tail) / len(tail)
    my = sum(v for _, v in tail) / len(tail)
    slope = sum((t - mx) * (v - my) for t, v in tail) / sum((t - mx) ** 2 for t, _ in tail)
    return {
        "minute_2": round(a, 1),
        "last_minute": round(b, 1),
        "change_pct": round(100 * (b - a) / a, 2) if a else None,
        "slope_per_minute": round(slope, 2),
        "flat": abs(b - a) <= FLAT * a,
    }


def verdict(
    samples: list[dict[str, Any]],
    seconds: float,
    sent: dict[str, Any],
    p99: float,
    load: dict[str, Any],
    tracebacks: int,
) -> dict[str, Any]:
    rss, files = flatness(samples, "rss_bytes", seconds), flatness(samples, "open_files", seconds)
    answers = {status for kind in load.values() for status in kind["statuses"]}
    checks = {
        # DESIGN.md: never a 500; a steady load is answered, every request 2xx
        "every_request_2xx": all(status in ("200", "201") for status in answers),
        "no_tracebacks": tracebacks == 0,
        "rss_flat": rss["flat"] if rss else None,
        "open_files_flat": files["flat"] if files else None,
        "none_lost": sent["frames_lost"] == 0 and sent["devices_behind_at_end"] == 0,
        "none_duplicated": sent["frames_duplicated_or_reordered"] == 0,
        "every_device_exact": sent["devices_mismatched"] == 0,
    }
    return {
        "ok": all(v is not False for v in checks.values()),
        **checks,
        # DESIGN.md's county night spreads 4,500 devices over 15 partnerships; here every
        # event goes to all the devices of one: a figure to read, not part of the verdict
        f"e2e_p99_under_{E2E_P99_TARGET_MS}_ms": p99 < E2E_P99_TARGET_MS,
        "rss_bytes": rss,
        "open_files": files,
        "rss_less_views_bytes": flatness(samples, "rss_less_views_bytes", seconds),
        "views_bytes": flatness(samples, "views_bytes", seconds),
    }


# -- the run -------------------------------------------------------------------------------


def run(
    minutes: float = 30, devices: int = DEVICES, processes: int = CLIENT_PROCESSES, hang_ups: int = HANG_UPS
) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.support import hub_verify

    seconds = minutes * 60
    load_before = os.getloadavg()
    raise_nofile()
    with soak_hub() as (server, users, subjects):
        tokens = {m: server.token(users[m]) for m in MEMBERS}
        since = log_head(server.data)
        fleet = Devices(server.ws_url, [tokens[m] for m in MEMBERS], since, devices, processes)
        try:
            connected = {"devices": fleet.ready, "connect_s": fleet.connect_s, "errors": fleet.errors[:3]}
            load = Load(server.url, tokens, subjects)
            sampler = Sampler(server, fleet, load, users, hang_ups)
            meter = CpuMeter(server.process.pid, fleet)  # type: ignore[arg-type]
            asyncio.run(soak(load, sampler, seconds))
            cpu = meter.read()
            time.sleep(2)  # the processors' last commands (breaches) land
            head = log_head(server.data)
            samples = sampler.samples
            sampler.close()
            want, views = expected(server.data, users, since, head, [s["head"] for s in samples])
            report = settle(fleet, {i: w[1] for i, w in want.items()})
        finally:
            fleet.close()
        chain_verifies = hub_verify(server.data).returncode == 0
        server_log = server.log_path.read_text(errors="replace") if server.log_path else ""
    for s in samples:
        s["views_bytes"] = views[s["head"]]
        s["rss_less_views_bytes"] = s["rss_bytes"] - s["views_bytes"]
    sent = delivery(report, want)
    latency = percentiles_ms(report["hist"])
    return {
        "minutes": minutes,
        "verdict": verdict(
            samples, seconds, sent, latency["p99_ms"], load.summary(), server_log.count("Traceback")
        ),
        "latency": latency,
        "delivery": sent,
        "load": load.summary(),
        "events": {"at_start": since, "at_end": head, "per_s": round((head - since) / seconds, 1)},
        "cpu": cpu,
        "connect": connected,
        "server": {
            "chain_verifies": chain_verifies,
            "log_tracebacks": server_log.count("Traceback"),
            "log_errors": sum("ERROR" in line for line in server_log.splitlines()),
            "log_tail": server_log[-2000:],
        },
        "machine": machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "settings": settings(minutes, devices, processes, hang_ups),
        "samples": samples,
    }


def settings(minutes: float, devices: int, processes: int, hang_ups: int) -> dict[str, Any]:
    return {
        "minutes": minutes,
        "devices": devices,
        "client_processes": processes,
        "client": "bench/soakclient (Go, epoll), GOMAXPROCS=1 each; resumes on any close",
        "members": list(MEMBERS),
        "rates_per_s": RATES,
        "urgent_every": URGENT_EVERY,
        "acks_per_urgent_alert": len(MEMBERS) // ACK_SHARE,
        "ack_after_s": ACK_AFTER_S,
        "resolve_after_s": RESOLVE_AFTER_S,
        "close_after_s": CLOSE_AFTER_S,
        "clear_after_s": CLEAR_AFTER_S,
        "sample_s": SAMPLE_S,
        "hang_ups_per_sample": hang_ups,
        "flat_within": FLAT,
        "seed": SEED,
    }


def _mib(value: float | None) -> str:
    return "null" if value is None else f"{value / 2**20:.1f}"


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    v, sent, lat = result["verdict"], result["delivery"], result["latency"]
    rss, files, rest = v["rss_bytes"] or {}, v["open_files"] or {}, v["rss_less_views_bytes"] or {}
    load = result["load"]
    writes = sum(
        n for k in ("alert", "incident", "sighting", *FOLLOW_UPS) for n in load[k]["statuses"].values()
    )
    refused = sum(n for k in load for s, n in load[k]["statuses"].items() if s not in ("200", "201"))
    return [
        (
            "soak_minutes",
            result["minutes"],
            f"{sent['devices']:,} devices, {result['events']['per_s']} events/s",
        ),
        (
            "soak_rss_mib minute 2 / last",
            f"{_mib(rss.get('minute_2'))} / {_mib(rss.get('last_minute'))}",
            f"change {rss.get('change_pct')}% (flat ≤ 10%: {v['rss_flat']}), "
            f"slope {_mib(rss.get('slope_per_minute'))} MiB/min",
        ),
        (
            "  rss less views, MiB",
            f"{_mib(rest.get('minute_2'))} / {_mib(rest.get('last_minute'))}",
            f"change {rest.get('change_pct')}%, slope {_mib(rest.get('slope_per_minute'))} MiB/min",
        ),
        (
            "soak_open_files minute 2 / last",
            f"{files.get('minute_2')} / {files.get('last_minute')}",
            f"change {files.get('change_pct')}% (flat: {v['open_files_flat']}), "
            f"slope {files.get('slope_per_minute')}/min",
        ),
        (
            "soak_frames_lost",
            sent["frames_lost"],
            f"of {sent['frames_expected']:,} expected; behind {sent['devices_behind_at_end']}",
        ),
        (
            "soak_frames_duplicated",
            sent["frames_duplicated_or_reordered"],
            f"devices exact {sent['devices_exact']:,}/{sent['devices']:,}",
        ),
        (
            "soak_e2e_p50 / p99 ms",
            f"{lat['p50_ms']} / {lat['p99_ms']}",
            f"target p99 < {E2E_P99_TARGET_MS}; max {lat['max_ms']}",
        ),
        (
            "  reconnects",
            sent["reconnects"],
            f"{sent['hung_up_by_devices']} hung up by devices; closed by the hub {sent['closes_by_server']}",
        ),
        ("  requests not 2xx", refused, f"of {writes:,} writes and the reads"),
        *_health_rows(result),
    ]


def _health_rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    cpu, server = result["cpu"], result["server"]
    return [
        (
            "  cpu s: server / clients / others",
            f"{cpu['server_cpu_s']} / {cpu['clients_cpu_s']} / {cpu['other_cpu_s']}",
            f"over {cpu['wall_s']} s",
        ),
        ("  chain verifies / tracebacks", f"{server['chain_verifies']} / {server['log_tracebacks']}", ""),
    ]


def minute_rows(samples: list[dict[str, Any]]) -> str:
    """One line a minute: RSS, open files, threads, frames/s, p99 of that sample."""
    lines = ["  min  rss MiB  views MiB  files  threads  frames/s  p99 ms  server cores"]
    for s in samples:
        if s["t_s"] % 60 < SAMPLE_S / 2 or s is samples[-1]:
            lines.append(
                f"{s['t_s'] / 60:5.1f}  {s['rss_bytes'] / 2**20:7.1f}  {s.get('views_bytes', 0) / 2**20:9.1f}"
                f"  {s['open_files']:5}  {s['threads']:7}  {s['frames_per_s']:8,}  {s['latency_p99_ms']:6}"
                f"  {s['server_cores']:12}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--processes", type=int, default=CLIENT_PROCESSES, help="device client processes")
    parser.add_argument("--hang-ups", type=int, default=HANG_UPS, help="devices that resume every sample")
    args = parser.parse_args()
    result = run(args.minutes, args.devices, args.processes, args.hang_ups)
    path = write("soak", result)
    print(table(rows(result)))
    print(minute_rows(result["samples"]))
    print(f"verdict: {'ok' if result['verdict']['ok'] else 'NOT OK'}; written to {path}")


if __name__ == "__main__":
    main()
