"""End to end, embedded: an alert posted over REST → its frame at a subscriber, light load.

A real `hub serve` (SQLite log, fsync on commit), `subscribers` live sockets held by the
Go client, and one CCTV operator posting urgent alerts one at a time, one every
`interval_ms` (the next waits for the answer to the last): light load. The time counts
from just before the POST is sent to the frame's arrival at each subscriber, and the
POST's own answer time is kept beside it. `measure` is the same for Kafka mode
(bench/kafka_e2e.py), where the post and the sockets may be on different API nodes.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.clients import Fleet, raise_nofile
from bench.common import histogram, percentiles_ms
from bench.fanout import PARTNERSHIP, hellos, hub_server, text


def measure(
    post_to: Any,
    listen_on: Any,
    users: dict[str, str],
    alerts: int,
    subscribers: int,
    interval_ms: float,
) -> dict[str, Any]:
    """Alerts posted to the server `post_to`, frames taken on `listen_on`'s live sockets."""
    raise_nofile()
    poster = post_to.token(users["cctv_operator"])
    headers = {"Authorization": f"Bearer {poster}"}
    with (
        httpx.Client(base_url=post_to.url, headers=headers, timeout=30) as cctv,
        Fleet(listen_on.ws_url, subscribers, hellos(listen_on, users), '"welcome"', processes=1) as fleet,
    ):

        def post(seq: int) -> float:
            started = time.perf_counter()
            answer = cctv.post(
                f"/v1/partnerships/{PARTNERSHIP}/alerts",
                json={"channel": "main", "priority": "urgent", "text": text(seq, time.time_ns())},
            )
            assert answer.status_code == 201, answer.text
            return time.perf_counter() - started

        for seq in range(1, 21):  # warm-up, not counted
            post(seq)
        fleet.wait(20, 5_000)
        fleet.reset()
        answers = histogram()
        first = 100
        deadline = time.monotonic() + alerts * interval_ms / 1000 + 60
        next_at = time.perf_counter()
        for seq in range(first, first + alerts):
            if time.monotonic() > deadline:
                break
            answers.record_value(max(1, int(post(seq) * 1e6)))
            next_at += interval_ms / 1000
            time.sleep(max(0.0, next_at - time.perf_counter()))
        fleet.wait(first + alerts - 1, 5_000)
        report = fleet.report()
    delivered = sum(s["count"] for q, s in report["seqs"].items() if q >= first)
    return {
        "alerts": alerts,
        "subscribers": subscribers,
        "interval_ms": interval_ms,
        "frames_expected": alerts * subscribers,
        "frames_delivered": delivered,
        "latency": percentiles_ms(report["hist"]),
        "post_answer": percentiles_ms(answers),
    }


def run(alerts: int = 500, subscribers: int = 10, interval_ms: float = 20) -> dict[str, Any]:
    with hub_server() as (server, users):
        return measure(server, server, users, alerts, subscribers, interval_ms)


if __name__ == "__main__":
    import sys

    import orjson

    sys.stdout.write(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode() + "\n")
