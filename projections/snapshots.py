"""Snapshots: every partnership's view saved with its cursor, so start-up folds only the tail."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from projections.views import PartnershipView

FORMAT = 1


def save(path: Path, views: dict[str, PartnershipView]) -> None:
    """Write atomically: a crash leaves the old snapshot or the new one, never half of one."""
    body = orjson.dumps(
        {"format": FORMAT, "views": {p: v.to_dict() for p, v in views.items()}},
        option=orjson.OPT_NON_STR_KEYS,
    )
    write(path, body)


def write(path: Path, body: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict[str, PartnershipView]:
    """The saved views, or none if there is no usable snapshot (then replay from the start)."""
    try:
        saved = orjson.loads(path.read_bytes())
        if saved.get("format") != FORMAT:
            return {}
        return {p: PartnershipView.from_dict(v) for p, v in saved["views"].items()}
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return {}
