"""A/B: ingest and replay of two commits, in one run, alternating.

`python -m bench.compare BASE [HEAD] [-n 3] [--replay-events N] [--keep]`

Each commit gets a detached git worktree in a temp dir (`git worktree add --detach`), and
its OWN bench/ingest.py and bench/replay.py run there: `python -m bench.ingest` and
`python -m bench.replay` with the worktree as the working directory and first on
PYTHONPATH, by this environment's interpreter (the venv). The venv has the project
installed editable from /work/main, so before anything runs each worktree is checked:
`import hub`, `import bench` must resolve inside it, or the comparison stops.

Rounds alternate the order (base, head / head, base ...), ingest of both, then replay of
both, so a spell of other people's load on this shared machine falls on both sides
alike. Figures: the median (and the range) over `n` runs of ingest events/s and replay
events/s per commit, and head / base. Every run's own output (the JSON each script
prints) is kept in bench/results/compare.json beside the machine and the load. The
worktrees are removed at the end, on error too (`--keep` leaves them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import machine, table, write

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = {"ingest": 900, "replay": 1800}
FIGURE = {"ingest": "events_per_s", "replay": "replay_events_per_s"}


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def worktrees(commits: list[str], keep: bool = False) -> Iterator[list[Path]]:
    """A detached worktree of each commit under one temp dir; removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    made: list[Path] = []
    try:
        for n, commit in enumerate(commits):
            path = parent / f"{n}-{commit[:10]}"
            git("worktree", "add", "--detach", str(path), commit)
            made.append(path)
        yield made
    finally:
        if keep:
            print(f"worktrees kept: {', '.join(map(str, made))}", flush=True)
        else:
            for path in made:
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    git("worktree", "remove", "--force", str(path))
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                git("worktree", "prune")
            with contextlib.suppress(OSError):
                parent.rmdir()


def environment(tree: Path) -> dict[str, str]:
    """The worktree first on PYTHONPATH, ahead of the editable install of /work/main."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def check_imports(tree: Path) -> dict[str, str]:
    """Where `hub` and `bench` come from when run in `tree`: both must be inside it."""
    probe = "import json, hub, bench; print(json.dumps({'hub': hub.__file__, 'bench': bench.__file__}))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: cannot import hub and bench: {done.stderr[-2000:]}")
    found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, file in found.items():
        if not Path(file).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"{tree}: `import {name}` resolves to {file}, not the worktree's copy")
    for script in ("ingest", "replay"):
        if not (tree / "bench" / f"{script}.py").exists():
            raise RuntimeError(f"{tree}: this commit has no bench/{script}.py")
    return found


def last_json(text: str) -> dict[str, Any]:
    """The JSON object a bench script printed (indented, after any progress lines)."""
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch == "{" and (i == 0 or text[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(f"no JSON object in the output: {text[-1000:]}")


def run_one(tree: Path, script: str, args: list[str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", *args],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S[script],
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{tree.name}: bench.{script} exited {done.returncode}: {done.stderr[-3000:]}")
    result = last_json(done.stdout)
    return {
        "figure": result[FIGURE[script]],
        "wall_s": round(wall, 1),
        "loadavg_before": round(load, 2),  # other people's work on this shared machine
        "output": result,
    }


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values)),
        "min": round(min(values)),
        "max": round(max(values)),
        "runs": [round(v) for v in values],
    }


def compare(base: str, head: str, n: int, replay_events: int | None, keep: bool) -> dict[str, Any]:
    shas = [git("rev-parse", "--verify", f"{c}^{{commit}}") for c in (base, head)]
    names = ["base", "head"]
    subjects = [git("log", "-1", "--format=%h %s", sha) for sha in shas]
    replay_args = [str(replay_events)] if replay_events else []
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {"ingest": [], "replay": []} for name in names}
    started = time.perf_counter()
    load_before = os.getloadavg()
    with worktrees(shas, keep) as trees:
        imports = {name: check_imports(tree) for name, tree in zip(names, trees, strict=True)}
        for k in range(n):
            order = [0, 1] if k % 2 == 0 else [1, 0]
            for script, args in (("ingest", []), ("replay", replay_args)):
                for i in order:
                    print(f"round {k + 1}/{n}: {names[i]} ({shas[i][:10]}) bench.{script} ...", flush=True)
                    one = run_one(trees[i], script, args)
                    runs[names[i]][script].append(one)
                    took = f"{one['wall_s']} s, load {one['loadavg_before']}"
                    print(f"  {FIGURE[script]} {one['figure']:,} ({took})", flush=True)
    elapsed = time.perf_counter() - started
    figures = {
        name: {script: spread([r["figure"] for r in runs[name][script]]) for script in ("ingest", "replay")}
        for name in names
    }
    ratios = {
        script: round(figures["head"][script]["median"] / max(1, figures["base"][script]["median"]), 3)
        for script in ("ingest", "replay")
    }
    return {
        "base": {"ref": base, "commit": shas[0], "subject": subjects[0]},
        "head": {"ref": head, "commit": shas[1], "subject": subjects[1]},
        "n": n,
        "replay_events": replay_events,
        "ingest_events_per_s": {name: figures[name]["ingest"] for name in names},
        "replay_events_per_s": {name: figures[name]["replay"] for name in names},
        "head_over_base": ratios,
        "elapsed_s": round(elapsed, 1),
        "imports": imports,
        "machine": machine() | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="the commit to compare against (any git revision)")
    parser.add_argument("head", nargs="?", default="HEAD", help="the commit to measure (default HEAD)")
    parser.add_argument("-n", type=int, default=3, help="runs of each script per commit (default 3)")
    parser.add_argument(
        "--replay-events",
        type=int,
        help="passed to bench.replay as its one argument (default: the script's own, 1,000,000)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the worktrees in place")
    args = parser.parse_args()
    result = compare(args.base, args.head, args.n, args.replay_events, args.keep)
    path = write("compare", result)
    b, h = result["base"], result["head"]
    rows: list[tuple[str, Any, str]] = []
    for key, script in (("ingest_events_per_s", "ingest"), ("replay_events_per_s", "replay")):
        for name, info in (("base", b), ("head", h)):
            f = result[key][name]
            rows.append(
                (f"{key} {name}", f["median"], f"{info['commit'][:10]}; range {f['min']:,}-{f['max']:,}")
            )
        rows.append((f"  head / base {script}", result["head_over_base"][script], f"medians of {args.n}"))
    print(table(rows))
    print(f"base {b['subject']}\nhead {h['subject']}")
    load = result["machine"]["loadavg_before"][0], result["machine"]["loadavg_after"][0]
    print(f"{result['elapsed_s']} s; load {load[0]:.1f} before / {load[1]:.1f} after; written to {path}")


if __name__ == "__main__":
    main()
