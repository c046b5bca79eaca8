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
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyStore:
    """Subject keys in their own SQLite file; a destroyed key is overwritten on disk."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, key BLOB NOT NULL)")
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = dict(self._db.execute("SELECT id, key FROM keys"))

    def get(self, key_id: str) -> bytes | None:
        return self._cache.get(key_id)

    def get_or_create(self, key_id: str) -> bytes:
        with self._lock:
            key = self._cache.get(key_id)
            if key is None:
                key = AESGCM.generate_key(bit_length=256)
                self._db.execute("INSERT INTO keys VALUES (?, ?)", (key_id, key))
                self._cache[key_id] = key
            return key

    def destroy(self, key_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM keys WHERE id = ?", (key_id,))
            self._cache.pop(key_id, None)

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
        if key is None:
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
