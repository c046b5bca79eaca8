"""Web Push: an urgent alert posted → its encrypted push request at the push endpoint,
for 1,000 subscriptions (DESIGN.md: p99 < 250 ms).

A real `hub serve` (embedded), 1,000 browser subscriptions (250 each for four members
of receiving roles, each with its own P-256 key pair and auth secret, as browsers make
them) on a local push service: an aiohttp server in a process of its own on loopback
(HUB_PUSH_INSECURE_ENDPOINTS), which only notes when each request arrived and answers
201. A CCTV operator posts urgent alerts one at a time; the next waits until every push
of the last has arrived. Each sample is one push request: from just before the POST
was sent to the moment the push service had the request's body (both clocks are this
machine's). Every push is one ECDH, HKDF and AES-GCM (RFC 8291) and one HTTP request.

`python -m bench.push [--subscriptions N] [--alerts N]` writes bench/results/push.json
and prints a table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import histogram, machine, percentiles_ms, table, write

PARTNERSHIP = "push"
MEMBERS = ("cctv_operator", "police", "coordinator", "door_staff")
TARGET_P99_MS = 250


def _service() -> None:
    """The push service (run as `python -m bench.push --service PORT`)."""
    from aiohttp import web

    arrived: list[tuple[str, int]] = []

    async def push(request: web.Request) -> web.Response:
        await request.read()
        arrived.append((request.path, time.time_ns()))
        return web.Response(status=201)

    async def taken(request: web.Request) -> web.Response:
        if request.query.get("count"):
            return web.json_response({"count": len(arrived)})
        got = list(arrived)
        arrived.clear()
        return web.json_response(got)

    app = web.Application()
    app.router.add_post("/s/{n}", push)
    app.router.add_get("/arrived", taken)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[sys.argv.index("--service") + 1]), print=None)


def _subscribe(server: Any, users: dict[str, str], origin: str, count: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.push_endpoint import Browser
    from tests.support import post_many

    per = count // len(MEMBERS)
    for k, role in enumerate(MEMBERS):
        bodies = [Browser(f"{origin}/s/{k * per + i}").subscription() for i in range(per)]
        post_many(server, server.token(users[role]), "/v1/push/subscriptions", bodies)


def _wait(service: httpx.Client, count: int, timeout: float = 60) -> list[tuple[str, int]]:
    deadline = time.monotonic() + timeout
    while service.get("/arrived", params={"count": 1}).json()["count"] < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return [tuple(item) for item in service.get("/arrived").json()]  # type: ignore[misc]


def measure(
    server: Any, users: dict[str, str], service: httpx.Client, subscriptions: int, alerts: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.token(users['cctv_operator'])}"}
    samples, lasts, answers = histogram(), histogram(), histogram()
    missing = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as cctv:
        for seq in range(alerts + 3):  # the first three warm up, not counted
            sent_ns = time.time_ns()
            started = time.perf_counter()
            answer = cctv.post(
                f"/v1/partnerships/{PARTNERSHIP}/alerts",
                json={"channel": "main", "priority": "urgent", "text": f"bench alert {seq}"},
            )
            assert answer.status_code == 201, answer.text
            took = time.perf_counter() - started
            got = _wait(service, subscriptions)
            if seq < 3:
                continue
            answers.record_value(max(1, int(took * 1e6)))
            missing += subscriptions - len(got)
            delays = [max(1, (at - sent_ns) // 1000) for _, at in got]
            for delay in delays:
                samples.record_value(delay)
            if delays:
                lasts.record_value(max(delays))
    return {
        "latency": percentiles_ms(samples),
        "last_push_of_each_alert": percentiles_ms(lasts),
        "post_answered": percentiles_ms(answers),
        "pushes_missing": missing,
    }


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(subscriptions: int = 1_000, alerts: int = 20) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support import Server, free_port, make_admin, set_up_partnership

    load_before = os.getloadavg()
    port = free_port()
    service_process = subprocess.Popen([sys.executable, "-m", "bench.push", "--service", str(port)])
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-push-") as tmp,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as service,
        ):
            data = Path(tmp)
            make_admin(data)
            server = Server(data, env={"HUB_PUSH_INSECURE_ENDPOINTS": f"127.0.0.1:{port}"}).start()
            try:
                users = set_up_partnership(server.login("admin"), PARTNERSHIP)
                started = time.perf_counter()
                _subscribe(server, users, f"http://127.0.0.1:{port}", subscriptions)
                subscribed_s = time.perf_counter() - started
                cpu_before = _cpu_s(server.process.pid if server.process else 0)
                result = measure(server, users, service, subscriptions, alerts)
                cpu = _cpu_s(server.process.pid if server.process else 0) - cpu_before
                result["hub_cpu_ms_per_alert"] = round(cpu * 1000 / (alerts + 3), 1)
            finally:
                server.stop()
    finally:
        service_process.terminate()
        service_process.wait(timeout=10)
    return {
        **result,
        "settings": {
            "subscriptions": subscriptions,
            "alerts": alerts,
            "warm_up_alerts": 3,
            "mode": "embedded",
        },
        "subscribe_s": round(subscribed_s, 2),
        "target_p99_ms": TARGET_P99_MS,
        "machine": machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()},
    }


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    latency, last = result["latency"], result["last_push_of_each_alert"]
    n = result["settings"]["subscriptions"]
    return [
        (
            "push_p50_ms",
            latency["p50_ms"],
            f"alert posted → push request at the endpoint, {n:,} subscriptions",
        ),
        ("push_p99_ms", latency["p99_ms"], f"target < {TARGET_P99_MS}; {latency['count']:,} pushes"),
        ("  last push of an alert p50 / max ms", f"{last['p50_ms']} / {last['max_ms']}", ""),
        ("  alert POST answered p50 ms", result["post_answered"]["p50_ms"], ""),
        ("  hub CPU ms per alert", result.get("hub_cpu_ms_per_alert"), "every push: encryption and request"),
        ("  pushes missing", result["pushes_missing"], ""),
    ]


def main() -> None:
    if "--service" in sys.argv:
        _service()
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--alerts", type=int, default=20)
    args = parser.parse_args()
    result = run(args.subscriptions, args.alerts)
    path = write("push", result)
    print(table(rows(result)))
    m = result["machine"]
    print(f"load {m['loadavg_before'][0]:.1f} before / {m['loadavg_after'][0]:.1f} after; written to {path}")


if __name__ == "__main__":
    main()
