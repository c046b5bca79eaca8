"""What screens read: views, personal data opened, members, and any view as of a moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hub.clock import Clock
from hub.domain import NotFound, alert, incident, iso, sighting
from hub.log.port import EventReader
from projections.audience import visible_subjects
from projections.views import PartnershipView, fold
from schemas.events import FREE_TEXT_FIELDS

Opener = Callable[[dict[str, str]], dict[str, Any] | None]
STREAMS = {"alerts": alert.stream, "incidents": incident.stream, "sightings": sighting.stream}


class Queries:
    def __init__(
        self, views: dict[str, PartnershipView], log: EventReader, open_sealed: Opener, clock: Clock
    ):
        self.views = views
        self.log = log
        self.open_sealed = open_sealed
        self.clock = clock

    def view(self, p: str) -> PartnershipView:
        view = self.views.get(p)
        if view is None or not view.name:
            raise NotFound(f"no partnership {p}")
        return view

    def record(self, p: str, kind: str, record_id: str) -> dict[str, Any] | None:
        """An alert, incident or sighting (`kind`: "alerts", "incidents", "sightings") as its
        view shows it: from memory, or folded from its stream when it left memory."""
        found: dict[str, Any] | None = getattr(self.view(p), kind).get(record_id)
        if found is None:
            events = self.log.read_stream(p, STREAMS[kind](record_id))
            found = getattr(fold(p, events, bounded=False), kind).get(record_id)
        return found

    def records(self, p: str, kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        return [r for r in (self.record(p, kind, i) for i in ids) if r is not None]

    def personal(self, p: str, subject_id: str) -> dict[str, Any] | None:
        """A subject's personal data opened, or None once erased."""
        record = self.view(p).subjects.get(subject_id)
        if record is None or record["erased"] or record["personal"] is None:
            return None
        return self.open_sealed(record["personal"])

    def revealed(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record (a view's, or an event's data) with its free text about a subject opened:
        None once the subject is erased."""
        return reveal(record, self.open_sealed)

    def opened_hash(self, sealed: dict[str, str]) -> str | None:
        """A member's password or code hash, or None once destroyed."""
        opened = self.open_sealed(sealed)
        return None if opened is None else str(opened["hash"])

    def password_hash(self, member: dict[str, Any]) -> str | None:
        return self.opened_hash(member["password_hash"])

    def visible_subjects(self, p: str, role: str, venue: str | None) -> set[str]:
        return visible_subjects(self.view(p), role, venue, iso(self.clock.now()))

    def state_as_of(self, p: str, as_of: str | None = None, position: int | None = None) -> PartnershipView:
        """Rebuild a partnership's view as it was at a moment (recorded time) or position."""
        events = (e for e in self.log.read(p, 1, position) if as_of is None or e["recorded_at"] <= as_of)
        return fold(p, events, bounded=False)  # an auditor sees every record of that moment

    def member(self, username: str, partnerships: Iterable[str] | None = None) -> dict[str, Any] | None:
        """A member's record, looked up in `partnerships` (None: in every partnership)."""
        for p in self.views if partnerships is None else partnerships:
            view = self.views.get(p)
            member = view.members.get(username) if view is not None else None
            if member is not None:
                return member
        return None

    def users(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every enrolled member by username, with their partnership."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for p, view in self.views.items():
            for username, member in view.members.items():
                found[username] = (p, member)
        return found


def reveal(record: dict[str, Any], open_sealed: Opener) -> dict[str, Any]:
    """`record` with each sealed free text field opened (None once its subject is erased)."""
    sealed = [name for name in FREE_TEXT_FIELDS if isinstance(record.get(name), dict)]
    if not sealed:
        return record
    opened = dict(record)
    for name in sealed:
        clear = open_sealed(record[name])
        opened[name] = None if clear is None else clear.get("text")
    return opened
