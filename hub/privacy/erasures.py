"""The erasure ledger: an append-only file with one line for each subject key destroyed.

Erasure destroys a key (hub/privacy/cipher.py); keys.db remembers it in its `destroyed`
table, but keys.db lives in the data folder, and an old backup of it still holds the key.
The hub also writes each destroyed key here, `{"key": id, "at": time}` a line, fsynced
before the erasure's photos are deleted. `hub restore` destroys again every key this file
names (hub/backup.py), so a restored backup never brings an erased subject back. Kept
outside the data folder (HUB_ERASURES), it outlives the loss of that folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from hub.clock import Clock, SystemClock
from hub.domain import iso

log = logging.getLogger("hub.privacy.erasures")


class ErasureLedger:
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or SystemClock()

    def record(self, key_id: str) -> None:
        """Append one destroyed key. Never raises: the key is destroyed already, and the
        view must still apply the erasure; a ledger that cannot be written is logged."""
        line = orjson.dumps({"key": key_id, "at": iso(self.clock.now())}) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError:
            log.exception("erasure of key %s not written to the erasure ledger %s", key_id, self.path)

    def keys(self) -> set[str]:
        """Every key the ledger names; none if there is no ledger. A line cut short (the
        hub stopped while writing it) is passed over: keys.db has that key destroyed too."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return set()
        found = set()
        for line in lines:
            try:
                found.add(str(orjson.loads(line)["key"]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
        return found
