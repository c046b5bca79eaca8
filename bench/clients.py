"""The load client: bench/wsclient (Go, standard library only) run as a few processes.

Why compiled: on 2 cores the server under test gets one core and the clients the rest.
A Python socket client costs 5-10 µs of interpreter time per frame received; at the
150,000 frames/s target that is 1-1.5 cores, more than the server it measures. The Go
client spends about 2 µs of user time per frame: after the handshake each process reads
all its sockets from one epoll set on one OS thread (one read(2) per ready socket, no
goroutine wake-up per frame, no JSON decoding: it finds the bench marker in the bytes).
Its CPU time is measured beside the server's in every phase (`cpu` in each result) so
the claim can be checked.

Several processes (each with a raised RLIMIT_NOFILE) spread the sockets; each prints one
JSON line per command (see bench/wsclient/main.go). Every wait here is bounded.
"""

from __future__ import annotations

import os
import resource
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import histogram

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "wsclient"
BINARY = ROOT / ".cache" / "bench" / "wsclient"


def raise_nofile() -> int:
    """RLIMIT_NOFILE up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def build() -> Path:
    """`go build` the client into .cache/bench (once per source change)."""
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    return sum(cpu_split(pid))


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = _stat(pid)
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def family(pid: int) -> list[int]:
    """`pid` and its children (the follower processes of `hub serve --processes`)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return [pid, *children]


def family_cpu_split(pid: int) -> tuple[float, float]:
    splits = [cpu_split(p) for p in family(pid)]
    return sum(u for u, _ in splits), sum(s for _, s in splits)


def machine_cpu_seconds() -> float:
    """CPU time spent by every process on the machine so far (all cores, not idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds over a phase: the server (with its child processes), the load clients,
    and everyone else."""

    def __init__(self, server_pid: int | None, fleet: Fleet) -> None:
        self.server_pid, self.fleet = server_pid, fleet
        self.start = self._now()

    def _now(self) -> tuple[float, ...]:
        server = family_cpu_split(self.server_pid) if self.server_pid else (0.0, 0.0)
        clients = self.fleet.cpu_split()
        me = cpu_seconds(os.getpid())
        return (time.monotonic(), *server, *clients, me, machine_cpu_seconds())

    def read(self) -> dict[str, float]:
        end = self._now()
        wall, s_user, s_sys, c_user, c_sys, me, machine = (
            b - a for a, b in zip(self.start, end, strict=True)
        )
        return {
            "wall_s": round(wall, 2),
            "server_cpu_s": round(s_user + s_sys, 2),
            "server_user_s": round(s_user, 2),
            "clients_cpu_s": round(c_user + c_sys, 2),
            "clients_user_s": round(c_user, 2),
            "driver_cpu_s": round(me, 2),
            "other_cpu_s": round(max(0.0, machine - s_user - s_sys - c_user - c_sys - me), 2),
        }


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its children."""
    total = 0
    for member in family(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


class Fleet:
    """`processes` client processes holding `connections` sockets between them."""

    def __init__(
        self,
        url: str,
        connections: int,
        hellos: list[str],
        ready: str,
        processes: int = 2,
        concurrency: int = 64,
        timeout_s: float = 120,
    ) -> None:
        binary = build()
        raise_nofile()
        self.connections = connections
        self.procs: list[subprocess.Popen[bytes]] = []
        share = [
            connections // processes + (1 if i < connections % processes else 0) for i in range(processes)
        ]
        for i, n in enumerate(share):
            if n == 0:
                continue
            self.procs.append(
                subprocess.Popen(
                    [
                        str(binary),
                        "-url",
                        url,
                        "-n",
                        str(n),
                        "-hello",
                        hellos[i % len(hellos)],
                        "-ready",
                        ready,
                        "-concurrency",
                        str(concurrency),
                        "-timeout",
                        f"{int(timeout_s)}s",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**os.environ, "GOMAXPROCS": "1"},
                    preexec_fn=raise_nofile,
                )
            )
        started = time.perf_counter()
        answers = self._read_all(timeout_s + 30)
        self.connect_s = round(time.perf_counter() - started, 3)
        self.ready = sum(a["ready"] for a in answers)
        self.failed = sum(a["failed"] for a in answers)
        self.errors = [a["error"] for a in answers if a.get("error")]

    def _read_all(self, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        answers: list[dict[str, Any]] = []
        for proc in self.procs:
            assert proc.stdout is not None
            left = deadline - time.monotonic()
            readable, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
            if not readable:
                raise TimeoutError(f"load client {proc.pid} did not answer within {timeout_s} s")
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"load client {proc.pid} exited ({proc.poll()})")
            answers.append(orjson.loads(line))
        return answers

    def command(self, text: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(text.encode() + b"\n")
            proc.stdin.flush()
        return self._read_all(timeout_s)

    def reset(self) -> None:
        self.command("reset")

    def wait(self, seq: int, timeout_ms: int) -> None:
        """Until every client process has alert `seq` on all its sockets (or the timeout)."""
        for proc, n in zip(self.procs, self._shares(), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(f"wait {seq} {n} {timeout_ms}\n".encode())
            proc.stdin.flush()
        self._read_all(timeout_ms / 1000 + 10)

    def _shares(self) -> list[int]:
        n = len(self.procs)
        return [self.connections // n + (1 if i < self.connections % n else 0) for i in range(n)]

    def report(self) -> dict[str, Any]:
        """The counters of every process since the last reset, merged."""
        parts = self.command("report")
        seqs: dict[int, dict[str, int]] = {}
        hist = histogram()
        closes: dict[str, int] = {}
        for part in parts:
            for key, s in part["seqs"].items():
                merged = seqs.setdefault(
                    int(key), {"count": 0, "first_ns": s["first_ns"], "last_ns": 0, "max_us": 0}
                )
                merged["count"] += s["count"]
                merged["first_ns"] = min(merged["first_ns"], s["first_ns"])
                merged["last_ns"] = max(merged["last_ns"], s["last_ns"])
                merged["max_us"] = max(merged["max_us"], s["max_us"])
            for value, count in part["hist_us"]:
                hist.record_value(min(value, 60_000_000), count)
            for code, count in part["closes"].items():
                closes[code] = closes.get(code, 0) + count
        firsts = [p["first_ns"] for p in parts if p["first_ns"]]
        return {
            "open": sum(p["open"] for p in parts),
            "frames": sum(p["frames"] for p in parts),
            "bytes": sum(p["bytes"] for p in parts),
            "alerts": sum(p["alerts"] for p in parts),
            "gaps": sum(p["gaps"] for p in parts),
            "dups": sum(p["dups"] for p in parts),
            "errors": sum(p["errors"] for p in parts),
            "first_ns": min(firsts) if firsts else 0,
            "last_ns": max(p["last_ns"] for p in parts),
            "closes": closes,
            "seqs": seqs,
            "hist": hist,
        }

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        parts = [cpu_split(p.pid) for p in self.procs if p.poll() is None]
        return sum(u for u, _ in parts), sum(s for _, s in parts)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(b"quit\n")
                    proc.stdin.flush()
                    proc.stdin.close()
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
