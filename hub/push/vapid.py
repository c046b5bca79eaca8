"""The hub's VAPID key pair (RFC 8292): it signs every push request, and browsers
subscribe with its public key (`GET /v1/push/key`).

Where it comes from, first found:
- `HUB_PUSH_VAPID_KEY`: a PEM file holding a P-256 private key (give every node the same);
- Kafka mode: derived from `HUB_SECRET`, the one secret every node already shares, so
  the API nodes hand out the public key of the worker that signs;
- embedded: `vapid.pem` in the data folder, made on first start, owner-only (0600);
  the processes of `hub serve --processes` share it (the first one makes it).
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from py_vapid import Vapid02

FILE = "vapid.pem"
CONTACT = "mailto:push@bcrp-hub.invalid"
TOKEN_SECONDS = 12 * 3600
P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _from_secret(secret: str) -> ec.EllipticCurvePrivateKey:
    derived = HKDF(hashes.SHA256(), 48, salt=b"hub", info=b"web push vapid key").derive(secret.encode())
    return ec.derive_private_key(int.from_bytes(derived, "big") % (P256_ORDER - 1) + 1, ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _from_folder(folder: Path) -> ec.EllipticCurvePrivateKey:
    """The folder's key, made by the first process that needs it: written whole to a file
    of its own, then linked into place (a link never replaces a file), so every process
    of the folder, and every start after a crash, reads one complete key."""
    path = folder / FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        draft = folder / f".{FILE}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(_pem(key))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its key is the folder's
        finally:
            draft.unlink()
    return _load(path.read_bytes())


def _load(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the VAPID key must be a P-256 (prime256v1) private key")
    return key


class Vapid:
    """Signs push requests for each push service's origin; the token kept until near expiry."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, contact: str = CONTACT) -> None:
        self.key = key
        self.contact = contact
        self._signer = Vapid02(private_key=key)
        raw = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = b64url(raw)
        self._tokens: dict[str, tuple[str, float]] = {}

    def authorization(self, origin: str, now: float | None = None) -> str:
        """The `Authorization: vapid t=...,k=...` value for a push service's origin."""
        now = time.time() if now is None else now
        cached = self._tokens.get(origin)
        if cached is not None and cached[1] - now > TOKEN_SECONDS / 2:
            return cached[0]
        expires = int(now) + TOKEN_SECONDS
        claims = {"aud": origin, "exp": expires, "sub": self.contact}
        header = str(self._signer.sign(claims)["Authorization"])
        self._tokens[origin] = (header, expires)
        return header


def vapid_key(folder: Path, kafka: bool) -> Vapid:
    """The hub's VAPID key as the settings say (see the module's docstring)."""
    contact = os.environ.get("HUB_PUSH_CONTACT") or CONTACT
    path = os.environ.get("HUB_PUSH_VAPID_KEY", "").strip()
    if path:
        return Vapid(_load(Path(path).read_bytes()), contact)
    secret = os.environ.get("HUB_SECRET")
    if kafka and secret:
        return Vapid(_from_secret(secret), contact)
    return Vapid(_from_folder(folder), contact)
