"""Backup and restore of an embedded hub's data folder (`hub backup DIR`, `hub restore DIR`).

A backup is a folder that holds:
- log.db, then keys.db, each copied by SQLite's online backup API while the hub serves:
  one consistent moment of each file. The log first: a key is made before anything is
  sealed with it, so every key the copied log needs is in the keys copied after it;
- photos/, copied after the log too (a photo is stored before the command naming it);
- secret.key, when the hub made its own token secret;
- manifest.json, written last: each file's sha256 and size, the log's heads
  ({partnership: {position, hash}}) and when the backup was made.
It is written under a hidden name beside DIR and renamed to DIR at the end, so a backup
that stopped half-way never looks complete. Files are 0600 and folders 0700, as in the
data folder. snapshot.json is left out: a restore folds the restored log and saves its own.

A restore checks everything before it changes anything. It copies the files the manifest
names into a new folder beside the target, and checks the copies: each one's size and
sha256, SQLite's integrity check of both databases, the heads against the manifest and
every partnership's hash chain. Only then is the new folder swapped in: for an empty (or
new) folder, or for a stopped hub's folder, which is kept beside it under a new name. A
folder whose hub is running is refused: a running hub holds SQLite's lock on its log.db.

Erasure must survive a restore. A subject is erased by destroying their key (hub/privacy/
shredder.py), and an older backup still holds that key. So a restore destroys, in the
restored keys.db, every key it finds erased anywhere it can look:
- the backup's own keys.db (its `destroyed` table) and log (a `subject.erased` whose key
  survived is shredded, as the hub does at start-up);
- the folder restored over: its keys.db's `destroyed` table, every key of the backup
  that its keys.db no longer holds, and every `subject.erased` in its log;
- the erasure ledger (hub/privacy/erasures.py): an append-only file in which the hub
  writes each key it destroys, with the time. Kept outside the data folder (HUB_ERASURES)
  it outlives that folder, and so holds the erasures made since the last backup when
  the data folder is lost.
A subject whose key this destroys has their photos deleted from the restored folder too
(found through the restored log's views, as the Shredder finds them), and the key is
added to the ledger if it was not there. The restored log lacks the events written after
the backup, the `subject.erased` events among them: those subjects' data can never be
opened again and every screen shows them erased, and erasing them again puts the
erasure back in the log.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hub.application.aggregates import Aggregates
from hub.application.publisher import Publisher
from hub.clock import Clock, SystemClock
from hub.domain import iso
from hub.log.sqlite import SqliteReader
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.erasures import ErasureLedger
from hub.privacy.photos import PhotoStore
from hub.privacy.shredder import Shredder
from projections import snapshots
from projections.live import Broadcaster
from projections.views import PartnershipView
from schemas.events import SubjectErased

FORMAT = 1
MANIFEST = "manifest.json"
LOG, KEYS, SECRET, PHOTOS, SNAPSHOT = "log.db", "keys.db", "secret.key", "photos", "snapshot.json"
LEDGER = "erasures.jsonl"  # the erasure ledger's name in a data folder (hub/bootstrap.py)
PHOTO_NAME = re.compile(r"^photos/[A-Za-z0-9]+\.(full|thumb)$")
# SQLite's locks on a database file are POSIX locks on bytes past 1 GiB: a connection in
# WAL mode, as the hub's are, holds a shared lock there for as long as it is open.
# https://www.sqlite.org/fileformat2.html#lockbyte
SHARED_FIRST, SHARED_SIZE = 0x40000000 + 2, 510


class Refused(Exception):
    """A backup or restore that was not done, and why; nothing was changed."""


@dataclass
class Restored:
    """What a restore did."""

    manifest: dict[str, Any]
    reapplied: list[str] = field(default_factory=list)  # keys this restore destroyed
    kept: Path | None = None  # the folder restored over, under its new name
    ledger_keys: int = 0


# -- backup -----------------------------------------------------------------------------


def make_backup(folder: Path, target: Path, clock: Clock | None = None) -> dict[str, Any]:
    """Back up the embedded hub in `folder` to the new folder `target`, while it serves;
    returns the manifest."""
    for name in (LOG, KEYS):
        if not (folder / name).is_file():
            raise Refused(f"{folder} holds no {name}: not an embedded hub's data folder")
    if target.exists():
        raise Refused(f"{target} exists already: give each backup a new folder")
    made_at = iso((clock or SystemClock()).now())
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = _beside(target, "partial")
    partial.mkdir(mode=0o700)
    try:
        _copy_database(folder / LOG, partial / LOG)
        _copy_database(folder / KEYS, partial / KEYS)
        _copy_photos(folder / PHOTOS, partial / PHOTOS)
        if (folder / SECRET).is_file():
            _copy_file(folder / SECRET, partial / SECRET)
        manifest = {
            "format": FORMAT,
            "made_at": made_at,
            "heads": _heads(partial / LOG),
            "files": _inventory(partial),
        }
        _write_new(partial / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        _private(partial)
        _sync_folder(partial)
        os.rename(partial, target)
        _sync_folder(target.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _beside(target: Path, what: str) -> Path:
    """A hidden working folder next to `target`, on the same file system."""
    target = target.resolve()
    return target.parent / f".{target.name}.{what}-{secrets.token_hex(4)}"


def _copy_database(source: Path, copy: Path) -> None:
    live = sqlite3.connect(source, timeout=30)
    try:
        out = sqlite3.connect(copy)
        try:
            live.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            out.close()
    finally:
        live.close()


def _copy_photos(source: Path, copy: Path) -> None:
    copy.mkdir(mode=0o700)
    if not source.is_dir():
        return
    for photo in sorted(source.iterdir()):
        if PHOTO_NAME.match(f"{PHOTOS}/{photo.name}"):
            try:
                _copy_file(photo, copy / photo.name)
            except FileNotFoundError:  # shredded while we copied: its subject is erased
                (copy / photo.name).unlink(missing_ok=True)


def _copy_file(source: Path, copy: Path) -> None:
    with open(source, "rb") as reading, open(copy, "wb") as writing:
        shutil.copyfileobj(reading, writing, 1 << 20)
        writing.flush()
        os.fsync(writing.fileno())


def _write_new(path: Path, body: bytes) -> None:
    with open(path, "xb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())


def _heads(log: Path) -> dict[str, dict[str, Any]]:
    connection = sqlite3.connect(f"file:{log}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT partnership, position, hash FROM heads ORDER BY partnership")
        return {p: {"position": position, "hash": hash_} for p, position, hash_ in rows}
    finally:
        connection.close()


def _digest(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as reading:
        while chunk := reading.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return {"sha256": sha.hexdigest(), "size": size}


def _inventory(folder: Path) -> dict[str, dict[str, Any]]:
    names = [LOG, KEYS, SECRET] + [f"{PHOTOS}/{p.name}" for p in sorted((folder / PHOTOS).iterdir())]
    return {name: _digest(folder / name) for name in names if (folder / name).is_file()}


def _private(folder: Path) -> None:
    """Readable by its owner only, as the data folder is (hub/bootstrap.py data_dir)."""
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- restore ----------------------------------------------------------------------------


def restore_backup(source: Path, folder: Path, ledger: Path, clock: Clock | None = None) -> Restored:
    """Restore the backup in `source` into `folder` (empty, or a stopped hub's), with the
    erasures of that folder and of the ledger applied. Refused, with `folder` unchanged,
    if anything about the backup or the folder is wrong."""
    manifest = read_manifest(source)
    _check_target(source, folder)
    staging = _beside(folder, "restoring")
    staging.mkdir(mode=0o700)
    try:
        _stage(source, manifest, staging)
        _check_databases(staging, manifest)
        erased, named = _erased_keys(folder, staging, ledger)
        reapplied = _apply_erasures(staging, erased)
        _carry_over(folder, staging)
        _private(staging)
        _refuse_if_running(folder)  # again: it may have been started meanwhile
        kept = _swap(staging, folder, (clock or SystemClock()).now().strftime("%Y%m%dT%H%M%SZ"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # erasures known only to the folder restored over: in the ledger too, from now on
    recorder = ErasureLedger(ledger, clock)
    for key_id in reapplied:
        if key_id not in named:
            recorder.record(key_id)
    return Restored(manifest, reapplied, kept, len(named))


def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, checked for shape; a backup without one is not complete."""
    path = source / MANIFEST
    if not source.is_dir():
        raise Refused(f"{source} is not a folder")
    if not path.is_file():
        raise Refused(f"{source} has no {MANIFEST}: not a complete backup (it may have stopped half-way)")
    try:
        manifest = orjson.loads(path.read_bytes())
        files, heads = manifest["files"], manifest["heads"]
        if manifest.get("format") != FORMAT or not isinstance(files, dict) or not isinstance(heads, dict):
            raise ValueError("unknown format")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise Refused(f"{path} is not a manifest this hub can read ({error})") from error
    for name in (LOG, KEYS):
        if name not in files:
            raise Refused(f"{path} lists no {name}")
    for name, entry in files.items():
        if name not in (LOG, KEYS, SECRET) and not PHOTO_NAME.match(name):
            raise Refused(f"{path} names a file a backup does not hold: {name!r}")
        if not isinstance(entry, dict) or not isinstance(entry.get("size"), int):
            raise Refused(f"{path} gives no size and sha256 for {name}")
    return dict(manifest)


def _check_target(source: Path, folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise Refused(f"{folder} is not a folder")
    inside = source.resolve()
    if inside == folder.resolve() or folder.resolve() in inside.parents:
        raise Refused(f"the backup {source} is inside {folder}: restore it into another folder")
    if (
        folder.is_dir()
        and any(folder.iterdir())
        and not (folder / LOG).exists()
        and not (folder / KEYS).exists()
    ):
        raise Refused(f"{folder} is neither empty nor a hub's data folder: restore into an empty folder")
    _refuse_if_running(folder)


def hub_running(folder: Path) -> bool:
    """Whether a process has the folder's log open (a running `hub serve`), found by
    trying SQLite's write lock on log.db without taking it for more than an instant."""
    log = folder / LOG
    if not log.is_file():
        return False
    try:
        descriptor = os.open(log, os.O_RDWR)
    except OSError as error:
        raise Refused(f"cannot open {log} to see whether its hub is running ({error})") from error
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, SHARED_SIZE, SHARED_FIRST, os.SEEK_SET)
    except OSError:
        return True
    finally:
        os.close(descriptor)  # and with it the lock
    return False


def _refuse_if_running(folder: Path) -> None:
    if hub_running(folder):
        raise Refused(f"the hub on {folder} is running (its log.db is open): stop it, then restore")


def _stage(source: Path, manifest: dict[str, Any], staging: Path) -> None:
    """Copy the files the manifest names, and check each copy's size and sha256."""
    (staging / PHOTOS).mkdir(mode=0o700)
    for name, expected in sorted(manifest["files"].items()):
        if not (source / name).is_file():
            raise Refused(f"{source / name} is missing: the backup is not complete")
        _copy_file(source / name, staging / name)
        found = _digest(staging / name)
        if found["size"] != expected.get("size"):
            raise Refused(
                f"{source / name} has {found['size']} bytes where the manifest says "
                f"{expected.get('size')}: the file is truncated or damaged"
            )
        if found["sha256"] != expected.get("sha256"):
            raise Refused(f"{source / name} does not match its sha256 in the manifest: the file is damaged")


def _check_databases(staging: Path, manifest: dict[str, Any]) -> None:
    """Both databases whole, the heads those of the manifest, every hash chain intact."""
    for name in (LOG, KEYS):
        try:
            connection = sqlite3.connect(f"file:{staging / name}?mode=ro", uri=True)
            try:
                result = connection.execute("PRAGMA integrity_check").fetchall()
            finally:
                connection.close()
        except sqlite3.DatabaseError as error:
            raise Refused(f"the backup's {name} is not a readable database ({error})") from error
        if result != [("ok",)]:
            raise Refused(f"the backup's {name} fails SQLite's integrity check: {result[:3]}")
    if _heads(staging / LOG) != manifest["heads"]:
        raise Refused("the backup's log.db does not end at the heads its manifest names")
    log = SqliteReader(staging / LOG)
    try:
        for p in log.partnerships():
            verified = log.verify(p)
            if not verified.ok:
                raise Refused(
                    f"the backup's log does not verify: {p} fails at position "
                    f"{verified.first_bad_position} ({verified.reason})"
                )
    finally:
        log.close()


def _erased_keys(folder: Path, staging: Path, ledger: Path) -> tuple[set[str], set[str]]:
    """Every key erased in the folder restored over or in the erasure ledger(s), and the
    keys the ledgers name."""
    erased: set[str] = set()
    if (folder / KEYS).is_file():
        backed_up, _ = _keys_in(staging / KEYS)
        held, destroyed = _keys_in(folder / KEYS)
        erased |= destroyed | (backed_up - held)
    if (folder / LOG).is_file():
        erased |= _erased_in_log(folder / LOG)
    named = ErasureLedger(ledger).keys() | ErasureLedger(folder / LEDGER).keys()
    return erased | named, named


def _keys_in(keys: Path) -> tuple[set[str], set[str]]:
    """The key ids a keys.db holds, and those it has destroyed."""
    try:
        connection = sqlite3.connect(f"file:{keys}?mode=ro", uri=True)
        try:
            held = {row[0] for row in connection.execute("SELECT id FROM keys")}
            destroyed = {row[0] for row in connection.execute("SELECT id FROM destroyed")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise Refused(
            f"cannot read {keys} ({error}): it records erasures a restore must keep; "
            "move it aside if it is lost for good"
        ) from error
    return held, destroyed


def _erased_in_log(log: Path) -> set[str]:
    """The subjects a log records as erased (their keys are destroyed soon after, or at
    the next start if the hub stopped in between). A log too damaged to read is passed
    over: its keys.db records those erasures too."""
    try:
        connection = sqlite3.connect(f"file:{log}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT body FROM events WHERE instr(body, ?) > 0", (SubjectErased.TYPE.encode(),)
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return set()
    erased = set()
    for (body,) in rows:
        event = orjson.loads(body)
        if event.get("type") == SubjectErased.TYPE:
            erased.add(str(event["data"]["subject_id"]))
    return erased


def _apply_erasures(staging: Path, erased: set[str]) -> list[str]:
    """Destroy each erased key the restored keys.db still holds and delete its subject's
    photos; fold the restored log into views and save them as the snapshot. Returns the
    keys destroyed here."""
    keys = KeyStore(staging / KEYS)
    log = SqliteReader(staging / LOG)
    try:
        cipher = Cipher(keys)
        shredder = Shredder(cipher, PhotoStore(staging / PHOTOS, cipher))
        views: dict[str, PartnershipView] = {}
        Publisher(views, Aggregates(log), Broadcaster()).fold(log)
        reapplied = sorted(key_id for key_id in erased if keys.get(key_id) is not None)
        for key_id in reapplied:
            cipher.destroy(key_id)
            for view in views.values():
                if key_id in view.subjects:
                    shredder.shred(view, key_id)
        shredder.recover(views)  # erased in the restored log itself, key still there
        snapshots.save(staging / SNAPSHOT, views)
    finally:
        keys.close()
        log.close()
    return reapplied


def _carry_over(folder: Path, staging: Path) -> None:
    """What the folder restored over holds that a backup does not: the erasure ledger,
    which only grows, and the token secret if the backup has none."""
    for name in (LEDGER, SECRET):
        if (folder / name).is_file() and not (staging / name).exists():
            _copy_file(folder / name, staging / name)


def _swap(staging: Path, folder: Path, stamp: str) -> Path | None:
    """Put the restored folder in place; the folder it replaces, if it held a hub, is
    kept beside it under a new name (returned)."""
    folder = folder.resolve()
    if not folder.exists() or not any(folder.iterdir()):
        os.rename(staging, folder)  # over an empty folder: one rename
        _sync_folder(folder.parent)
        return None
    kept = folder.parent / f"{folder.name}.before-restore-{stamp}"
    if kept.exists():
        kept = kept.with_name(f"{kept.name}-{secrets.token_hex(4)}")
    os.rename(folder, kept)
    try:
        os.rename(staging, folder)
    except BaseException:
        os.rename(kept, folder)
        raise
    _sync_folder(folder.parent)
    return kept
