"""REST writes, embedded, one process: incidents posted by 64 keep-alive clients, answered 201.

`python -m bench.rest [--full] [--profile] [--connections 64] [--seconds S] [--rounds N]
[--warmup S]`; writes bench/results/rest.json and prints a table row per figure.

A real `hub serve` (the CLI, one uvicorn process, SQLite log with fsync on commit) on a
fresh data folder, set up only over its REST API: the first admin by `hub admin create`,
then POST /v1/auth/token, /v1/partnerships, /venues, /members. A CCTV operator signs in
and wrk (`--latency`, a Lua script for the method, body and headers) posts the same
incident over 64 keep-alive connections. Only 201 answers count as writes; any other
answer (or a socket error) is counted apart and is an error in the result.

In the same run, the same client with the same connections and duration loads a bare
FastAPI endpoint in one uvicorn process (bench/bare_rest.py) that decodes the same HS256
token with the same secret and validates the same incident fields: the floor the
libraries put under any write. Both servers are up together (the idle one's CPU is
measured too); each is warmed up, then measured in `rounds` alternating windows (hub,
bare, bare, hub, ...; quick 2 x 5 s each, `--full` 3 x 10 s), so a spell of other
people's load on this shared machine falls on both. The target (DESIGN.md): ≥ 4,000
writes/s and ≥ 0.6 of the bare endpoint's rate.

Why wrk: it is C, one epoll loop per thread; one thread drives the 64 connections at a
small fraction of the CPU of the server it loads (measured: `cpu` in each phase). The
`response` hook that counts 201s apart makes it parse every answer's headers, which it
affords easily. wrk is closed loop (each connection sends its next request when the last
is answered): it finds the capacity, and its percentiles are of the answer time at that
capacity, not an open-loop latency.

`--profile`: py-spy records the hub (non-blocking, Python frames, `--threads`) during its
first measured window; collapsed stacks in .cache/bench/rest-hub.txt, the top frames
(self and inclusive, line numbers folded) and each thread's share in the JSON.
BENCH_PYSPY=gil samples only the thread holding the GIL. The profiled run is slower
(py-spy takes CPU on the same two cores): read its figures apart.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.clients import cpu_split, machine_cpu_seconds
from bench.common import machine, table, write

ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = ROOT / ".cache" / "bench"
PARTNERSHIP = "bench"
VENUE = "bench-pub"
PASSWORD = "bench-password-1"
CONNECTIONS = 64
WRK_THREADS = 1
BODY = {
    "category": "theft",
    "venue": VENUE,
    "description": "Two bottles of spirits taken from the shelf by the door; left on foot",
    "loss_value": 12.5,
}
TARGETS = {"rest_writes_per_s": 4_000, "rest_ratio": 0.6}

# One line of JSON at the end of the run; wrk's own report goes before it.
LUA = r"""
wrk.method = "POST"
wrk.body = BODY
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. TOKEN

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  created = 0
  other = 0
  statuses = {}
  first_error = ""
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
    statuses[status] = (statuses[status] or 0) + 1
    if first_error == "" and body then first_error = string.sub(body, 1, 300) end
  end
end

function done(summary, latency, requests)
  local c, o, s, e = 0, 0, "", ""
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
    for status, count in pairs(t:get("statuses")) do s = s .. status .. ":" .. count .. " " end
    if e == "" then e = t:get("first_error") end
  end
  local err = summary.errors
  io.write(string.format(
    "BENCH-RESULT %d %d %d %d %d %d %d %d %d %d %d %d %d %d %.1f\n",
    c, o, summary.requests, summary.duration, err.connect, err.read, err.write, err.status,
    err.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
  io.write("BENCH-STATUSES " .. s .. "\n")
  io.write("BENCH-FIRST-ERROR " .. string.gsub(e, "\n", " ") .. "\n")
end
"""


# -- tools ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get (Debian package `wrk`) when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = ["apt-get", "install", "-y", "-q", "wrk"]
    if os.geteuid() != 0 and shutil.which("sudo"):
        apt = ["sudo", *apt]
    print("wrk is not installed: apt-get install -y wrk ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(apt, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:  # an old or missing package list: update once, then again
        update = [*apt[: apt.index("install")], "update", "-q"]
        subprocess.run(update, capture_output=True, timeout=600, env=env)
        done = subprocess.run(apt, capture_output=True, text=True, timeout=600, env=env)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(f"wrk could not be installed: {done.stderr[-1000:]}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_command() -> list[str]:
    """The `hub` CLI of this environment (the venv's script, or `python -m hub`)."""
    script = Path(sys.executable).with_name("hub")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub"]


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode}): {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url}: no answer within {timeout_s} s: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def hub_server(folder: Path, secret: str) -> Iterator[tuple[str, int]]:
    """`hub serve` on a fresh data folder, its first admin made by the CLI: (url, pid)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HUB_SECRET": secret}
    made = subprocess.run(
        [*hub_command(), "--data", str(folder), "admin", "create", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if made.returncode != 0:
        raise RuntimeError(f"hub admin create: {made.stderr[-2000:]}")
    port = free_port()
    log = folder / "serve.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*hub_command(), "--data", str(folder), "serve", "--port", str(port), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url, process.pid
    finally:
        stop(process)


@contextlib.contextmanager
def bare_server(folder: Path, secret: str) -> Iterator[tuple[str, int]]:
    """bench/bare_rest.py in one uvicorn process: (url, pid)."""
    port = free_port()
    log = folder / "bare.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_rest", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_SECRET": secret},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url, process.pid
    finally:
        stop(process)


def _token(url: str, username: str) -> str:
    answer = httpx.post(url + "/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"sign-in as {username}: {answer.status_code} {answer.text}")
    return str(answer.json()["access_token"])


def set_up(url: str) -> str:
    """A partnership, a venue and a CCTV operator, over REST; the operator's token."""
    headers = {"Authorization": f"Bearer {_token(url, 'admin')}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
        for path, body in (
            ("/v1/partnerships", {"id": PARTNERSHIP, "name": "Bench partnership"}),
            (
                f"/v1/partnerships/{PARTNERSHIP}/venues",
                {"id": VENUE, "name": "Bench pub", "kind": "night_time"},
            ),
            (
                f"/v1/partnerships/{PARTNERSHIP}/members",
                {"username": "bench.cctv", "password": PASSWORD, "role": "cctv_operator", "venue": None},
            ),
        ):
            answer = admin.post(path, json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text}")
    return _token(url, "bench.cctv")


def check_one(url: str, token: str) -> None:
    """One write by hand before the load: a refusal shows here with its reason."""
    answer = httpx.post(
        f"{url}/v1/partnerships/{PARTNERSHIP}/incidents",
        json=BODY,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"{url}: a write was refused: {answer.status_code} {answer.text}")


# -- the load ------------------------------------------------------------------------------


def _script(folder: Path, token: str) -> Path:
    path = folder / "post.lua"
    body = orjson.dumps(BODY).decode()
    path.write_text(f"BODY = [[{body}]]\nTOKEN = [[{token}]]\n" + LUA)
    return path


def wrk(
    url: str,
    script: Path,
    connections: int,
    seconds: float,
    pid: int,
    spy: str | None = None,
    idle_pid: int | None = None,
) -> dict[str, Any]:
    """One wrk run: writes/s (201s only), the other answers, latency, CPU of everyone
    (`idle_pid`: the other server, which should be doing nothing meanwhile)."""
    binary = ensure_wrk()
    target = f"{url}/v1/partnerships/{PARTNERSHIP}/incidents"
    command = [
        binary,
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        target,
    ]
    profiler = _profile(pid, seconds, spy) if spy else None
    server_before = cpu_split(pid)
    idle_before = sum(cpu_split(idle_pid)) if idle_pid else 0.0
    machine_before = machine_cpu_seconds()
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        killer = threading.Timer(seconds + 60, process.kill)  # bounded, whatever happens
        killer.start()
        try:
            assert process.stdout is not None
            out = process.stdout.read()
            # reaped here rather than by Popen, for its rusage: the client's own CPU time
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            killer.cancel()
            process.stdout.close()
        errors.seek(0)
        err = errors.read()
    client_cpu = usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - started
    server_after = cpu_split(pid)
    idle_cpu = sum(cpu_split(idle_pid)) - idle_before if idle_pid else 0.0
    machine_after = machine_cpu_seconds()
    if profiler is not None:
        try:
            profiler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()
    text = out.decode(errors="replace")
    result = _parse(text)
    if result is None:
        raise RuntimeError(
            f"wrk gave no result (exit {process.returncode}): {text[-1500:]} {err.decode()[-1500:]}"
        )
    server_cpu = sum(server_after) - sum(server_before)
    seconds_measured = result["duration_us"] / 1e6
    out_dict = {
        "connections": connections,
        "threads": WRK_THREADS,
        "seconds": round(seconds_measured, 3),
        "created": result["created"],
        "other_answers": result["other"],
        "other_statuses": _statuses(result["statuses"]),
        "first_error": result["first_error"] or None,
        "socket_errors": result["errors"],
        "writes_per_s": round(result["created"] / seconds_measured),
        "latency": {k: round(v / 1000, 3) for k, v in result["latency_us"].items()}
        | {"count": result["requests"]},
        "cpu": {
            "wall_s": round(wall, 2),
            "server_cpu_s": round(server_cpu, 2),
            "server_user_s": round(server_after[0] - server_before[0], 2),
            "client_cpu_s": round(client_cpu, 2),
            "idle_server_cpu_s": round(idle_cpu, 2),
            "other_cpu_s": round(
                max(0.0, machine_after - machine_before - server_cpu - client_cpu - idle_cpu), 2
            ),
            "server_us_per_write": round(1e6 * server_cpu / max(1, result["created"]), 1),
        },
        "wrk_report": text.split("BENCH-RESULT", 1)[0].strip().splitlines(),
    }
    if profiler is not None and spy:
        out_dict["profile"] = profile_top(PROFILE_DIR / spy, rate=PROFILE_RATE, seconds=seconds)
    return out_dict


def _parse(text: str) -> dict[str, Any] | None:
    found = re.search(r"^BENCH-RESULT (.*)$", text, re.M)
    if not found:
        return None
    f = found.group(1).split()
    n = [int(x) for x in f[:14]]
    statuses = re.search(r"^BENCH-STATUSES ?(.*)$", text, re.M)
    first = re.search(r"^BENCH-FIRST-ERROR ?(.*)$", text, re.M)
    return {
        "created": n[0],
        "other": n[1],
        "requests": n[2],
        "duration_us": n[3],
        "errors": dict(zip(("connect", "read", "write", "status", "timeout"), n[4:9], strict=True)),
        "latency_us": {"p50_ms": n[9], "p90_ms": n[10], "p99_ms": n[11], "p99.9_ms": n[12], "max_ms": n[13]}
        | {"mean_ms": float(f[14])},
        "statuses": statuses.group(1) if statuses else "",
        "first_error": first.group(1).strip() if first else "",
    }


def _statuses(text: str) -> dict[str, int]:
    """`401:12 500:3` (per wrk thread; a status may come more than once) as a dict."""
    counts: dict[str, int] = {}
    for pair in text.split():
        status, _, count = pair.partition(":")
        counts[status] = counts.get(status, 0) + int(count)
    return counts


# -- the profile ---------------------------------------------------------------------------

PROFILE_RATE = 250


def _profile(pid: int, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed (the bench extra): no profile", flush=True)
        return None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    spy_process = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(PROFILE_RATE),
            "--nonblocking",
            "--threads",
            # BENCH_PYSPY=gil: only the thread holding the GIL (the hub's Python is bound by
            # it: its CPU is about one core); =idle: waiting threads too. Default: on-CPU.
            *{"gil": ["--gil"], "idle": ["--idle"]}.get(os.environ.get("BENCH_PYSPY", ""), []),
            "--format",
            "raw",
            "-o",
            str(PROFILE_DIR / name),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)  # attached before the load starts
    return spy_process


_LINE = re.compile(r":\d+\)$")
_TID = re.compile(r"^thread \(\d+\): ")


def profile_top(path: Path, rate: int, seconds: float, n: int = 25) -> dict[str, Any]:
    """The most sampled frames of py-spy's collapsed stacks (`--threads`), line numbers
    folded: by self samples (the frame on top) and inclusive (anywhere in the stack), as
    shares of all samples, and the share of each thread. `busy` is samples / (rate *
    seconds): how many of the hub's threads were on the CPU, on average (py-spy leaves
    idle threads out). A self sample in `Runner.run` is uvloop's own C code: the loop,
    its system calls, httptools' parsing."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = 0
    if not path.exists():
        return {"file": str(path), "samples": 0}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        c = int(count)
        total += c
        if frames[0].startswith("thread ("):
            thread = _TID.sub("", frames[0])
            threads[thread] = threads.get(thread, 0) + c
            frames = frames[1:] or [f"(native, thread {thread})"]
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + c

    def top(counts: dict[str, int], below: int) -> list[str]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        return [f"{100 * c / total:.1f}% {f}" for f, c in ranked if c < below][:n]

    return {
        "file": str(path),
        "mode": os.environ.get("BENCH_PYSPY") or "on-cpu",
        "rate_hz": rate,
        "samples": total,
        "busy": round(total / max(1.0, rate * seconds), 3),
        "threads": {
            t: f"{100 * c / max(1, total):.1f}%" for t, c in sorted(threads.items(), key=lambda kv: -kv[1])
        },
        "self": top(own, total + 1),
        "inclusive": top(inclusive, total),
    }


# -- the benchmark -------------------------------------------------------------------------


def merge(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The windows of one server as one: counts and CPU added, writes/s over their total
    time, and each latency figure the worst window's (wrk's percentiles do not add up)."""
    total_s = sum(w["seconds"] for w in windows)
    created = sum(w["created"] for w in windows)
    cpu = {k: round(sum(w["cpu"][k] for w in windows), 2) for k in windows[0]["cpu"]}
    cpu["server_us_per_write"] = round(1e6 * cpu["server_cpu_s"] / max(1, created), 1)
    statuses: dict[str, int] = {}
    for w in windows:
        for k, v in w["other_statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    merged: dict[str, Any] = {
        "seconds": round(total_s, 3),
        "created": created,
        "other_answers": sum(w["other_answers"] for w in windows),
        "other_statuses": statuses,
        "first_error": next((w["first_error"] for w in windows if w["first_error"]), None),
        "socket_errors": {
            k: sum(w["socket_errors"][k] for w in windows) for k in windows[0]["socket_errors"]
        },
        "writes_per_s": round(created / total_s),
        "latency": {k: max(w["latency"][k] for w in windows) for k in windows[0]["latency"] if k != "count"}
        | {"count": sum(w["latency"]["count"] for w in windows)},
        "cpu": cpu,
        "windows": windows,
    }
    profiles = [w.pop("profile") for w in windows if "profile" in w]
    if profiles:
        merged["profile"] = profiles[0]
    return merged


def _errors(measured: dict[str, Any]) -> int:
    """Answers other than 201, and socket errors (wrk's `status` errors are those answers)."""
    sockets = measured["socket_errors"]
    return int(measured["other_answers"] + sum(v for k, v in sockets.items() if k != "status"))


def run(
    seconds: float = 10,
    warmup: float = 3,
    connections: int = CONNECTIONS,
    rounds: int = 2,
    profile: bool = False,
) -> dict[str, Any]:
    """Both servers up at once (the idle one costs nothing), warmed up, then measured in
    `rounds` alternating windows of seconds/rounds each, in the order hub, bare, bare, hub,
    ...: on a shared machine both see the same spells of other people's load."""
    ensure_wrk()
    secret = secrets.token_urlsafe(48)
    window = max(1, round(seconds / rounds))
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        folder = Path(tmp)
        data = folder / "data"
        data.mkdir()
        with hub_server(data, secret) as hub_at, bare_server(folder, secret) as bare_at:
            token = set_up(hub_at[0])
            script = _script(folder, token)
            servers = {"hub": hub_at, "bare": bare_at}
            for url, pid in servers.values():
                check_one(url, token)
                wrk(url, script, connections, warmup, pid)
            windows: dict[str, list[dict[str, Any]]] = {"hub": [], "bare": []}
            for k in range(rounds):
                for name in ("hub", "bare") if k % 2 == 0 else ("bare", "hub"):
                    url, pid = servers[name]
                    idle = servers["bare" if name == "hub" else "hub"][1]
                    spy = "rest-hub.txt" if profile and name == "hub" and k == 0 else None
                    windows[name].append(wrk(url, script, connections, window, pid, spy, idle))
    hub, bare = merge(windows["hub"]), merge(windows["bare"])
    errors, bare_errors = _errors(hub), _errors(bare)
    result: dict[str, Any] = {
        "rest_writes_per_s": hub["writes_per_s"],
        "rest_bare_fastapi_per_s": bare["writes_per_s"],
        "rest_ratio": round(hub["writes_per_s"] / max(1, bare["writes_per_s"]), 3),
        "rest_p50_ms": hub["latency"]["p50_ms"],
        "rest_p99_ms": hub["latency"]["p99_ms"],
        "rest_bare_p50_ms": bare["latency"]["p50_ms"],
        "rest_bare_p99_ms": bare["latency"]["p99_ms"],
        "rest_errors": errors,
        "settings": {
            "connections": connections,
            "wrk_threads": WRK_THREADS,
            "warmup_s": warmup,
            "seconds": window * rounds,
            "rounds": rounds,
            "window_s": window,
            "client": "wrk (C, epoll), closed loop, Lua script: POST, JSON body, bearer token",
            "body": BODY,
            "profile": profile,
        },
        "hub": hub,
        "bare": bare,
    }
    if errors or bare_errors:
        result["error"] = (
            f"non-201 answers or socket errors: hub {errors}, bare {bare_errors}; "
            f"first: {hub['first_error'] or bare['first_error']}"
        )
    return result


def rows(r: dict[str, Any]) -> list[tuple[str, Any, str]]:
    cpu, bare_cpu = r["hub"]["cpu"], r["bare"]["cpu"]
    return [
        (
            "rest_writes_per_s",
            r["rest_writes_per_s"],
            f"target ≥ {TARGETS['rest_writes_per_s']:,}; {r['settings']['connections']} connections, "
            f"{r['rest_errors']} not 201",
        ),
        (
            "rest_bare_fastapi_per_s",
            r["rest_bare_fastapi_per_s"],
            "the floor: bare FastAPI, same token and body",
        ),
        ("rest_ratio", r["rest_ratio"], f"target ≥ {TARGETS['rest_ratio']}"),
        (
            "  rest p50 / p99 ms",
            f"{r['rest_p50_ms']} / {r['rest_p99_ms']}",
            f"bare {r['rest_bare_p50_ms']} / {r['rest_bare_p99_ms']}",
        ),
        (
            "  rest cpu s: server / wrk / others",
            f"{cpu['server_cpu_s']} / {cpu['client_cpu_s']} / {cpu['other_cpu_s']}",
            f"{cpu['server_us_per_write']} µs of hub CPU a write; bare {bare_cpu['server_us_per_write']} µs",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="30 s windows instead of 10")
    parser.add_argument("--profile", action="store_true", help="py-spy the hub during its window")
    parser.add_argument("--seconds", type=float, help="the measured window (default 10, --full 30)")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--rounds", type=int, help="alternating windows per server (default 2, --full 3)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = run(
        seconds=args.seconds or (30 if args.full else 10),
        warmup=args.warmup,
        connections=args.connections,
        rounds=args.rounds or (3 if args.full else 2),
        profile=args.profile,
    )
    result["machine"] = machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    path = write("rest", result)
    print(table(rows(result)))
    if "profile" in result["hub"]:
        p = result["hub"]["profile"]
        print(
            f"profile ({p['mode']}): {p['samples']} samples, busy {p['busy']}, threads {p['threads']}; self:"
        )
        print("\n".join(f"  {line}" for line in p["self"][:15]))
    if "error" in result:
        print(f"ERROR: {result['error']}")
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, load {load_before[0]:.1f} before; written to {path}")


if __name__ == "__main__":
    main()
