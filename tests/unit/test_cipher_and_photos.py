"""Crypto-shredding (per-subject keys) and photo handling (EXIF, thumbnails, limits)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hub.domain import Rejected
from hub.privacy import photos as photos_module
from hub.privacy.cipher import Cipher, KeyStore
from hub.privacy.photos import FULL_SIZE, MAX_BYTES, THUMB_SIZE, BadImage, PhotoStore, prepare

PERSONAL = {"name": "Dean Marsh", "aliases": ["Deano"], "date_of_birth": "1995-04-02", "description": "tall"}


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyStore]:
    store = KeyStore(tmp_path / "keys.db")
    yield store
    store.close()


@pytest.fixture
def cipher(keys: KeyStore) -> Cipher:
    return Cipher(keys)


# -- sealing personal data ---------------------------------------------------------------------


def test_seal_and_open_round_trip(cipher: Cipher) -> None:
    sealed = cipher.seal("s1", PERSONAL)
    assert set(sealed) == {"key", "ct"}
    assert sealed["key"].startswith("s1#"), "a key of the subject's, named by its own id"
    assert b"Dean" not in base64.b64decode(sealed["ct"])
    assert "Dean" not in sealed["ct"]
    assert cipher.open(sealed) == PERSONAL


def test_sealing_twice_gives_different_ciphertexts(cipher: Cipher) -> None:
    assert cipher.seal("s1", PERSONAL)["ct"] != cipher.seal("s1", PERSONAL)["ct"]


def test_each_subject_has_its_own_key(cipher: Cipher, keys: KeyStore) -> None:
    cipher.seal("s1", PERSONAL)
    cipher.seal("s2", PERSONAL)
    assert keys.get("s1") != keys.get("s2")
    assert len(keys.get("s1") or b"") == 32


def test_open_after_destroy_is_none(cipher: Cipher) -> None:
    sealed = cipher.seal("s1", PERSONAL)
    other = cipher.seal("s2", PERSONAL)
    cipher.destroy("s1")
    assert cipher.open(sealed) is None
    assert cipher.open(other) == PERSONAL  # only that subject is erased


def test_another_subjects_key_cannot_open(cipher: Cipher) -> None:
    sealed = cipher.seal("s1", PERSONAL)
    cipher.seal("s2", {"name": "someone"})
    assert cipher.open({"key": "s2", "ct": sealed["ct"]}) is None
    assert cipher.open({"key": "unknown", "ct": sealed["ct"]}) is None


def test_raw_bytes_are_bound_to_their_context(cipher: Cipher) -> None:
    sealed = cipher.encrypt("s1", b"photo bytes", "p1.full")
    assert cipher.decrypt("s1", sealed, "p1.full") == b"photo bytes"
    assert cipher.decrypt("s1", sealed, "p1.thumb") is None


@pytest.mark.parametrize("where", [0, 5, 12, 20, -1])
def test_a_tampered_ciphertext_does_not_open(cipher: Cipher, where: int) -> None:
    sealed = cipher.seal("s1", PERSONAL)
    raw = bytearray(base64.b64decode(sealed["ct"]))
    raw[where] ^= 0x01
    assert cipher.open({"key": sealed["key"], "ct": base64.b64encode(bytes(raw)).decode()}) is None


def test_a_truncated_ciphertext_does_not_open(cipher: Cipher) -> None:
    sealed = cipher.encrypt("s1", b"x" * 40, "c")
    assert cipher.decrypt("s1", sealed[:-1], "c") is None
    assert cipher.decrypt("s1", sealed[:20], "c") is None


def test_a_ciphertext_shorter_than_a_nonce_does_not_open(cipher: Cipher) -> None:
    cipher.seal("s1", PERSONAL)
    assert cipher.decrypt("s1", b"abc", "s1") is None


def test_keys_persist_across_reopen(tmp_path: Path) -> None:
    first = KeyStore(tmp_path / "keys.db")
    sealed = Cipher(first).seal("s1", PERSONAL)
    key = first.get("s1")
    first.close()
    again = KeyStore(tmp_path / "keys.db")
    try:
        assert again.get("s1") == key
        assert Cipher(again).open(sealed) == PERSONAL
        assert again.get_or_create("s1") == (sealed["key"], key)  # not replaced
    finally:
        again.close()


def test_a_destroyed_key_is_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    store = KeyStore(path)
    cipher = Cipher(store)
    for i in range(20):
        cipher.seal(f"s{i}", PERSONAL)
    doomed = store.get("s7")
    kept = store.get("s8")
    assert doomed is not None and kept is not None
    assert doomed in path.read_bytes()
    sealed = cipher.seal("s7", PERSONAL)
    cipher.destroy("s7")
    store.close()
    on_disk = path.read_bytes()
    assert doomed not in on_disk  # secure_delete overwrote it
    assert kept in on_disk
    for leftover in tmp_path.iterdir():  # no journal or WAL holds it either
        assert doomed not in leftover.read_bytes(), leftover.name
    reopened = KeyStore(path)
    try:
        assert reopened.get("s7") is None
        assert Cipher(reopened).open(sealed) is None
        assert reopened.get("s8") == kept
    finally:
        reopened.close()


def test_an_erased_subject_stays_erased(cipher: Cipher) -> None:
    """After erasure, nothing new can be sealed (and later opened) under that subject."""
    cipher.seal("s1", PERSONAL)
    cipher.destroy("s1")
    try:
        sealed = cipher.seal("s1", {"name": "new data after erasure"})
    except Exception:
        return  # refusing is fine
    assert cipher.open(sealed) is None


# -- photos ------------------------------------------------------------------------------------------


def jpeg_with_exif(size: tuple[int, int] = (640, 480), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0] // 2):
        image.putpixel((x, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Ltd"  # Make
    exif[0x0110] = "Model 9000"  # Model
    exif[0x0131] = "Secret Software"  # Software
    exif[0x8298] = "Copyright Someone"
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"a secret comment")
    return out.getvalue()


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


def test_exif_is_stripped() -> None:
    raw = jpeg_with_exif()
    with Image.open(io.BytesIO(raw)) as source:
        assert source.getexif()[0x010F] == "SpyCam Ltd"  # the test image really has EXIF
    full, thumb = prepare(raw)
    for out in (full, thumb):
        with Image.open(io.BytesIO(out)) as clean:
            assert clean.format == "JPEG"
            assert len(clean.getexif()) == 0
            assert "exif" not in clean.info
            assert "comment" not in clean.info
        assert b"Exif" not in out
        assert b"SpyCam" not in out
        assert b"secret comment" not in out


def test_orientation_is_applied_before_the_exif_goes() -> None:
    full, _ = prepare(jpeg_with_exif((400, 200), orientation=6))  # rotate 90
    with Image.open(io.BytesIO(full)) as upright:
        assert upright.size == (200, 400)


def test_thumbnail_is_at_most_256_pixels_and_full_is_bounded() -> None:
    full, thumb = prepare(png((3000, 1200)))
    with Image.open(io.BytesIO(thumb)) as t:
        assert max(t.size) <= THUMB_SIZE
        assert t.size == (256, 102)
    with Image.open(io.BytesIO(full)) as f:
        assert max(f.size) <= FULL_SIZE
        assert f.format == "JPEG"


def test_a_small_image_is_not_enlarged() -> None:
    full, thumb = prepare(png((100, 50)))
    for out in (full, thumb):
        with Image.open(io.BytesIO(out)) as image:
            assert image.size == (100, 50)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L"])
def test_other_colour_modes_are_accepted(mode: str) -> None:
    full, _ = prepare(png((50, 40), mode))
    with Image.open(io.BytesIO(full)) as image:
        assert image.mode == "RGB"


def test_webp_is_accepted() -> None:
    out = io.BytesIO()
    Image.new("RGB", (30, 30), (1, 2, 3)).save(out, format="WEBP")
    prepare(out.getvalue())


def test_a_multi_picture_jpeg_from_a_phone_is_accepted() -> None:
    """Many phone cameras write JPEG files with an MPO index; they are JPEGs to their users."""
    first, second = Image.new("RGB", (64, 48), (200, 0, 0)), Image.new("RGB", (64, 48), (0, 200, 0))
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    raw = out.getvalue()
    assert raw.startswith(b"\xff\xd8")  # a JPEG file
    full, _ = prepare(raw)
    with Image.open(io.BytesIO(full)) as image:
        assert image.format == "JPEG" and image.size == (64, 48)


def test_too_many_pixels_is_too_large() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, format="PNG")  # 48 Mpx, a small file
    assert len(out.getvalue()) < MAX_BYTES
    with pytest.raises(BadImage) as refused:
        prepare(out.getvalue())
    assert refused.value.too_large


def test_a_decompression_bomb_is_too_large() -> None:
    """Regression: Pillow's DecompressionBombError was answered as unreadable (422), not 413."""
    out = io.BytesIO()
    Image.new("1", (15000, 12000)).save(out, format="PNG")  # 180 Mpx in about 22 KB
    with pytest.raises(BadImage) as refused:
        prepare(out.getvalue())
    assert refused.value.too_large


def test_too_many_pixels_by_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos_module, "MAX_PIXELS", 99)
    with pytest.raises(BadImage) as refused:
        prepare(png((10, 10)))
    assert refused.value.too_large
    prepare(png((9, 11)))


def test_too_many_bytes_is_too_large() -> None:
    with pytest.raises(BadImage) as refused:
        prepare(b"\xff" * (MAX_BYTES + 1))
    assert refused.value.too_large


@pytest.mark.parametrize(
    "raw", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"\x00" * 40]
)
def test_not_an_image_is_refused(raw: bytes) -> None:
    with pytest.raises(BadImage) as refused:
        prepare(raw)
    assert not refused.value.too_large


def test_a_truncated_jpeg_is_refused() -> None:
    raw = jpeg_with_exif()
    with pytest.raises(BadImage):
        prepare(raw[: len(raw) // 3])


def test_an_unaccepted_format_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, format="GIF")
    with pytest.raises(BadImage) as refused:
        prepare(out.getvalue())
    assert "GIF" in str(refused.value)
    assert not refused.value.too_large


@pytest.fixture
def store(tmp_path: Path, cipher: Cipher) -> PhotoStore:
    return PhotoStore(tmp_path / "photos", cipher)


def test_photo_store_save_load_delete(store: PhotoStore) -> None:
    store.save("s1", "p1", jpeg_with_exif())
    full = store.load("s1", "p1", "full")
    thumb = store.load("s1", "p1", "thumb")
    assert full is not None and thumb is not None
    with Image.open(io.BytesIO(thumb)) as t:
        assert max(t.size) <= THUMB_SIZE
    assert b"SpyCam" not in full
    for path in store.folder.iterdir():  # stored encrypted: not a JPEG on disk
        assert not path.read_bytes().startswith(b"\xff\xd8")
    assert store.load("s1", "p1", "huge") is None
    assert store.load("s1", "missing", "full") is None
    assert store.load("s1", "../p1", "full") is None
    assert store.load("s2", "p1", "full") is None  # another subject's key
    store.delete("p1")
    assert store.load("s1", "p1", "full") is None
    assert list(store.folder.iterdir()) == []
    store.delete("p1")  # deleting twice is fine


def test_photo_store_refuses_a_bad_image_and_writes_nothing(store: PhotoStore) -> None:
    with pytest.raises(BadImage):
        store.save("s1", "p1", b"nope")
    assert list(store.folder.iterdir()) == []


def test_a_photo_cannot_be_loaded_after_its_subject_is_erased(store: PhotoStore, cipher: Cipher) -> None:
    store.save("s1", "p1", jpeg_with_exif())
    store.save("s2", "p2", jpeg_with_exif())
    cipher.destroy("s1")
    assert store.load("s1", "p1", "full") is None
    assert store.load("s1", "p1", "thumb") is None
    assert store.load("s2", "p2", "full") is not None


def test_key_stores_sharing_one_file_see_each_others_keys_and_erasures(tmp_path: Path) -> None:
    # the processes of `hub serve --processes N` share keys.db
    leader, follower = KeyStore(tmp_path / "keys.db"), KeyStore(tmp_path / "keys.db")
    key_id, key = follower.get_or_create("subject-1")
    assert leader.get("subject-1") == key  # made after the leader loaded its keys
    assert leader.get(key_id) == key
    assert leader.get_or_create("subject-1") == (key_id, key)  # found, not made twice
    leader.destroy("subject-1")
    late = KeyStore(tmp_path / "keys.db")
    assert late.get("subject-1") is None
    with pytest.raises(Rejected):
        late.get_or_create("subject-1")
    follower.forget("subject-1")  # what the follower does when it applies subject.erased
    assert follower.get("subject-1") is None
