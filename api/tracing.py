"""Opt-in memory tracing, to find what grows in a long-running hub (off by default).

`HUB_TRACEMALLOC=path` starts tracemalloc (`HUB_TRACEMALLOC_FRAMES` frames a trace, 6)
when the API starts, and every `HUB_TRACEMALLOC_SECONDS` (60) writes the snapshot beside
`path` (`path.<seconds>.snap`, tracemalloc's own format) and appends a line to `path`:
seconds since start, traced bytes, the GC's counts, how long the dump took. With
`HUB_TRACEMALLOC_GC=1` a full collection runs first, so what is left is reachable
(without it, cyclic garbage waiting for a collection shows too). The snapshot is only
written here; grouping its traces is slow, so that is done afterwards, elsewhere:

`python -m api.tracing path` prints the allocation sites (grouped by traceback) that grew
most from the second snapshot to the last, in bytes a minute.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

import orjson


def enabled() -> Path | None:
    path = os.environ.get("HUB_TRACEMALLOC", "").strip()
    return Path(path) if path else None


def dump(path: Path, started: float, collect: bool) -> None:
    """The snapshot now, and a line about it."""
    began = time.monotonic()
    collected = gc.collect() if collect else None
    t_s = round(began - started)
    tracemalloc.take_snapshot().dump(f"{path}.{t_s:06d}.snap")
    line = {
        "t_s": t_s,
        "traced": tracemalloc.get_traced_memory()[0],
        "gc_counts": gc.get_count(),
        "gc_collected": collected,
        "took_s": round(time.monotonic() - began, 2),
    }
    with path.open("ab") as out:
        out.write(orjson.dumps(line) + b"\n")


async def trace_memory(path: Path) -> None:
    """Dump every HUB_TRACEMALLOC_SECONDS until cancelled."""
    every = float(os.environ.get("HUB_TRACEMALLOC_SECONDS", "60"))
    collect = os.environ.get("HUB_TRACEMALLOC_GC", "") == "1"
    if not tracemalloc.is_tracing():
        tracemalloc.start(int(os.environ.get("HUB_TRACEMALLOC_FRAMES", "6")))
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        dump(path, started, collect)


def growth(path: Path, top: int = 30) -> list[str]:
    """The sites that grew most between the second snapshot and the last, a line each."""
    snaps = sorted(path.parent.glob(f"{path.name}.*.snap"))
    first, last = snaps[min(1, len(snaps) - 1)], snaps[-1]
    minutes = max(1e-9, (int(last.name.split(".")[-2]) - int(first.name.split(".")[-2])) / 60)
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
    old = tracemalloc.Snapshot.load(str(first)).filter_traces(ignored)
    new = tracemalloc.Snapshot.load(str(last)).filter_traces(ignored)
    lines = [f"{first.name} -> {last.name}, {minutes:.1f} min"]
    for stat in new.compare_to(old, "traceback")[:top]:
        frames = " <- ".join(
            f"{f.filename.split('/site-packages/')[-1]}:{f.lineno}" for f in reversed(stat.traceback)
        )
        lines.append(
            f"{stat.size_diff / minutes / 1024:9.1f} KiB/min {stat.count_diff / minutes:8.0f} blocks/min"
            f" {stat.size / 2**20:7.2f} MiB  {frames}"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(growth(Path(sys.argv[1]))))
