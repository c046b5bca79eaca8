"""Subject keys on Kafka-mode nodes, each with its own keys.db, shared as `hub.keys` shares
them (hub/privacy/kafka_keys.py): a key a node makes is put on every node, a tombstone
forgets the subject. Two nodes that each make a key for one subject (two tries of one
ID-sought sighting in flight at once, issue 11) must keep both: whatever either sealed
opens on every node, whichever record the others hear last, until the subject is erased."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hub.domain import Rejected
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.photos import PhotoStore

NOTE = {"text": "red cap, ID sought"}


class Node:
    """A node's key store and cipher, and what it would publish on `hub.keys`."""

    def __init__(self, folder: Path, photos: Path) -> None:
        folder.mkdir()
        self.keys = KeyStore(folder / "keys.db")
        self.cipher = Cipher(self.keys)
        self.photos = PhotoStore(photos, self.cipher)
        self.published: list[tuple[str, bytes | None]] = []
        self.keys.on_created = lambda key_id, key: self.published.append((key_id, key))
        self.keys.on_destroyed_key = lambda key_id: self.published.append((key_id, None))

    def hear(self, records: list[tuple[str, bytes | None]]) -> list[str]:
        """Apply records read from the topic, as KeyShare does; the keys refused."""
        refused = []
        for key_id, key in records:
            if key is None:
                self.keys.forget(key_id)
            elif not self.keys.put(key_id, key):
                refused.append(key_id)
        return refused


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    a, b = Node(tmp_path / "a", tmp_path / "photos"), Node(tmp_path / "b", tmp_path / "photos")
    yield a, b
    a.keys.close()
    b.keys.close()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("heard_last", ["a", "b"])
def test_two_nodes_that_each_make_a_key_for_one_subject_open_both(
    nodes: tuple[Node, Node], heard_last: str
) -> None:
    a, b = nodes
    # each try seals the note and writes the still (one photo id: the same request) on its node
    a.photos.save("s1", "still1", _png())
    on_a = a.cipher.seal("s1", NOTE)
    b.photos.save("s1", "still1", _png())
    on_b = b.cipher.seal("s1", NOTE)
    records = a.published + b.published if heard_last == "b" else b.published + a.published
    assert len(records) == 2, "each node made a key of its own"
    for node in (a, b):
        assert node.hear(records) == []
    for node in (a, b):
        assert node.cipher.open(on_a) == NOTE, "what node a sealed opens everywhere"
        assert node.cipher.open(on_b) == NOTE, "what node b sealed opens everywhere"
        assert node.photos.load("s1", "still1", "full") is not None, "the still opens everywhere"


def test_an_erasure_destroys_every_key_of_the_subject_on_every_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    on_a, on_b = a.cipher.seal("s1", NOTE), b.cipher.seal("s1", NOTE)
    other = a.cipher.seal("s2", NOTE)
    made = a.published + b.published
    a.hear(made)
    b.hear(made)
    a.published.clear()
    a.cipher.destroy("s1")
    tombstones = a.published
    assert sorted(key_id for key_id, key in tombstones if key is None) == sorted(
        key_id for key_id, _ in made if key_id.startswith("s1")
    ), "a tombstone for each key of the subject"
    b.hear(tombstones)
    for node in (a, b):
        assert node.cipher.open(on_a) is None and node.cipher.open(on_b) is None
        assert node.keys.get("s1") is None
        assert node.cipher.open(other) == NOTE, "only that subject is erased"
        with pytest.raises(Rejected):
            node.cipher.seal("s1", NOTE)
    # a key made for them by a node that had not heard yet is refused everywhere
    assert a.hear([("s1#late", b"k" * 32)]) == ["s1#late"]
    assert a.keys.get("s1") is None


def test_a_key_never_replaces_another(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    sealed = a.cipher.seal("s1", NOTE)
    (key_id, key), *_ = a.published
    a.hear([(key_id, b"x" * 32)])  # the same id again with other bytes: not taken
    assert a.cipher.open(sealed) == NOTE
    assert a.keys.get(key_id) == key


def test_keys_db_of_an_older_hub_keeps_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    with sqlite3.connect(path) as db:  # one key per subject, named by the subject's id
        db.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, key BLOB NOT NULL)")
        db.execute("CREATE TABLE destroyed (id TEXT PRIMARY KEY)")
        db.execute("INSERT INTO keys VALUES ('s1', ?)", (b"1" * 32,))
        db.execute("INSERT INTO destroyed VALUES ('s9')")
    db.close()
    old = Cipher(KeyStore(tmp_path / "unused.db"))
    old.keys.put("s1", b"1" * 32)
    sealed = old.seal("s1", NOTE)
    assert sealed["key"] == "s1", "an old key is still the one a subject's data is sealed with"
    old.keys.close()
    keys = KeyStore(path)
    try:
        cipher = Cipher(keys)
        assert keys.get("s1") == b"1" * 32
        assert cipher.open(sealed) == NOTE
        assert cipher.seal("s1", NOTE)["key"] == "s1", "no new key for a subject who has one"
        with pytest.raises(Rejected):
            cipher.seal("s9", NOTE)
        cipher.destroy("s1")
        assert cipher.open(sealed) is None
    finally:
        keys.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id FROM keys").fetchall() == []
        assert {row[0] for row in db.execute("SELECT id FROM destroyed")} == {"s1", "s9"}
    db.close()
