"""Crypto-shredding: each subject's personal data is sealed with that subject's own key.

Keys live outside the log (a separate SQLite file here, a compacted topic in Kafka mode).
Destroying a key erases the subject everywhere at once: the sealed bytes stay in the log,
so its hash chain still verifies, but nothing can open them again.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.domain import Rejected

NONCE_BYTES = 12


class KeyStore:
    """Subject keys in their own SQLite file; a destroyed key is overwritten on disk."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Several `hub serve` processes may share the file (hub/log/relay.py).
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, key BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS destroyed (id TEXT PRIMARY KEY)")
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = dict(self._db.execute("SELECT id, key FROM keys"))
        self._destroyed = {row[0] for row in self._db.execute("SELECT id FROM destroyed")}
        # Kafka mode shares keys through the compacted `hub.keys` topic.
        self.on_created: Callable[[str, bytes], None] | None = None
        self.on_destroyed: Callable[[str], None] | None = None

    def get(self, key_id: str) -> bytes | None:
        key = self._cache.get(key_id)
        if key is None and key_id not in self._destroyed:
            with self._lock:  # made by another process on this file since we loaded
                row = self._db.execute("SELECT key FROM keys WHERE id = ?", (key_id,)).fetchone()
                if row is not None:
                    key = self._cache[key_id] = row[0]
        return key

    def get_or_create(self, key_id: str) -> bytes:
        with self._lock:
            key = self._cache.get(key_id)
            created = False
            if key is None and key_id in self._destroyed:
                # an erased subject stays erased: nothing new is sealed for them
                raise Rejected(f"subject {key_id} has been erased")
            if key is None:
                key, created = self._find_or_make(key_id)
                self._cache[key_id] = key
        if created and self.on_created is not None:
            self.on_created(key_id, key)
        return key

    def _find_or_make(self, key_id: str) -> tuple[bytes, bool]:
        """The stored key, or a new one; in one write transaction, as another process may
        be making or destroying the same key."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT key FROM keys WHERE id = ?", (key_id,)).fetchone()
            if row is not None:
                return bytes(row[0]), False
            if self._db.execute("SELECT 1 FROM destroyed WHERE id = ?", (key_id,)).fetchone():
                self._destroyed.add(key_id)
                raise Rejected(f"subject {key_id} has been erased")
            key = AESGCM.generate_key(bit_length=256)
            self._db.execute("INSERT INTO keys VALUES (?, ?)", (key_id, key))
            return key, True
        finally:
            self._db.execute("COMMIT")

    def destroy(self, key_id: str) -> None:
        self.forget(key_id)
        if self.on_destroyed is not None:
            self.on_destroyed(key_id)

    def put(self, key_id: str, key: bytes) -> None:
        """Store a key made by another node (Kafka mode)."""
        with self._lock:
            if key_id in self._destroyed:
                return
            self._db.execute("INSERT OR REPLACE INTO keys VALUES (?, ?)", (key_id, key))
            self._cache[key_id] = key

    def forget(self, key_id: str) -> None:
        """Drop a key another node destroyed, without telling anyone else."""
        with self._lock:
            self._db.execute("DELETE FROM keys WHERE id = ?", (key_id,))
            self._db.execute("INSERT OR IGNORE INTO destroyed VALUES (?)", (key_id,))
            self._cache.pop(key_id, None)
            self._destroyed.add(key_id)

    def close(self) -> None:
        self._db.close()


class Cipher:
    """Seals and opens personal data and photos with per-subject keys."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def encrypt(self, key_id: str, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        key = self.keys.get_or_create(key_id)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())

    def decrypt(self, key_id: str, sealed: bytes, context: str) -> bytes | None:
        """The plaintext, or None when the key has been destroyed (the subject is erased)."""
        key = self.keys.get(key_id)
        if key is None or len(sealed) < NONCE_BYTES + 16:
            return None
        try:
            return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except InvalidTag:
            return None

    def seal(self, key_id: str, personal: dict[str, Any]) -> dict[str, str]:
        sealed = self.encrypt(key_id, orjson.dumps(personal), key_id)
        return {"key": key_id, "ct": base64.b64encode(sealed).decode()}

    def open(self, sealed: dict[str, str]) -> dict[str, Any] | None:
        plaintext = self.decrypt(sealed["key"], base64.b64decode(sealed["ct"]), sealed["key"])
        return None if plaintext is None else orjson.loads(plaintext)

    def destroy(self, key_id: str) -> None:
        self.keys.destroy(key_id)
