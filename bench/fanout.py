"""Fan-out: one urgent alert to 10,000 live subscribers, sustained fan-out, and idle memory.

A real `hub serve` process (as tests/support.py starts it) with 10,000 sockets on
/v1/live held by the Go load client (bench/clients.py). Alerts are posted over REST by
a CCTV operator; each alert's text carries its sequence number and its intended send
time (`bench SEQ NS`, CLOCK_REALTIME), so a client measures post → frame without asking
the server. Posting is open-loop: alert k is due at t0 + k/rate whatever happened to
the earlier ones, and its latency counts from when it was due (no coordinated omission).

The same clients are then fed by a bare `websockets` broadcast loop (uvloop, the frame
bytes the hub would send, `websockets.broadcast`), `python -m bench.fanout raw-server`:
the limit of the library on this machine.

Phases (all bounded in count and time):
  idle memory   RSS of the server before and after opening the sockets, per socket
  10k           `trials` single urgent alerts, one at a time: when the last socket has it
  sustained     `rate` alerts/s for `seconds` to every socket: frames delivered per second
                (delivered / (last arrival - first due time)), latency p99, frames lost
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.clients import CpuMeter, Fleet, raise_nofile, rss_bytes
from bench.common import histogram, percentiles_ms

SEED = 20261126  # nothing here is random; kept beside the results like the other benches
PARTNERSHIP = "bench"
PROFILE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "bench"
# Roles that receive every urgent alert; the client processes take turns with them.
# `hub serve --processes`. One: on these 2 cores, with the load client on the same machine,
# two processes delivered fewer frames/s (less coalescing, dearer writes under contention)
# and no earlier last delivery; bench.run measures both (README, "two processes").
HUB_PROCESSES = 1
LISTENERS = ("door_staff", "door_staff_club", "retail_staff", "police", "coordinator")

Post = Callable[[httpx.AsyncClient, int, int], Awaitable[None]]


def text(seq: int, sent_ns: int) -> str:
    return f"bench {seq} {sent_ns}" if seq >= 0 else "warm-up"


def hub_like_frame(seq: int, sent_ns: int) -> dict[str, Any]:
    """The frame the hub sends for an urgent alert: the same shape and size."""
    frame = {
        "op": "event",
        "partnership": PARTNERSHIP,
        "position": 100 + seq,
        "type": "alert.broadcast",
        "id": f"{sent_ns:032x}",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(sent_ns / 1e9)),
        "actor": "bench.cctv_operator",
        "data": {
            "alert_id": f"{sent_ns + 1:032x}",
            "breach_of": None,
            "channel": "main",
            "location": None,
            "priority": "urgent",
            "subject_id": None,
            "text": text(seq, sent_ns),
            "venue": None,
        },
    }
    if seq < 0:  # the warm-up frame stands outside the sequence
        del frame["position"]
    return frame


# -- driving load --------------------------------------------------------------------------


async def open_loop(
    post: Post, base_url: str, headers: dict[str, str], rate: float, count: int, first: int
) -> dict[str, Any]:
    """`count` posts, alert k due at t0 + k/rate; returns t0 and how the posts went."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    latencies = histogram()
    failures = 0
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120, limits=limits) as client:
        await post(client, -1, 0)  # warm the connection pool: a frame without the bench marker
        t0_ns = time.time_ns() + 50_000_000
        t0 = time.perf_counter() + 0.05
        late = 0.0

        async def one(seq: int, due_ns: int) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                await post(client, seq, due_ns)
            except Exception:
                failures += 1
            latencies.record_value(max(1, int((time.perf_counter() - started) * 1e6)))

        tasks = []
        for k in range(count):
            due = t0 + k / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late = max(late, -wait)
            tasks.append(asyncio.create_task(one(first + k, t0_ns + int(k * 1e9 / rate))))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
    return {
        "t0_ns": t0_ns,
        "failures": failures,
        "post_ms": percentiles_ms(latencies),
        "scheduler_late_ms": round(late * 1000, 3),
    }


def drain(fleet: Fleet, first: int, count: int, cap_s: float, quiet_s: float = 5.0) -> dict[str, Any]:
    """Report once every alert reached every socket, or nothing new came for `quiet_s`."""
    expected = count * fleet.connections
    deadline = time.monotonic() + cap_s
    last_seen, last_change = -1, time.monotonic()
    while True:
        report = fleet.report()
        delivered = sum(s["count"] for q, s in report["seqs"].items() if first <= q < first + count)
        if delivered >= expected or time.monotonic() > deadline:
            return report | {"delivered": delivered, "expected": expected}
        if delivered != last_seen:
            last_seen, last_change = delivered, time.monotonic()
        elif time.monotonic() - last_change > quiet_s:
            return report | {"delivered": delivered, "expected": expected}
        time.sleep(0.5)


def sustained(
    fleet: Fleet,
    post: Post,
    base_url: str,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    first: int,
    server_pid: int | None,
    profile: str | None = None,
) -> dict[str, Any]:
    count = int(rate * seconds)
    fleet.reset()
    meter = CpuMeter(server_pid, fleet)
    spy = _profile(server_pid, seconds, profile) if profile and server_pid else None
    posted = asyncio.run(open_loop(post, base_url, headers, rate, count, first))
    report = drain(fleet, first, count, cap_s=max(60.0, 6 * seconds))
    result = summary(fleet, report, rate, seconds, posted["t0_ns"], meter) | {"posts": posted}
    if spy is not None and profile:
        spy.wait(timeout=60)
        result["profile"] = profile_top(PROFILE_DIR / profile)
    return result


def profile_top(path: Path, n: int = 12) -> dict[str, Any]:
    """Self and inclusive shares of the most sampled frames in py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    if not path.exists():
        return {"file": str(path), "samples": 0}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)

    def top(counts: dict[str, int], skip: int) -> list[str]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        return [f"{100 * c / total:.1f}% {f}" for f, c in ranked if c < skip][:n]

    root = max(inclusive.values(), default=0)
    return {
        "file": str(path),
        "samples": total,
        "self": top(own, total + 1),
        "inclusive": top(inclusive, root),
    }


def summary(
    fleet: Fleet, report: dict[str, Any], rate: float, seconds: float, t0_ns: int, meter: CpuMeter
) -> dict[str, Any]:
    window_s = max(1e-9, (report["last_ns"] - t0_ns) / 1e9)
    return {
        "connections": fleet.connections,
        "open_at_end": report["open"],
        "alerts_per_s": rate,
        "seconds": seconds,
        "alerts": int(rate * seconds),
        "offered_frames_per_s": round(rate * fleet.connections),
        "frames_expected": report["expected"],
        "frames_delivered": report["delivered"],
        "frames_lost": report["expected"] - report["delivered"],
        "position_gaps": report["gaps"],
        "out_of_order": report["dups"],
        "closes": report["closes"],
        "window_s": round(window_s, 3),
        "frames_per_s": round(report["delivered"] / window_s),
        "latency": percentiles_ms(report["hist"]),
        "cpu": meter.read(),
    }


def _profile(pid: int, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    out = PROFILE_DIR / name
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds) + 2),
            "--rate",
            "200",
            # BENCH_PYSPY=native: C frames too (the cyclic GC shows as gc_collect_main), but
            # py-spy then pauses the server for every sample, which slows it down.
            *(["--native"] if os.environ.get("BENCH_PYSPY") == "native" else ["--nonblocking"]),
            "--format",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def last_of_one(fleet: Fleet, publish: Callable[[int, int], None], seq: int) -> dict[str, Any]:
    """One alert to every socket: ms from just before it was sent until the last had it."""
    fleet.reset()
    sent_ns = time.time_ns()
    publish(seq, sent_ns)
    fleet.wait(seq, 10_000)
    report = fleet.report()
    s = report["seqs"].get(seq, {"count": 0, "first_ns": sent_ns, "last_ns": sent_ns})
    return {
        "delivered": s["count"],
        "first_ms": round((s["first_ns"] - sent_ns) / 1e6, 3),
        "last_ms": round((s["last_ns"] - sent_ns) / 1e6, 3),
    }


def trials(fleet: Fleet, publish: Callable[[int, int], None], first: int, n: int) -> dict[str, Any]:
    runs = []
    for k in range(n):
        runs.append(last_of_one(fleet, publish, first + k))
        time.sleep(0.5)
    lasts = sorted(r["last_ms"] for r in runs)
    return {
        "trials": runs,
        "last_ms_median": lasts[len(lasts) // 2],
        "last_ms_max": lasts[-1],
        "all_delivered": all(r["delivered"] == fleet.connections for r in runs),
    }


# -- the hub -------------------------------------------------------------------------------


@contextlib.contextmanager
def hub_server(processes: int = 1) -> Iterator[tuple[Any, dict[str, str]]]:
    """A `hub serve` on a fresh data folder, with a partnership and its members;
    `processes` share its port (`hub serve --processes`)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support import Server, make_admin, set_up_partnership

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        data = Path(tmp)
        make_admin(data)
        server = Server(data, env={"HUB_PROCESSES": str(processes)}).start()
        try:
            admin = server.login("admin")
            users = set_up_partnership(admin, PARTNERSHIP)
            admin.close()
            yield server, users
        finally:
            server.stop()


def hub_post(p: str) -> Post:
    async def post(client: httpx.AsyncClient, seq: int, sent_ns: int) -> None:
        answer = await client.post(
            f"/v1/partnerships/{p}/alerts",
            json={"channel": "main", "priority": "urgent", "text": text(seq, sent_ns)},
        )
        if answer.status_code != 201:
            raise RuntimeError(f"{answer.status_code} {answer.text}")

    return post


def hellos(server: Any, users: dict[str, str]) -> list[str]:
    """One hello per listening role, resuming from the head: no backlog, only live frames."""
    from tests.support import head_positions

    out = []
    for role in LISTENERS:
        token = server.token(users[role])
        since = head_positions(server, token)
        out.append(orjson.dumps({"op": "hello", "token": token, "since": since}).decode())
    return out


def light_rate_for(frames_per_s: float, connections: int, fraction: float = 0.3) -> float:
    """Alerts/s that offer `fraction` of a measured capacity (at least 0.5/s)."""
    return round(max(0.5, fraction * frames_per_s / connections), 2)


def run_hub(
    connections: int,
    rate: float,
    seconds: float,
    n_trials: int,
    processes: int,
    profile: bool,
    light_rate: float | None = None,
    hub_processes: int = HUB_PROCESSES,
) -> dict[str, Any]:
    """Idle memory, 10k trials, sustained at `rate`, then below capacity at `light_rate`
    (by default 30% of the frames/s just measured)."""
    with hub_server(hub_processes) as (server, users):
        pid = server.process.pid
        poster = server.token(users["cctv_operator"])
        headers = {"Authorization": f"Bearer {poster}"}
        cctv = httpx.Client(base_url=server.url, headers=headers, timeout=30)

        def publish(seq: int, sent_ns: int) -> None:
            answer = cctv.post(
                f"/v1/partnerships/{PARTNERSHIP}/alerts",
                json={"channel": "main", "priority": "urgent", "text": text(seq, sent_ns)},
            )
            assert answer.status_code == 201, answer.text

        with Fleet(server.ws_url, 100, hellos(server, users), '"welcome"', processes=1) as warm:
            last_of_one(warm, publish, 1)  # every code path warm before memory is measured
        time.sleep(2)
        greet = hellos(server, users)
        rss_before = rss_bytes(pid)
        fleet = Fleet(server.ws_url, connections, greet, '"welcome"', processes=processes)
        try:
            time.sleep(3)
            rss_after = rss_bytes(pid)
            memory = {
                "connections": fleet.ready,
                "failed": fleet.failed,
                "errors": fleet.errors[:3],
                "connect_s": fleet.connect_s,
                "rss_before": rss_before,
                "rss_after": rss_after,
                "bytes_per_connection": round((rss_after - rss_before) / max(1, fleet.ready)),
            }
            one = trials(fleet, publish, 10, n_trials)
            steady = sustained(
                fleet,
                hub_post(PARTNERSHIP),
                server.url,
                headers,
                rate,
                seconds,
                10 + n_trials,
                pid,
                profile="fanout-hub.txt" if profile else None,
            )
            light_rate = light_rate or light_rate_for(steady["frames_per_s"], connections)
            light = sustained(
                fleet,
                hub_post(PARTNERSHIP),
                server.url,
                headers,
                light_rate,
                seconds,
                10 + n_trials + int(rate * seconds),
                pid,
            )
        finally:
            fleet.close()
            cctv.close()
    return {"memory": memory, "ten_k": one, "sustained": steady, "below_capacity": light}


# -- the bare websockets broadcast loop ----------------------------------------------------


async def _raw_server() -> None:
    """`python -m bench.fanout raw-server`: hello/welcome, then `websockets.broadcast`.

    Commands on stdin: `one SEQ NS` broadcasts one alert; `run RATE COUNT FIRST T0NS`
    broadcasts COUNT alerts, alert k at T0NS + k/RATE (its due time is in its text).
    """
    from websockets.asyncio.server import broadcast, serve

    from projections.live import frame as hub_frame

    def encoded(seq: int, sent_ns: int) -> str:
        f = hub_like_frame(seq, sent_ns)
        event = {**f, "actor": {"user": f["actor"]}}
        return hub_frame(event)

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        await ws.recv()
        await ws.send('{"op":"welcome","positions":{}}')
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def burst(rate: float, count: int, first: int, t0_ns: int) -> None:
        """COUNT alerts, alert k at T0NS + k/RATE, late or not (its due time is in its text)."""
        t0 = loop.time() + (t0_ns - time.time_ns()) / 1e9
        done = loop.create_future()
        sent = 0

        def fire(k: int) -> None:
            nonlocal sent
            broadcast(clients, encoded(first + k, t0_ns + int(k * 1e9 / rate)))
            sent += 1
            if sent == count:
                done.set_result(None)

        for k in range(count):
            loop.call_at(t0 + k / rate, fire, k)
        await asyncio.wait_for(done, timeout=count / rate + 120)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with serve(handler, "127.0.0.1", 0, max_size=64 * 1024, compression=None, backlog=4096) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(orjson.dumps({"port": port, "pid": os.getpid()}).decode(), flush=True)
        while line := (await reader.readline()).decode().split():
            if line[0] == "one":
                broadcast(clients, encoded(int(line[1]), int(line[2])))
                print('{"ok":true}', flush=True)
            elif line[0] == "run":
                await burst(float(line[1]), int(line[2]), int(line[3]), int(line[4]))
                print('{"ok":true}', flush=True)
            elif line[0] == "quit":
                break


class RawServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout", "raw-server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
            preexec_fn=raise_nofile,
        )
        assert self.process.stdout is not None
        hello = orjson.loads(self.process.stdout.readline())
        self.port = hello["port"]
        self.url = f"ws://127.0.0.1:{self.port}/"

    def command(self, line: str, timeout_s: float = 300) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()
        import select

        readable, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not readable or not self.process.stdout.readline():
            raise RuntimeError(f"raw server: no answer to {line.split()[0]}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.write(b"quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_raw(
    connections: int, rate: float, seconds: float, n_trials: int, processes: int, light_rate: float
) -> dict[str, Any]:
    server = RawServer()
    hello = orjson.dumps({"op": "hello", "token": "-", "since": {}}).decode()

    def burst(fleet: Fleet, rate: float, first: int) -> dict[str, Any]:
        count = int(rate * seconds)
        fleet.reset()
        meter = CpuMeter(server.process.pid, fleet)
        t0_ns = time.time_ns() + 100_000_000
        server.command(f"run {rate} {count} {first} {t0_ns}", timeout_s=seconds + 180)
        report = drain(fleet, first, count, cap_s=max(60.0, 6 * seconds))
        return summary(fleet, report, rate, seconds, t0_ns, meter)

    try:
        with Fleet(server.url, connections, [hello], '"welcome"', processes=processes) as fleet:
            one = trials(fleet, lambda seq, ns: server.command(f"one {seq} {ns}"), 10, n_trials)
            steady = burst(fleet, rate, 10 + n_trials)
            light = burst(fleet, light_rate, 10 + n_trials + int(rate * seconds))
    finally:
        server.close()
    return {"ten_k": one, "sustained": steady, "below_capacity": light}


def run(
    connections: int = 10_000,
    rate: float = 15,
    seconds: float = 8,
    n_trials: int = 5,
    processes: int = 2,
    profile: bool = False,
) -> dict[str, Any]:
    raise_nofile()
    hub = run_hub(connections, rate, seconds, n_trials, processes, profile)
    light = hub["below_capacity"]["alerts_per_s"]
    raw = run_raw(connections, rate, seconds, n_trials, processes, light)
    return {
        "settings": {
            "connections": connections,
            "alerts_per_s": rate,
            "seconds": seconds,
            "trials": n_trials,
            "client_processes": processes,
            "hub_processes": HUB_PROCESSES,
            "seed": SEED,
        },
        "hub": hub,
        "raw": raw,
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", nargs="?", default="all", choices=["all", "hub", "raw", "raw-server"])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.what == "raw-server":
        import uvloop

        raise_nofile()
        uvloop.run(_raw_server())
        return
    raise_nofile()
    if args.what == "hub":
        result: dict[str, Any] = run_hub(
            args.connections, args.rate, args.seconds, args.trials, args.processes, args.profile
        )
    elif args.what == "raw":
        result = run_raw(args.connections, args.rate, args.seconds, args.trials, args.processes, 2.0)
    else:
        result = run(args.connections, args.rate, args.seconds, args.trials, args.processes, args.profile)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
