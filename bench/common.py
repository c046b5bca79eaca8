"""Shared by the benchmarks: the machine, HDR histograms, results as JSON and a table."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def histogram() -> HdrHistogram:
    """Microsecond latencies from 1 µs to 60 s, 3 significant figures."""
    return HdrHistogram(1, 60_000_000, 3)


def percentiles_ms(h: HdrHistogram) -> dict[str, float]:
    return {f"p{q:g}_ms": round(h.get_value_at_percentile(q) / 1000, 3) for q in (50, 90, 99, 99.9)} | {
        "max_ms": round(h.get_max_value() / 1000, 3),
        "count": h.get_total_count(),
    }


def write(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return path


def table(rows: list[tuple[str, Any, str]]) -> str:
    """One row a figure; a figure that could not be taken (None) shows as null."""
    width = max(len(r[0]) for r in rows)
    return "\n".join(
        f"{name:<{width}}  {'null' if value is None else value:>14}  {note}" for name, value, note in rows
    )
