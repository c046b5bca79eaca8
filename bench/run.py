"""`make bench`: run the benchmarks, write bench/results/latest.json, print a table.

`python -m bench.run [--full]`: the quick set takes a few minutes on 2 cores; `--full`
runs larger workloads.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import ingest, replay
from bench.common import machine, table, write

TARGETS = {
    "ingest_events_per_s": 20_000,
    "replay_events_per_s": 100_000,
    "restart_1m_s": 5.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    commands = 100_000 if args.full else 20_000

    print("ingest ...", flush=True)
    ingested = ingest.run(commands=commands)
    print("replay of 1,000,000 events ...", flush=True)
    replayed = replay.run(1_000_000)

    latest: dict[str, Any] = {
        "ingest_events_per_s": ingested["events_per_s"],
        "sqlite_raw_events_per_s": ingested["sqlite_raw"]["events_per_s"],
        "replay_events_per_s": replayed["replay_events_per_s"],
        "restart_1m_s": replayed["restart_s"],
        "machine": machine(),
        "settings": {"full": args.full, "ingest_commands": commands, "seed": ingest.SEED},
        "ingest": ingested,
        "replay": replayed,
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
    print(table(rows))
    print(f"machine: {latest['machine']['cpu']}, {latest['machine']['cores']} cores; written to {path}")


if __name__ == "__main__":
    main()
