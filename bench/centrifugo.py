"""Centrifugo fed the same alerts, read by the same client over its unidirectional WebSocket.

The binary is built once through the Go module proxy into .cache/centrifugo/<version>/
(`GOBIN=... go install github.com/centrifugal/centrifugo/v6@VERSION`, about 3 minutes on
2 cores; neither source nor binary is committed). Its configuration is written at run
time into a temporary folder. Each socket connects to /connection/uni_websocket with a
connection JWT whose `channels` claim subscribes it server-side to one channel; alerts
are the hub's frames (same shape and size, `bench SEQ NS` in the text), published one
per HTTP API call (/api/publish), open-loop at the same rate as the hub.

If it cannot be built here (no Go, no proxy, too slow), the result says why and the
figures are null.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from bench.clients import Fleet, raise_nofile, rss_bytes
from bench.fanout import Post, hub_like_frame, sustained, trials

VERSION = "v6.9.1"
MODULE = "github.com/centrifugal/centrifugo/v6"
ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / ".cache" / "centrifugo" / VERSION / "centrifugo"
CHANNEL = "alerts"
BUILD_SECONDS = 900


def build() -> tuple[Path | None, str]:
    """The pinned binary, built if missing; (None, why) if it cannot be."""
    if BINARY.exists():
        return BINARY, "cached"
    go = shutil.which("go")
    if go is None:
        return None, "go is not installed"
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [go, "install", f"{MODULE}@{VERSION}"],
            env={**os.environ, "GOBIN": str(BINARY.parent), "GOFLAGS": "-buildvcs=false"},
            capture_output=True,
            text=True,
            timeout=BUILD_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return None, f"go install did not finish within {BUILD_SECONDS} s"
    if done.returncode != 0 or not BINARY.exists():
        return None, f"go install failed: {done.stderr.strip()[-500:]}"
    return BINARY, f"built in {time.monotonic() - started:.0f} s"


class Centrifugo:
    def __init__(self, binary: Path, folder: Path) -> None:
        from tests.support import free_port

        self.port = free_port()
        self.secret = "bench-hmac-secret-" + "x" * 32
        self.key = "bench-api-key"
        config = {
            "http_server": {"address": "127.0.0.1", "port": self.port},
            "log": {"level": "error"},
            "health": {"enabled": True},
            "client": {"token": {"hmac_secret_key": self.secret}, "allowed_origins": ["*"]},
            "http_api": {"key": self.key},
            "uni_websocket": {"enabled": True},
        }
        path = folder / "config.json"
        path.write_bytes(orjson.dumps(config))
        self.log = open(folder / "centrifugo.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(binary), "--config", str(path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/connection/uni_websocket"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"centrifugo exited: {(folder / 'centrifugo.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("centrifugo did not answer within 30 s")

    def token(self, user: str) -> str:
        now = int(time.time())
        return jwt.encode(
            {"sub": user, "channels": [CHANNEL], "iat": now, "exp": now + 3600}, self.secret, "HS256"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def publish_body(seq: int, sent_ns: int) -> bytes:
    return orjson.dumps({"channel": CHANNEL, "data": hub_like_frame(seq, sent_ns)})


def run(
    connections: int, rate: float, seconds: float, n_trials: int, processes: int, light_rate: float = 2.0
) -> dict[str, Any]:
    binary, how = build()
    if binary is None:
        return {"version": VERSION, "error": how}
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-centrifugo-") as tmp:
        server = Centrifugo(binary, Path(tmp))
        headers = {"X-API-Key": server.key, "Content-Type": "application/json"}
        api = httpx.Client(base_url=server.url, headers=headers, timeout=30)

        def publish(seq: int, sent_ns: int) -> None:
            answer = api.post("/api/publish", content=publish_body(seq, sent_ns))
            assert answer.status_code == 200 and b'"error"' not in answer.content, answer.text

        async def post(client: httpx.AsyncClient, seq: int, sent_ns: int) -> None:
            answer = await client.post("/api/publish", content=publish_body(seq, sent_ns))
            if answer.status_code != 200 or b'"error"' in answer.content:
                raise RuntimeError(answer.text)

        poster: Post = post
        hellos = [orjson.dumps({"token": server.token(f"user{i}")}).decode() for i in range(processes)]
        try:
            with Fleet(server.ws_url, 100, hellos, '"connect"', processes=1) as warm:
                trials(warm, publish, 1, 1)
            time.sleep(2)
            rss_before = rss_bytes(server.process.pid)
            with Fleet(server.ws_url, connections, hellos, '"connect"', processes=processes) as fleet:
                time.sleep(3)
                memory = {
                    "connections": fleet.ready,
                    "failed": fleet.failed,
                    "errors": fleet.errors[:3],
                    "connect_s": fleet.connect_s,
                    "rss_before": rss_before,
                    "rss_after": rss_bytes(server.process.pid),
                }
                memory["bytes_per_connection"] = round(
                    (memory["rss_after"] - rss_before) / max(1, fleet.ready)
                )
                one = trials(fleet, publish, 10, n_trials)
                pid = server.process.pid
                steady = sustained(fleet, poster, server.url, headers, rate, seconds, 10 + n_trials, pid)
                first = 10 + n_trials + int(rate * seconds)
                light = sustained(fleet, poster, server.url, headers, light_rate, seconds, first, pid)
        finally:
            api.close()
            server.stop()
    return {
        "version": VERSION,
        "binary": how,
        "memory": memory,
        "ten_k": one,
        "sustained": steady,
        "below_capacity": light,
    }


def main() -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    result = run(args.connections, args.rate, args.seconds, args.trials, args.processes)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
