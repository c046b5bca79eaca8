"""The subject stream: a person of interest, their personal data, photos and erasure.

Facts carry personal data in the clear under "personal"; the log's mapper seals it with
the subject's own key before it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hub.domain import Fact, NotFound, Rejected


@dataclass(frozen=True)
class Subject:
    exists: bool = False
    id_sought: bool = False
    erased: bool = False
    photos: int = 0


MAX_PHOTOS = 20


def stream(subject_id: str) -> str:
    return f"subject-{subject_id}"


def initial() -> Subject:
    return Subject()


def evolve(state: Subject, type: str, data: dict[str, Any]) -> Subject:
    if type == "subject.registered":
        return replace(state, exists=True, id_sought=data["id_sought"])
    if type == "subject.photo_added":
        return replace(state, photos=state.photos + 1)
    if type == "subject.identified":
        return replace(state, id_sought=False)
    if type == "subject.erased":
        return replace(state, erased=True)
    return state


def _live(state: Subject, subject_id: str) -> None:
    if not state.exists:
        raise NotFound(f"no subject {subject_id}")
    if state.erased:
        raise Rejected(f"subject {subject_id} has been erased")


def register(
    state: Subject, subject_id: str, personal: dict[str, Any], id_sought: bool = False
) -> list[Fact]:
    """Register a known subject, or an ID-sought one (an image, no name yet)."""
    if state.exists:
        raise Rejected(f"subject {subject_id} already exists")
    data = {"subject_id": subject_id, "id_sought": id_sought, "personal": personal}
    return [Fact("subject.registered", data)]


def add_photo(state: Subject, subject_id: str, photo_id: str) -> list[Fact]:
    _live(state, subject_id)
    if state.photos >= MAX_PHOTOS:
        raise Rejected(f"subject {subject_id} already has {MAX_PHOTOS} photos")
    return [Fact("subject.photo_added", {"subject_id": subject_id, "photo_id": photo_id})]


def identify(state: Subject, subject_id: str, personal: dict[str, Any]) -> list[Fact]:
    _live(state, subject_id)
    if not state.id_sought:
        raise Rejected(f"subject {subject_id} is already identified")
    return [Fact("subject.identified", {"subject_id": subject_id, "personal": personal})]


def erase(state: Subject, subject_id: str, reason: str) -> list[Fact]:
    _live(state, subject_id)
    return [Fact("subject.erased", {"subject_id": subject_id, "reason": reason})]
