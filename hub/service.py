"""The running hub: commands in, events through the log, views and live frames out.

One composition of the pure domain with a log, a key store, photo storage, the views
and the live broadcaster. The API calls its command methods; processors call them too.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from hub.clock import Clock
from hub.commands import plan
from hub.domain import (
    Command,
    Context,
    Fact,
    NotFound,
    Rejected,
    alert,
    exclusion,
    incident,
    iso,
    partnership,
    sighting,
    subject,
)
from hub.domain.processors import SYSTEM, due, react
from hub.log.chain import new_id
from hub.log.port import EventLog, Pending
from hub.privacy.cipher import Cipher
from hub.privacy.photos import PhotoStore
from projections import snapshots
from projections.live import Broadcaster
from projections.views import PartnershipView, apply, fold
from schemas.events import validate_event_data

log = logging.getLogger("hub")

SYSTEM_PARTNERSHIP = "_hub"
AGGREGATES_KEPT = 50_000
SEALED_EVENTS = ("subject.registered", "subject.identified")
AGGREGATES: dict[str, ModuleType] = {
    "partnership": partnership,
    "alert": alert,
    "incident": incident,
    "sighting": sighting,
    "subject": subject,
    "exclusion": exclusion,
}


def aggregate_of(stream: str) -> ModuleType:
    return AGGREGATES[stream.split("-", 1)[0]]


@dataclass(frozen=True)
class Actor:
    user: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role}


PROCESSOR = Actor(SYSTEM, "system")


class Hub:
    """The application: the same for every entrypoint, built by `hub.bootstrap`."""

    def __init__(
        self,
        event_log: EventLog,
        cipher: Cipher,
        photos: PhotoStore,
        clock: Clock,
        snapshot_path: Path | None = None,
        run_processors: bool = True,
    ) -> None:
        self.log = event_log
        self.cipher = cipher
        self.photos = photos
        self.clock = clock
        self.snapshot_path = snapshot_path
        self.run_processors = run_processors
        self.views: dict[str, PartnershipView] = {}
        self.live = Broadcaster()
        # Recently used streams' states; a stream not here is folded from the log again.
        self._aggregates: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        # A stream's lock lives only while someone holds it or waits for it.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self.events_published = 0
        # Kafka-mode API nodes send commands to the worker instead of deciding them here.
        self.remote: Callable[[str, Command, dict[str, str]], Awaitable[dict[str, Any]]] | None = None
        # `hub serve --processes`: waits until every follower has applied what was written.
        self.synced: Callable[[], Awaitable[None]] | None = None

    # -- start-up, publishing, snapshots ----------------------------------------------

    def start(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Load the snapshot and fold each partnership's tail; returns events folded."""
        if self.snapshot_path is not None:
            self.views = snapshots.load(self.snapshot_path)
        folded = 0
        for p in self.log.partnerships():
            view = self.views.setdefault(p, PartnershipView(p))
            if view.position > self.log.head(p):  # a snapshot from another log: start over
                view = self.views[p] = PartnershipView(p)
            for event in self.log.read(p, view.position + 1):
                self._apply(event, live=False)
                folded += 1
                if on_progress and folded % 100_000 == 0:
                    on_progress(folded)
        return folded

    def publish_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Apply committed events everywhere: aggregates, views, live frames, processors.

        Called in log order for each partnership, before the writer that caused them
        resumes, so an answered command can be read back at once. Their live frames go out
        together once all are applied.
        """
        for event in events:
            self._apply(event)
        self.live.flush()

    def _apply(self, event: dict[str, Any], live: bool = True) -> None:
        p = event["partnership"]
        view = self.views.get(p)
        if view is None:
            view = self.views[p] = PartnershipView(p)
        if event["position"] <= view.position:
            return
        key = (p, event["stream"])
        cached = self._aggregates.get(key)
        if cached is not None:
            state, version = cached
            if event["stream_version"] == version + 1:
                state = aggregate_of(event["stream"]).evolve(state, event["type"], event["data"])
                self._aggregates[key] = (state, version + 1)
            else:
                del self._aggregates[key]
        if event["type"] == "subject.erased":
            self._shred(view, event["data"]["subject_id"])
        apply(view, event)
        self.events_published += 1
        if live:
            self.live.queue(view, event)
        if self.run_processors:
            for command in react(event):
                self._spawn(self.carry_out(p, command))

    def _shred(self, view: PartnershipView, subject_id: str) -> None:
        """Erasure: destroy the subject's key, then the photo files it sealed."""
        self.cipher.destroy(subject_id)
        photos = list(view.subjects.get(subject_id, {}).get("photos", []))
        photos += [
            s["still_id"]
            for s in view.sightings.values()
            if s.get("subject_id") == subject_id and s.get("still_id")
        ]
        for photo_id in photos:
            self.photos.delete(photo_id)

    def _spawn(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (offline replay): processors do not run
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def save_snapshot(self) -> None:
        if self.snapshot_path is not None:
            snapshots.save(self.snapshot_path, self.views)

    async def settle(self) -> None:
        """Wait until every processor command in flight is done (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- executing commands ------------------------------------------------------------

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _state(self, p: str, stream: str) -> tuple[Any, int]:
        key = (p, stream)
        cached = self._aggregates.get(key)
        if cached is None:
            module = aggregate_of(stream)
            state, version = module.initial(), 0
            for event in self.log.read_stream(p, stream):
                state = module.evolve(state, event["type"], event["data"])
                version = event["stream_version"]
            cached = self._aggregates[key] = (state, version)
            if len(self._aggregates) > AGGREGATES_KEPT:
                self._aggregates.popitem(last=False)
        else:
            self._aggregates.move_to_end(key)
        return cached

    def _stored(self, fact: Fact, actor: Actor, occurred_at: str, causation_id: str | None) -> dict[str, Any]:
        data = fact.data
        if fact.type in SEALED_EVENTS and "ct" not in data["personal"]:
            data = {**data, "personal": self.seal(data["subject_id"], data["personal"])}
        if fact.type == "member.enrolled" and isinstance(data["password_hash"], str):
            data = {**data, "password_hash": self.seal_password(data["username"], data["password_hash"])}
        if fact.type == "member.enrolment_code_issued" and isinstance(data["code_hash"], str):
            data = {**data, "code_hash": self.seal_password(data["username"], data["code_hash"])}
        validate_event_data(fact.type, data)
        return {
            "type": fact.type,
            "data": data,
            "occurred_at": occurred_at,
            "actor": actor.as_dict(),
            "causation_id": causation_id,
        }

    async def execute(
        self,
        p: str,
        stream: str,
        decide: Callable[[Any], list[Fact]],
        actor: Actor,
        command_id: str,
        at: datetime,
        answer: dict[str, Any] | None = None,
        causation_id: str | None = None,
        creates: bool = False,
    ) -> dict[str, Any]:
        """Decide a command against its stream's state and append what it decided.

        A command id already seen returns the first answer and writes nothing: the log
        finds it (in its writer, off the event loop), or, when the retry is refused
        against the state its first attempt made, the refusal looks it up.
        Raises Rejected, NotFound or log.Conflict; then nothing was written.
        """
        async with self._lock((p, stream)):
            if creates and (p, stream) not in self._aggregates:
                state, version = aggregate_of(stream).initial(), 0
            else:
                state, version = self._state(p, stream)
            try:
                facts = decide(state)
            except (Rejected, NotFound):
                first = self.log.answer_for(p, command_id)
                if first is not None:
                    return first
                raise
            events = [self._stored(f, actor, iso(at), causation_id) for f in facts]
            pending = Pending(p, stream, version, command_id, events, answer or {})
            appended = await self.log.append(pending)
        return appended.answer

    async def submit(self, p: str, command: Command, actor: Actor) -> dict[str, Any]:
        """Plan and execute one command; the answer has the new id and the positions."""
        if self.remote is not None:
            return await self.remote(p, command, actor.as_dict())
        ctx = Context(actor.user, actor.role, self.clock.now())
        setup = self._state(p, partnership.STREAM)[0]
        try:
            step = plan(command, ctx, setup)
        except (Rejected, NotFound):
            first = self.log.answer_for(p, command.id)
            if first is not None:
                return first
            raise
        answer = await self.execute(
            p,
            step.stream,
            step.decide,
            actor,
            command.id,
            ctx.at,
            step.answer,
            command.causation_id,
            step.creates,
        )
        if self.synced is not None:
            await self.synced()
        return answer

    async def carry_out(self, p: str, command: Command) -> None:
        """Execute a processor's command; a refusal is logged, never raised."""
        try:
            await self.submit(p, command, PROCESSOR)
        except (Rejected, NotFound) as refusal:
            log.info("processor command %s refused: %s", command.id, refusal)
        except Exception:
            log.exception("processor command %s failed", command.id)

    def tick(self, now: datetime | None = None) -> int:
        """Run the clock-driven processors once; returns how many commands they issued."""
        now = now or self.clock.now()
        count = 0
        for p, view in list(self.views.items()):
            for command in due(view, now):
                self._spawn(self.carry_out(p, command))
                count += 1
        return count

    async def run_clock(self, every: float = 1.0) -> None:
        while True:
            self.tick()
            await asyncio.sleep(every)

    # -- reading -------------------------------------------------------------------------

    def view(self, p: str) -> PartnershipView:
        view = self.views.get(p)
        if view is None or not view.name:
            raise NotFound(f"no partnership {p}")
        return view

    def seal(self, subject_id: str, personal: dict[str, Any]) -> dict[str, str]:
        """Seal personal data with the subject's own key where it enters the hub, so it
        never travels or rests in the clear (not even on the Kafka command topic)."""
        return self.cipher.seal(subject_id, personal)

    def seal_password(self, username: str, password_hash: str) -> dict[str, str]:
        """Members' password hashes are sealed too: the log and the audit export carry
        no crackable hash, and revoking a member can destroy it."""
        return self.cipher.seal(f"member-{username}", {"hash": password_hash})

    def password_hash(self, member: dict[str, Any]) -> str | None:
        return self.opened_hash(member["password_hash"])

    def opened_hash(self, sealed: dict[str, str]) -> str | None:
        opened = self.cipher.open(sealed)
        return None if opened is None else str(opened["hash"])

    def personal(self, p: str, subject_id: str) -> dict[str, Any] | None:
        """A subject's personal data opened, or None once erased."""
        record = self.view(p).subjects.get(subject_id)
        if record is None or record["erased"] or record["personal"] is None:
            return None
        return self.cipher.open(record["personal"])

    def state_as_of(self, p: str, as_of: str | None = None, position: int | None = None) -> PartnershipView:
        """Rebuild a partnership's view as it was at a moment (recorded time) or position."""
        events = (e for e in self.log.read(p, 1, position) if as_of is None or e["recorded_at"] <= as_of)
        return fold(p, events)

    def users(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every enrolled member by username, with their partnership."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for p, view in self.views.items():
            for username, member in view.members.items():
                found[username] = (p, member)
        return found

    def new_id(self) -> str:
        return new_id()
