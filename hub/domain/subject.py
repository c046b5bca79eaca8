"""The subject stream: a person of interest, their personal data, photos and erasure.

Personal data arrives sealed with the subject's own key (hub/privacy/sealing.py seals it
where the command enters the hub); the decider never sees it in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, assert_never

from hub.domain import Context, NotFound, Rejected
from hub.domain.decider import Decider, Evolution
from hub.domain.partnership import Partnership
from schemas.commands import AddPhoto, EraseSubject, IdentifySubject, RegisterSubject
from schemas.events import (
    Event,
    Sealed,
    SubjectErased,
    SubjectIdentified,
    SubjectPhotoAdded,
    SubjectRegistered,
)


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


EVOLUTIONS: dict[str, Evolution[Subject]] = {
    SubjectRegistered.TYPE: lambda s, d: replace(s, exists=True, id_sought=d["id_sought"]),
    SubjectPhotoAdded.TYPE: lambda s, d: replace(s, photos=s.photos + 1),
    SubjectIdentified.TYPE: lambda s, d: replace(s, id_sought=False),
    SubjectErased.TYPE: lambda s, d: replace(s, erased=True),
}

Commands = RegisterSubject | AddPhoto | IdentifySubject | EraseSubject


def decide(command: Commands, state: Subject, ctx: Context, setup: Partnership) -> list[Event]:
    match command:
        case RegisterSubject():
            return register(state, command.subject_id, command.personal, command.id_sought)
        case AddPhoto():
            return add_photo(state, command.subject_id, command.photo_id)
        case IdentifySubject():
            return identify(state, command.subject_id, command.personal)
        case EraseSubject():
            return erase(state, command.subject_id, command.reason)
        case _:
            assert_never(command)


def _live(state: Subject, subject_id: str) -> None:
    if not state.exists:
        raise NotFound(f"no subject {subject_id}")
    if state.erased:
        raise Rejected(f"subject {subject_id} has been erased")


def register(
    state: Subject, subject_id: str, personal: Sealed | dict[str, Any], id_sought: bool = False
) -> list[Event]:
    """Register a known subject, or an ID-sought one (an image, no name yet)."""
    if state.exists:
        raise Rejected(f"subject {subject_id} already exists")
    data = {"subject_id": subject_id, "id_sought": id_sought, "personal": personal}
    return [SubjectRegistered.model_validate(data)]


def add_photo(state: Subject, subject_id: str, photo_id: str) -> list[Event]:
    _live(state, subject_id)
    if state.photos >= MAX_PHOTOS:
        raise Rejected(f"subject {subject_id} already has {MAX_PHOTOS} photos")
    return [SubjectPhotoAdded(subject_id=subject_id, photo_id=photo_id)]


def identify(state: Subject, subject_id: str, personal: Sealed | dict[str, Any]) -> list[Event]:
    _live(state, subject_id)
    if not state.id_sought:
        raise Rejected(f"subject {subject_id} is already identified")
    return [SubjectIdentified.model_validate({"subject_id": subject_id, "personal": personal})]


def erase(state: Subject, subject_id: str, reason: str) -> list[Event]:
    _live(state, subject_id)
    return [SubjectErased(subject_id=subject_id, reason=reason)]


decider = Decider.of("subject", Commands, lambda c: stream(c.subject_id), initial, EVOLUTIONS, decide)
evolve = decider.evolve
