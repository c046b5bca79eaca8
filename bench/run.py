"""`make bench`: run the benchmarks, write bench/results/latest.json, print a table.

`python -m bench.run [--full] [--profile] [--skip-live]`: the quick set takes about
13 minutes on 2 cores (ingest, replay, REST writes against a bare FastAPI endpoint, end
to end embedded and in Kafka mode, Kafka mode's capacity, Web Push to 1,000
subscriptions (half a minute, bench/push.py, bench/results/push.json), fan-out to
10,000 sockets through the hub, a bare websockets loop and Centrifugo); `--full` runs
larger workloads, then the 30-minute soak (bench/soak.py, bench/results/soak.json) and
the 10-minute county night embedded and on Kafka (bench/county.py,
bench/results/county.json); `--profile` records a
py-spy profile of the hub during the REST writes and during sustained fan-out
(.cache/bench/).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench import centrifugo, county, e2e, fanout, ingest, kafka_commands, kafka_e2e, push, replay, rest, soak
from bench.common import machine, table, write

TARGETS = {
    "ingest_events_per_s": 20_000,
    "replay_events_per_s": 100_000,
    "restart_1m_s": 5.0,
    "fanout_10k_last_ms": 150,
    "fanout_frames_per_s": 150_000,
    "fanout_p99_ms": 250,
    "e2e_p50_ms": 5,
    "e2e_p99_ms": 20,
    "kafka_e2e_p99_ms": 50,
    "bytes_per_idle_connection": 50 * 1024,
    "rest_writes_per_s": 4_000,
    "rest_ratio": 0.6,
    "push_p99_ms": push.TARGET_P99_MS,
}
REST_KEYS = (
    "rest_writes_per_s",
    "rest_bare_fastapi_per_s",
    "rest_ratio",
    "rest_p50_ms",
    "rest_p99_ms",
    "rest_bare_p50_ms",
    "rest_bare_p99_ms",
    "rest_errors",
)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def live(full: bool, profile: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """End to end, fan-out (hub, bare websockets, Centrifugo): (keys, details)."""
    connections, rate = 10_000, 15  # 150,000 frames/s offered: the target
    seconds, n_trials = (20, 9) if full else (8, 5)
    print("REST writes: the hub and a bare FastAPI endpoint, wrk with 64 connections ...", flush=True)
    try:
        writes = rest.run(seconds=30 if full else 10, rounds=3 if full else 2, profile=profile)
    except Exception as error:  # no wrk, or a server that would not start: keep the rest
        writes = {"error": repr(error)}
    print("end to end, light load ...", flush=True)
    ends = e2e.run(alerts=2_000 if full else 500)
    print("end to end in Kafka mode (a broker, a worker, an API node), light load ...", flush=True)
    kafka_ends = kafka_e2e.run(alerts=2_000 if full else 500)  # {"error": ...} if it cannot run
    kafka_ok = "error" not in kafka_ends
    print("Kafka mode's capacity: commands answered 201 through one worker and two ...", flush=True)
    kafka_capacity = kafka_commands.run(seconds=20 if full else 10)  # {"error": ...} if it cannot run
    print("Web Push: urgent alerts to 1,000 subscriptions on a local push service ...", flush=True)
    try:
        pushed = push.run(alerts=50 if full else 20)
        write("push", pushed)
    except Exception as error:  # the other figures are kept
        pushed = {"error": repr(error)}
    print(f"fan-out through the hub: {connections:,} sockets ...", flush=True)
    hub = fanout.run_hub(connections, rate, seconds, n_trials, processes=2, profile=profile)
    light = hub["below_capacity"]["alerts_per_s"]  # the same for all four
    print("fan-out through the hub, two processes sharing the port ...", flush=True)
    hub2 = fanout.run_hub(
        connections, rate, seconds, n_trials, processes=2, profile=False, light_rate=light, hub_processes=2
    )
    print("fan-out, bare websockets broadcast loop ...", flush=True)
    raw = fanout.run_raw(connections, rate, seconds, n_trials, processes=2, light_rate=light)
    print(f"fan-out, Centrifugo {centrifugo.VERSION} ...", flush=True)
    try:
        cf = centrifugo.run(connections, rate, seconds, n_trials, processes=2, light_rate=light)
    except Exception as error:  # a broken build or start-up must not lose the other figures
        cf = {"version": centrifugo.VERSION, "error": repr(error)}
    cf_ok = "error" not in cf
    keys = {
        "fanout_10k_last_ms": hub["ten_k"]["last_ms_median"],
        "fanout_frames_per_s": hub["sustained"]["frames_per_s"],
        "fanout_p99_ms": hub["sustained"]["latency"]["p99_ms"],
        "fanout_frames_lost": hub["sustained"]["frames_lost"],
        # below capacity: 30% of the frames/s the hub just delivered, offered to all three
        "fanout_light_offered_frames_per_s": hub["below_capacity"]["offered_frames_per_s"],
        "fanout_light_p99_ms": hub["below_capacity"]["latency"]["p99_ms"],
        "fanout_2p_10k_last_ms": hub2["ten_k"]["last_ms_median"],
        "fanout_2p_frames_per_s": hub2["sustained"]["frames_per_s"],
        "fanout_2p_p99_ms": hub2["sustained"]["latency"]["p99_ms"],
        "fanout_2p_light_p99_ms": hub2["below_capacity"]["latency"]["p99_ms"],
        "broadcast_raw_light_p99_ms": raw["below_capacity"]["latency"]["p99_ms"],
        "centrifugo_light_p99_ms": cf["below_capacity"]["latency"]["p99_ms"] if cf_ok else None,
        "broadcast_raw_frames_per_s": raw["sustained"]["frames_per_s"],
        "broadcast_raw_p99_ms": raw["sustained"]["latency"]["p99_ms"],
        "broadcast_raw_10k_last_ms": raw["ten_k"]["last_ms_median"],
        "centrifugo_frames_per_s": cf["sustained"]["frames_per_s"] if cf_ok else None,
        "centrifugo_p99_ms": cf["sustained"]["latency"]["p99_ms"] if cf_ok else None,
        "centrifugo_10k_last_ms": cf["ten_k"]["last_ms_median"] if cf_ok else None,
        "centrifugo_bytes_per_idle_connection": cf["memory"]["bytes_per_connection"] if cf_ok else None,
        "e2e_p50_ms": ends["latency"]["p50_ms"],
        "e2e_p99_ms": ends["latency"]["p99_ms"],
        "kafka_e2e_p50_ms": kafka_ends["latency"]["p50_ms"] if kafka_ok else None,
        "kafka_e2e_p99_ms": kafka_ends["latency"]["p99_ms"] if kafka_ok else None,
        "bytes_per_idle_connection": hub["memory"]["bytes_per_connection"],
        **{key: writes.get(key) for key in REST_KEYS},
        **{key: kafka_capacity.get(key) for key in kafka_commands.KEYS},
        "push_p50_ms": pushed.get("latency", {}).get("p50_ms"),
        "push_p99_ms": pushed.get("latency", {}).get("p99_ms"),
    }
    details = {
        "settings": {
            "connections": connections,
            "alerts_per_s": rate,
            "offered_frames_per_s": connections * rate,
            "seconds": seconds,
            "trials": n_trials,
            "client": "bench/wsclient (Go, epoll), 2 processes, GOMAXPROCS=1 each",
            "seed": fanout.SEED,
        },
        "rest": writes,
        "e2e": ends,
        "kafka_e2e": kafka_ends,
        "kafka_commands": kafka_capacity,
        "push": pushed,
        "hub": hub,
        "hub_two_processes": hub2,
        "raw": raw,
        "centrifugo": cf,
    }
    return keys, details


def _rest_rows(k: dict[str, Any], d: dict[str, Any]) -> list[tuple[str, Any, str]]:
    if k["rest_writes_per_s"] is None:
        return [("rest_writes_per_s", None, d["rest"].get("error", "")[:200])]
    rows = rest.rows(d["rest"])
    if "error" in d["rest"]:
        rows.append(("  rest error", "", d["rest"]["error"][:200]))
    return rows


def _live_rows(k: dict[str, Any], d: dict[str, Any]) -> list[tuple[str, Any, str]]:
    hub, raw = d["hub"]["sustained"], d["raw"]["sustained"]
    cf = d["centrifugo"].get("sustained")
    cpu = hub["cpu"]
    trials, offered = d["settings"]["trials"], d["settings"]["offered_frames_per_s"]
    hub_fps = k["fanout_frames_per_s"]
    health = f"lost {hub['frames_lost']}, out of order {hub['out_of_order']}, closed {hub['closes']}"
    return [
        *_rest_rows(k, d),
        ("fanout_10k_last_ms", k["fanout_10k_last_ms"], f"target ≤ 150 (median of {trials})"),
        (
            "  raw / centrifugo 10k last ms",
            f"{k['broadcast_raw_10k_last_ms']} / {k['centrifugo_10k_last_ms']}",
            f"hub / raw = {_ratio(k['fanout_10k_last_ms'], k['broadcast_raw_10k_last_ms'])}, "
            f"hub / centrifugo = {_ratio(k['fanout_10k_last_ms'], k['centrifugo_10k_last_ms'])}",
        ),
        ("fanout_frames_per_s", hub_fps, f"target ≥ 150,000 ({offered:,} offered)"),
        ("fanout_p99_ms", k["fanout_p99_ms"], f"target < 250; {health}"),
        (
            "fanout_2p: 10k last ms / frames/s / p99 ms",
            f"{k['fanout_2p_10k_last_ms']} / {k['fanout_2p_frames_per_s']:,} / {k['fanout_2p_p99_ms']}",
            f"hub serve --processes 2; light p99 {k['fanout_2p_light_p99_ms']}",
        ),
        (
            "broadcast_raw_frames_per_s",
            k["broadcast_raw_frames_per_s"],
            f"the library's limit; hub / raw = {_ratio(hub_fps, k['broadcast_raw_frames_per_s'])}",
        ),
        ("broadcast_raw_p99_ms", k["broadcast_raw_p99_ms"], f"lost {raw['frames_lost']}"),
        (
            "centrifugo_frames_per_s",
            k["centrifugo_frames_per_s"],
            f"hub / centrifugo = {_ratio(hub_fps, k['centrifugo_frames_per_s'])}"
            if cf
            else d["centrifugo"].get("error", ""),
        ),
        ("centrifugo_p99_ms", k["centrifugo_p99_ms"], f"lost {cf['frames_lost']}" if cf else ""),
        (
            "fanout_light_p99_ms",
            k["fanout_light_p99_ms"],
            f"at {k['fanout_light_offered_frames_per_s']:,} frames/s offered (30% of the hub's capacity); "
            f"raw {k['broadcast_raw_light_p99_ms']}, Centrifugo {k['centrifugo_light_p99_ms']}",
        ),
        ("e2e_p50_ms", k["e2e_p50_ms"], "target < 5"),
        ("e2e_p99_ms", k["e2e_p99_ms"], "target < 20"),
        ("kafka_e2e_p50_ms", k["kafka_e2e_p50_ms"], "Kafka mode: one worker, one API node"),
        (
            "kafka_e2e_p99_ms",
            k["kafka_e2e_p99_ms"],
            "target < 50"
            if k["kafka_e2e_p99_ms"] is not None
            else d["kafka_e2e"]["error"].partition("\n")[0][:200],
        ),
        *kafka_commands.rows(d["kafka_commands"]),
        *(
            push.rows(d["push"])
            if "error" not in d["push"]
            else [("push_p99_ms", None, d["push"]["error"][:200])]
        ),
        (
            "bytes_per_idle_connection",
            k["bytes_per_idle_connection"],
            f"target ≤ 51,200; Centrifugo {k['centrifugo_bytes_per_idle_connection']}",
        ),
        (
            "  cpu s: server / clients / others",
            f"{cpu['server_cpu_s']} / {cpu['clients_cpu_s']} / {cpu['other_cpu_s']}",
            f"during the hub's sustained phase, {cpu['wall_s']} s",
        ),
    ]


SOAK_MINUTES = 30


def soaked() -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    """`make bench-full` only: the soak (bench/soak.py), its keys and its table rows."""
    print(f"soak: {SOAK_MINUTES} minutes, {soak.DEVICES:,} devices, mixed load ...", flush=True)
    try:
        result = soak.run(SOAK_MINUTES)
    except Exception as error:  # the figures taken so far are kept
        return {"soak_error": repr(error)}, [("soak", None, repr(error)[:200])]
    path = write("soak", result)
    v, sent = result["verdict"], result["delivery"]
    keys = {
        "soak_ok": v["ok"],
        "soak_rss_change_pct": (v["rss_bytes"] or {}).get("change_pct"),
        "soak_open_files_change_pct": (v["open_files"] or {}).get("change_pct"),
        "soak_frames_lost": sent["frames_lost"],
        "soak_frames_duplicated": sent["frames_duplicated_or_reordered"],
        "soak_e2e_p99_ms": result["latency"]["p99_ms"],
        "soak_results": str(path.relative_to(path.parent.parent.parent)),
    }
    return keys, soak.rows(result)


def countied() -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    """`make bench-full` only: DESIGN.md's county night (bench/county.py), embedded and on
    Kafka, 10 minutes each; its keys and its table rows."""
    results: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    rows: list[tuple[str, Any, str]] = []
    for mode in ("embedded", "kafka"):
        print(f"county night, {mode}: {county.MINUTES} minutes, {county.DEVICES:,} devices ...", flush=True)
        results[mode] = county.run(mode)  # {"error": ...} if it cannot run: the other is kept
        keys |= county.keys(mode, results[mode])
        rows += county.rows(mode, results[mode])
    path = write("county", results)
    return keys | {"county_results": str(path.relative_to(path.parent.parent.parent))}, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the hub during REST writes and sustained fan-out"
    )
    parser.add_argument("--skip-live", action="store_true", help="only ingest and replay")
    args = parser.parse_args()
    load_before = os.getloadavg()
    commands = 100_000 if args.full else 20_000

    print("ingest ...", flush=True)
    ingested = ingest.run(commands=commands)
    print("replay of 1,000,000 events ...", flush=True)
    replayed = replay.run(1_000_000)
    live_keys: dict[str, Any] = {}
    live_details: dict[str, Any] = {}
    if not args.skip_live:
        live_keys, live_details = live(args.full, args.profile)
    soak_keys, soak_rows = soaked() if args.full and not args.skip_live else ({}, [])
    county_keys, county_rows = countied() if args.full and not args.skip_live else ({}, [])

    latest: dict[str, Any] = {
        "ingest_events_per_s": ingested["events_per_s"],
        "sqlite_raw_events_per_s": ingested["sqlite_raw"]["events_per_s"],
        "replay_events_per_s": replayed["replay_events_per_s"],
        "restart_1m_s": replayed["restart_s"],
        **live_keys,
        **soak_keys,
        **county_keys,
        # Other people's work on this shared machine, before and after: read the figures with it.
        "machine": machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "settings": {"full": args.full, "ingest_commands": commands, "seed": ingest.SEED},
        "ingest": ingested,
        "replay": replayed,
        "live": live_details,
    }
    path = write("latest", latest)
    rows = [
        (
            "ingest_events_per_s",
            latest["ingest_events_per_s"],
            f"target ≥ {TARGETS['ingest_events_per_s']:,}",
        ),
        (
            "sqlite_raw_events_per_s",
            latest["sqlite_raw_events_per_s"],
            "the limit: same bytes straight into SQLite",
        ),
        ("ingest / raw", f"{latest['ingest_events_per_s'] / latest['sqlite_raw_events_per_s']:.2f}", ""),
        (
            "command p50 / p99 ms",
            f"{ingested['command_latency']['p50_ms']} / {ingested['command_latency']['p99_ms']}",
            f"{ingested['clients']} clients",
        ),
        (
            "replay_events_per_s",
            latest["replay_events_per_s"],
            f"target ≥ {TARGETS['replay_events_per_s']:,}",
        ),
        ("restart_1m_s", latest["restart_1m_s"], f"target < {TARGETS['restart_1m_s']} s"),
    ]
    if live_keys:
        rows += _live_rows(live_keys, live_details)
    rows += soak_rows + county_rows
    print(table(rows))
    print(
        f"machine: {latest['machine']['cpu']}, {latest['machine']['cores']} cores, "
        f"load {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after; written to {path}"
    )


if __name__ == "__main__":
    main()
