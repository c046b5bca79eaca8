"""Password hashing for members: argon2id."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checking a login for a user that does not exist still costs one argon2 verification.
_DUMMY_HASH = _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


COMMON = frozenset((Path(__file__).parent / "common-passwords.txt").read_text().split())
LONGER_FOR = frozenset({"coordinator", "admin"})


def weakness(password: str, role: str) -> str | None:
    """Why a password may not be used (NIST SP 800-63B), or None: at least 8 characters,
    12 for coordinators and admins; not a common one (a bundled list)."""
    least = 12 if role in LONGER_FOR else 8
    if len(password) < least:
        return f"a {role}'s password needs at least {least} characters"
    if password.lower() in COMMON or len(set(password)) < 3:
        return "that password is too common; choose a longer phrase of your own"
    return None
