"""Photos of subjects and sighting stills: checked, stripped of metadata, thumbnailed,
stored encrypted with the subject's key and served only through the API's checks."""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from hub.privacy.cipher import Cipher

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
FULL_SIZE = 1600
THUMB_SIZE = 256
# MPO is how Pillow reads many phone cameras' JPEGs; every image is re-encoded anyway.
FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}


class BadImage(ValueError):
    """An upload that is not an image we accept (answered 413 or 422 with this reason)."""

    def __init__(self, reason: str, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


def prepare(raw: bytes) -> tuple[bytes, bytes]:
    """Return (full, thumbnail) as JPEG bytes with no EXIF or other metadata."""
    if len(raw) > MAX_BYTES:
        raise BadImage(f"image is larger than {MAX_BYTES // (1024 * 1024)} MB", too_large=True)
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.format not in FORMATS:
                raise BadImage(f"image format {probe.format} is not one of JPEG, PNG, WEBP")
            if probe.width * probe.height > MAX_PIXELS:
                raise BadImage(f"image has more than {MAX_PIXELS} pixels", too_large=True)
            probe.load()
            upright = ImageOps.exif_transpose(probe).convert("RGB")
    except Image.DecompressionBombError as error:
        raise BadImage(f"image has more than {MAX_PIXELS} pixels", too_large=True) from error
    except UnidentifiedImageError as error:  # its own text names an in-memory file object
        raise BadImage("not an image of a known format: send a JPEG, PNG or WEBP") from error
    except OSError as error:
        raise BadImage("the image is damaged or cut short") from error
    # A fresh image holds pixels only: EXIF, GPS and comments are left behind.
    clean = Image.new("RGB", upright.size)
    clean.paste(upright)
    clean.thumbnail((FULL_SIZE, FULL_SIZE))
    thumb = clean.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
    return _jpeg(clean), _jpeg(thumb)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


class PhotoStore:
    """Encrypted photo files: <id>.full and <id>.thumb, sealed with the subject's key."""

    def __init__(self, folder: Path, cipher: Cipher) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cipher = cipher

    def save(self, key_id: str, photo_id: str, raw: bytes) -> None:
        """Seal the photo with a key of the subject's (`key_id`, their id). Two tries of
        one upload write one photo id, perhaps at once from two nodes with a key each
        (hub/privacy/cipher.py): each file is swapped in whole, so it holds one try's."""
        full, thumb = prepare(raw)
        for size, data in (("full", full), ("thumb", thumb)):
            sealed = self.cipher.encrypt(key_id, data, f"{photo_id}.{size}")
            path = self.folder / f"{photo_id}.{size}"
            part = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
            try:
                part.write_bytes(sealed)
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)

    def load(self, key_id: str, photo_id: str, size: str) -> bytes | None:
        """The photo, or None if it never existed or its subject was erased; any key of
        the subject's opens it."""
        if size not in ("full", "thumb") or not photo_id.isalnum():
            return None
        path = self.folder / f"{photo_id}.{size}"
        if not path.exists():
            return None
        return self.cipher.decrypt(key_id, path.read_bytes(), f"{photo_id}.{size}")

    def delete(self, photo_id: str) -> None:
        for size in ("full", "thumb"):
            (self.folder / f"{photo_id}.{size}").unlink(missing_ok=True)
