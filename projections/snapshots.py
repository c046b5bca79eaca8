"""Snapshots: every partnership's view saved with its cursor, so start-up folds only the tail."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import orjson

from projections.views import PartnershipView

FORMAT = 3  # 2: views keep recent records only; 3: and each venue its own (projections/views.py)
# A collection of more records than this is encoded this many records a piece.
PIECE_RECORDS = 64


def save(path: Path, views: dict[str, PartnershipView]) -> None:
    """Write atomically: a crash leaves the old snapshot or the new one, never half of one."""
    write(path, pieces(views))


def pieces(views: dict[str, PartnershipView]) -> list[bytes]:
    """The snapshot's JSON in small pieces, PIECE_RECORDS records each for the big
    collections (alerts, incidents, sightings, ...). Joined they are the document `load` reads.

    Encoded in one body, each save made one allocation as large as the whole history and
    the process kept growing by it (bench/soak.py: RSS stepped up at every minute's
    save). The pieces are taken in one go on the caller's thread: call it on the event
    loop, so no event is applied half-way through (the writing can then be done
    elsewhere).
    """
    out = [b'{"format":%d,"views":{' % FORMAT]
    for i, (p, view) in enumerate(views.items()):
        out.append((b"," if i else b"") + orjson.dumps(p) + b":{")
        for j, (name, value) in enumerate(view.to_dict().items()):
            out.append((b"," if j else b"") + orjson.dumps(name) + b":")
            if isinstance(value, dict) and len(value) > PIECE_RECORDS:
                records = iter(value.items())
                out.append(b"{")
                while chunk := dict(itertools.islice(records, PIECE_RECORDS)):
                    out.append(orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS)[1:-1])
                    out.append(b",")
                out[-1] = b"}"
            else:
                out.append(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
        out.append(b"}")
    out.append(b"}}")
    return out


def write(path: Path, body: bytes | list[bytes]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        if isinstance(body, bytes):
            out.write(body)
        else:
            out.writelines(body)
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
