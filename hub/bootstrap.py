"""The one place that builds a running hub from settings, for every entrypoint."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from hub.cipher import Cipher, KeyStore
from hub.clock import Clock, SystemClock
from hub.photos import PhotoStore
from hub.service import Hub
from hub.sqlite_log import SqliteLog


def data_dir(path: str | Path | None = None) -> Path:
    folder = Path(path or os.environ.get("HUB_DATA") or "data")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build(folder: Path, clock: Clock | None = None, run_processors: bool = True) -> Hub:
    """An embedded hub on the data folder: log.db, keys.db, photos/, snapshot.json."""
    cipher = Cipher(KeyStore(folder / "keys.db"))
    return Hub(
        SqliteLog(folder / "log.db"),
        cipher,
        PhotoStore(folder / "photos", cipher),
        clock or SystemClock(),
        snapshot_path=folder / "snapshot.json",
        run_processors=run_processors,
    )


def attach(hub: Hub, loop: asyncio.AbstractEventLoop) -> None:
    """Deliver each commit to the hub on its event loop, in order, before answering."""
    hub.log.on_commit = lambda events: loop.call_soon_threadsafe(hub.publish_many, events)  # type: ignore[attr-defined]


def secret(folder: Path) -> str:
    """The token-signing secret: HUB_SECRET, or one made on first start and kept."""
    if os.environ.get("HUB_SECRET"):
        return os.environ["HUB_SECRET"]
    path = folder / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
