"""Crypto-shredding: each subject's personal data is sealed with that subject's own key.

Keys live outside the log (a separate SQLite file here, a compacted topic in Kafka mode).
Destroying a key erases the subject everywhere at once: the sealed bytes stay in the log,
so its hash chain still verifies, but nothing can open them again.

A key belongs to one owner (a subject, or a member's secrets) and has an id of its own,
`<owner>#<random>`, which sealed data names. An owner may have several keys: Kafka-mode
nodes each keep their own keys.db, and two nodes that seal for a new subject at once
(two tries of one request, in flight on two nodes) each make one. Neither replaces the
other: a key id is made once, so whatever either sealed opens on every node once it has
heard both, and erasure destroys every key of the owner. Keys made before key ids had a
suffix are named by their owner's id alone, and still open what they sealed.
"""

from __future__ import annotations

import base64
import os
import secrets
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
# Between an owner's id and a key's own part; no owner's id holds it (schemas/bodies.py).
SEPARATOR = "#"


def owner_of(key_id: str) -> str:
    """Whose key this is: the subject's (or member's) id; an old key's id is that alone."""
    return key_id.partition(SEPARATOR)[0]


class KeyStore:
    """Keys in their own SQLite file; a destroyed key is overwritten on disk.

    Table `keys`: `key_id`, `id` (the owner's id) and `key`; `destroyed`: the owners erased.
    """

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Several `hub serve` processes may share the file (hub/log/relay.py).
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._create_tables()
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, bytes]] = {}
        for key_id, owner, key in self._db.execute("SELECT key_id, id, key FROM keys"):
            self._cache.setdefault(owner, {})[key_id] = key
        self._destroyed = {row[0] for row in self._db.execute("SELECT id FROM destroyed")}
        # Kafka mode shares keys through the compacted `hub.keys` topic: each key made
        # here is published, and each key destroyed here gets a tombstone.
        self.on_created: Callable[[str, bytes], None] | None = None
        self.on_destroyed_key: Callable[[str], None] | None = None
        # Each owner erased here (the erasure ledger records it, hub/privacy/erasures.py).
        self.on_destroyed: Callable[[str], None] | None = None

    def _create_tables(self) -> None:
        """The tables, in one write transaction: a keys.db of an older hub, one key per
        owner named by the owner's id (`keys(id, key)`), has its keys moved to the new
        table, each keeping that id as its key id."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(keys)")}
            if columns and "key_id" not in columns:
                self._db.execute("ALTER TABLE keys RENAME TO old_keys")
            layout = "key_id TEXT PRIMARY KEY, id TEXT NOT NULL, key BLOB NOT NULL"
            self._db.execute(f"CREATE TABLE IF NOT EXISTS keys ({layout})")
            if columns and "key_id" not in columns:
                self._db.execute("INSERT INTO keys SELECT id, id, key FROM old_keys")
                self._db.execute("DROP TABLE old_keys")
            self._db.execute("CREATE INDEX IF NOT EXISTS keys_of_owner ON keys (id)")
            self._db.execute("CREATE TABLE IF NOT EXISTS destroyed (id TEXT PRIMARY KEY)")
        finally:
            self._db.execute("COMMIT")

    def keys_for(self, key_id: str) -> list[bytes]:
        """The key with this id; for an owner's id, every key of theirs (none once erased)."""
        owner = owner_of(key_id)
        found = dict(self._cache.get(owner, {}))  # a copy: another thread may add a key
        missing = key_id not in found if key_id != owner else not found
        if missing and owner not in self._destroyed:
            with self._lock:  # made by another process on this file since we loaded
                rows = self._db.execute("SELECT key_id, key FROM keys WHERE id = ?", (owner,)).fetchall()
                if rows:
                    self._cache.setdefault(owner, {}).update((row_id, bytes(key)) for row_id, key in rows)
                found = dict(self._cache.get(owner, {}))
        if key_id != owner:
            return [found[key_id]] if key_id in found else []
        return [found[row_id] for row_id in sorted(found)]

    def get(self, key_id: str) -> bytes | None:
        """The key with this id; for an owner's id, one of theirs; None once they are erased."""
        found = self.keys_for(key_id)
        return found[0] if found else None

    def get_or_create(self, owner: str) -> tuple[str, bytes]:
        """A key of `owner` to seal with, and its id: theirs if this node has one, else a
        new one (published by `on_created`). Rejected once they are erased."""
        with self._lock:
            found = self._cache.get(owner)
            created = False
            if not found and owner in self._destroyed:
                # an erased subject stays erased: nothing new is sealed for them
                raise Rejected(f"subject {owner} has been erased")
            if not found:
                found, created = self._find_or_make(owner)
                self._cache[owner] = found
            key_id = min(found)  # the same one on every node that has them all
            key = found[key_id]
        if created and self.on_created is not None:
            self.on_created(key_id, key)
        return key_id, key

    def _find_or_make(self, owner: str) -> tuple[dict[str, bytes], bool]:
        """The owner's stored keys, or a new one; in one write transaction, as another
        process may be making or destroying one."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = self._db.execute("SELECT key_id, key FROM keys WHERE id = ?", (owner,)).fetchall()
            if rows:
                return {key_id: bytes(key) for key_id, key in rows}, False
            if self._db.execute("SELECT 1 FROM destroyed WHERE id = ?", (owner,)).fetchone():
                self._destroyed.add(owner)
                raise Rejected(f"subject {owner} has been erased")
            key_id = f"{owner}{SEPARATOR}{secrets.token_hex(16)}"
            key = AESGCM.generate_key(bit_length=256)
            self._db.execute("INSERT INTO keys VALUES (?, ?, ?)", (key_id, owner, key))
            return {key_id: key}, True
        finally:
            self._db.execute("COMMIT")

    def destroy(self, owner: str) -> None:
        """Erase `owner`: every key of theirs is destroyed, and stays so."""
        for key_id in self._drop(owner):
            if self.on_destroyed_key is not None:
                self.on_destroyed_key(key_id)
        if self.on_destroyed is not None:
            self.on_destroyed(owner)

    def put(self, key_id: str, key: bytes) -> bool:
        """Store a key made by another node (Kafka mode); False, and nothing stored, when
        its owner is erased. A key id is made once: a key already held is kept."""
        owner = owner_of(key_id)
        with self._lock:
            if owner in self._destroyed:
                return False
            self._db.execute("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", (key_id, owner, key))
            self._cache.setdefault(owner, {}).setdefault(key_id, key)
            return True

    def forget(self, key_id: str) -> None:
        """Erase the owner of a key another node destroyed, without telling anyone else."""
        self._drop(owner_of(key_id))

    def _drop(self, owner: str) -> list[str]:
        """Delete every key of `owner` and remember them erased; the key ids deleted."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute("SELECT key_id FROM keys WHERE id = ?", (owner,)).fetchall()
                self._db.execute("DELETE FROM keys WHERE id = ?", (owner,))
                self._db.execute("INSERT OR IGNORE INTO destroyed VALUES (?)", (owner,))
            finally:
                self._db.execute("COMMIT")
            dropped = {row[0] for row in rows} | set(self._cache.pop(owner, {}))
            self._destroyed.add(owner)
        return sorted(dropped)

    def close(self) -> None:
        self._db.close()


class Cipher:
    """Seals and opens personal data and photos with per-subject keys."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def encrypt(self, owner: str, plaintext: bytes, context: str) -> bytes:
        """Sealed with a key of `owner`'s; `decrypt` with their id tries each of theirs."""
        return self._encrypt(self.keys.get_or_create(owner)[1], plaintext, context)

    @staticmethod
    def _encrypt(key: bytes, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())

    def decrypt(self, key_id: str, sealed: bytes, context: str) -> bytes | None:
        """The plaintext, or None when no key opens it (the subject is erased). `key_id`
        names a key, or an owner, whose every key is tried."""
        if len(sealed) < NONCE_BYTES + 16:
            return None
        for key in self.keys.keys_for(key_id):
            try:
                return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
            except InvalidTag:
                continue
        return None

    def seal(self, owner: str, personal: dict[str, Any]) -> dict[str, str]:
        """`personal` sealed with a key of `owner`'s, which it names."""
        key_id, key = self.keys.get_or_create(owner)
        sealed = self._encrypt(key, orjson.dumps(personal), key_id)
        return {"key": key_id, "ct": base64.b64encode(sealed).decode()}

    def open(self, sealed: dict[str, str]) -> dict[str, Any] | None:
        plaintext = self.decrypt(sealed["key"], base64.b64decode(sealed["ct"]), sealed["key"])
        return None if plaintext is None else orjson.loads(plaintext)

    def destroy(self, owner: str) -> None:
        self.keys.destroy(owner)
