"""Property: however a valid history was made, its views are the same whether kept up
incrementally, replayed from the log, or loaded from a snapshot with the tail folded on.

Random valid command sequences run through a real embedded Hub (SQLite log, key store,
processors, a fixed clock that the sequence may move on). Choices are drawn from the
hub's own views, so every command is one the API could have sent.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.bootstrap import Hub, build, deliver
from hub.clock import FixedClock
from hub.domain import SIX_MONTHS, Actor, Refusal, iso, parse
from schemas.commands import Submission

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
COORD = Actor("coord", "coordinator")
USERS = [COORD, Actor("door1", "door_staff"), Actor("cctv1", "cctv_operator"), Actor("pcso", "police")]
ROLES = ["door_staff", "retail_staff", "cctv_operator", "police", "coordinator", "auditor"]
KINDS = ["night_time", "retail", "control_room", "other"]
CATEGORIES = ["theft", "violence", "asb", "fraud", "criminal_damage", "refused_entry", "other"]
PRIORITIES = ["routine", "urgent", "emergency"]
OPS = [
    "partnership",
    "venue",
    "change_venue",
    "remove_venue",
    "channel",
    "member",
    "revoke_member",
    "subject",
    "photo",
    "identify",
    "erase",
    "alert",
    "alert",
    "ack",
    "ack",
    "close_alert",
    "incident",
    "link",
    "crime_ref",
    "close_incident",
    "sighting",
    "sighting",
    "warning",
    "warning",
    "exclusion",
    "exclusion",
    "confirm",
    "serve",
    "appeal",
    "revoke",
    "advance",
    "retry",
]

Step = tuple[str, int, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 2**16),
        st.integers(0, 2**16),
        st.integers(0, 2**16),
    ),
    min_size=10,
    max_size=60,
)


def pick(options: list[Any], n: int) -> Any:
    return options[n % len(options)] if options else None


def some(options: list[Any], n: int, most: int = 2) -> list[Any]:
    """A few distinct options chosen by the bits of n (order kept, as the API sorts)."""
    chosen = [o for i, o in enumerate(options) if n >> i & 1]
    return chosen[:most]


class Runner:
    """Turns abstract steps into valid commands, reading the hub's views to choose."""

    def __init__(self, hub: Hub, clock: FixedClock) -> None:
        self.hub = hub
        self.clock = clock
        self.submitted: list[tuple[str, Submission, Actor, dict[str, Any]]] = []
        self.count = 0

    async def submit(self, p: str, action: str, actor: Actor = COORD, **args: Any) -> dict[str, Any]:
        self.count += 1
        command = Submission.of(f"cmd-{self.count}", action, args)
        try:
            answer = await self.hub.submit(p, command, actor)
        except Refusal:  # a step the guards refuse (a door member elsewhere): nothing written
            return {}
        await self.hub.settle()
        self.submitted.append((p, command, actor, answer))
        return answer

    def now(self) -> datetime:
        return self.clock.now()

    async def step(self, op: str, a: int, b: int, c: int) -> None:
        hub = self.hub
        partnerships = sorted(p for p in hub.views if hub.views[p].name)
        p = pick(partnerships, c)
        view = hub.views[p]
        venues = list(view.venues)
        subjects = list(view.subjects)
        live_subjects = [s for s, r in view.subjects.items() if not r["erased"]]
        exclusions = list(view.exclusions.values())
        i = self.count + 1
        if op == "partnership":
            if "south" not in hub.views:
                await self.submit(
                    "south", "register_partnership", id="south", name="South", retention_days=30 + a % 400
                )
                await self.submit("south", "add_venue", venue_id="sv", name="South venue", kind="retail")
        elif op == "venue":
            await self.submit(p, "add_venue", venue_id=f"v{i}", name=f"Venue {i}", kind=pick(KINDS, a))
        elif op == "change_venue" and venues:
            kind = pick([None, *KINDS], b)
            await self.submit(p, "change_venue", venue_id=pick(venues, a), name=f"Renamed {i}", kind=kind)
        elif op == "remove_venue" and len(venues) > 1:
            await self.submit(p, "remove_venue", venue_id=pick(venues, a))
        elif op == "channel":
            await self.submit(p, "open_channel", channel=f"ch{i}", name=f"Net {i}")
        elif op == "member":
            role = pick(ROLES, a)
            venue = pick(venues, b) if role in ("door_staff", "retail_staff") or b % 3 == 0 else None
            if role in ("door_staff", "retail_staff") and venue is None:
                role = "coordinator"
            await self.submit(
                p, "enrol_member", username=f"m{i}", role=role, venue=venue, password_hash="$argon2$h"
            )
        elif op == "revoke_member":
            active = [m for m, r in view.members.items() if r["active"]]
            if active:
                await self.submit(p, "revoke_member", username=pick(active, a))
        elif op == "subject":
            name = None if a % 3 == 0 else f"Person {i}"
            personal = {
                "name": name,
                "aliases": [f"alias{b % 5}"],
                "date_of_birth": None,
                "description": "tall",
            }
            await self.submit(
                p, "register_subject", subject_id=f"s{i}", personal=personal, id_sought=name is None
            )
        elif op == "photo":
            options = [s for s in live_subjects if len(view.subjects[s]["photos"]) < 20]
            if options:
                await self.submit(p, "add_photo", subject_id=pick(options, a), photo_id=f"ph{i}")
        elif op == "identify":
            options = [s for s in live_subjects if view.subjects[s]["id_sought"]]
            if options:
                personal = {
                    "name": f"Known {i}",
                    "aliases": [],
                    "date_of_birth": "1990-01-01",
                    "description": "",
                }
                await self.submit(p, "identify_subject", subject_id=pick(options, a), personal=personal)
        elif op == "erase" and live_subjects:
            await self.submit(p, "erase_subject", subject_id=pick(live_subjects, a), reason="asked")
        elif op == "alert":
            await self.submit(
                p,
                "broadcast_alert",
                pick(USERS, c >> 4),
                alert_id=f"a{i}",
                channel=pick(list(view.channels), a),
                priority=pick(PRIORITIES, b),
                text=f"alert {i}",
                venue=pick([None, *venues], b >> 2),
                location=None if a % 2 else "High St",
                subject_id=pick([None, *subjects], a >> 3),
            )
        elif op == "ack" and view.alerts:
            await self.submit(p, "acknowledge_alert", pick(USERS, b), alert_id=pick(list(view.alerts), a))
        elif op == "close_alert":
            active = [x for x, r in view.alerts.items() if r["status"] == "active"]
            if active:
                note = None if b % 2 else "done"
                await self.submit(
                    p, "close_alert", alert_id=pick(active, a), note=note, cancelled=bool(b % 3 == 0)
                )
        elif op == "incident" and venues:
            await self.submit(
                p,
                "report_incident",
                pick(USERS, c >> 4),
                incident_id=f"i{i}",
                category=pick(CATEGORIES, a),
                venue=pick(venues, b),
                occurred_at=iso(self.now() - timedelta(hours=a % 48)),
                description="what happened",
                loss_value=float(b % 100) / 4,
                subject_ids=some(subjects, b >> 3),
            )
        elif op == "link":
            open_ = [x for x, r in view.incidents.items() if r["status"] == "open"]
            if open_ and subjects:
                await self.submit(
                    p, "link_subject", incident_id=pick(open_, a), subject_id=pick(subjects[:4], b)
                )
        elif op == "crime_ref" and view.incidents:
            reference = f"CR/{b % 3}/26"
            await self.submit(
                p,
                "record_crime_reference",
                incident_id=pick(list(view.incidents), a),
                crime_reference=reference,
            )
        elif op == "close_incident":
            open_ = [x for x, r in view.incidents.items() if r["status"] == "open"]
            if open_:
                await self.submit(p, "close_incident", incident_id=pick(open_, a), outcome=f"outcome {b % 4}")
        elif op == "sighting" and venues:
            await self.submit(
                p,
                "record_sighting",
                Actor("cctv1", "cctv_operator"),
                sighting_id=f"g{i}",
                subject_id=pick([None, *subjects[:4]], a),
                venue=pick(venues, b),
                seen_at=iso(self.now() - timedelta(minutes=a % 600)),
                camera=f"cam{b % 20}",
                note="",
                still_id=None,
            )
        elif op == "warning" and live_subjects:
            await self.submit(
                p,
                "issue_warning",
                warning_id=f"w{i}",
                subject_id=pick(live_subjects[:3], a),  # a few subjects, so second warnings happen
                venues=some(venues, b),
                reason="yellow card",
            )
        elif op == "exclusion" and live_subjects:
            starts = self.now() - timedelta(days=a % 250)
            ends = None if b % 3 == 0 else self.now() + timedelta(days=1 + b % 400)
            await self.submit(
                p,
                "issue_exclusion",
                exclusion_id=f"x{i}",
                subject_id=pick(live_subjects[:4], a >> 2),
                venues=some(venues, b >> 2),
                starts_at=iso(starts),
                ends_at=iso(ends) if ends else None,
                reason="board decision",
            )
        elif op in ("confirm", "serve", "appeal", "revoke"):
            wanted: Callable[[dict[str, Any]], bool] = {
                "confirm": lambda x: x["status"] == "proposed",
                "serve": lambda x: x["status"] == "active" and not x["served"],
                "appeal": lambda x: (
                    x["status"] == "active" and not x["appealed"] and self.may_appeal(view, x)
                ),
                "revoke": lambda x: x["status"] in ("active", "proposed"),
            }[op]
            candidates = [x for x in exclusions if wanted(x)]
            if candidates:
                x = pick(candidates, a)
                args = {"exclusion_id": x["exclusion_id"], "subject_id": x["subject_id"]}
                if op != "confirm":
                    args["note"] = None if b % 2 else "a note"
                await self.submit(p, f"{op}_exclusion", **args)
        elif op == "advance":
            self.clock.advance(timedelta(days=1 + a % 400, minutes=b % 60))
            hub.processors.tick()
            await hub.settle()
        elif op == "retry" and self.submitted:
            q, command, actor, first = pick(self.submitted, a)
            heads = {x: hub.log.head(x) for x in hub.log.partnerships()}
            assert await hub.submit(q, command, actor) == first
            await hub.settle()
            assert {x: hub.log.head(x) for x in hub.log.partnerships()} == heads

    def may_appeal(self, view: Any, exclusion: dict[str, Any]) -> bool:
        """Six months after the exclusion began and after the subject's last incident."""
        subject_id = exclusion["subject_id"]
        times = [parse(exclusion["starts_at"])]
        times += [parse(r["occurred_at"]) for r in view.incidents.values() if subject_id in r["subject_ids"]]
        return self.now() >= max(times) + SIX_MONTHS


def dicts(views: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p: v.to_dict() for p, v in views.items()}


def close(hub: Hub) -> None:
    hub.log.close()
    hub.photos.cipher.keys.close()


async def run_history(folder: Path, clock: FixedClock, ops: list[Step], snapshot_at: int) -> tuple[Any, ...]:
    hub = build(folder, clock)
    deliver(hub, asyncio.get_running_loop())
    runner = Runner(hub, clock)
    saved: bytes | None = None
    saved_heads: dict[str, int] = {}
    try:
        await runner.submit("north", "register_partnership", id="north", name="North", retention_days=365)
        for venue_id, kind in (("pub", "night_time"), ("club", "night_time"), ("shop", "retail")):
            await runner.submit("north", "add_venue", venue_id=venue_id, name=venue_id.title(), kind=kind)
        await runner.submit("north", "open_channel", channel="night", name="Night net")
        for subject_id, name in (("dean", "Dean"), ("kelly", "Kelly"), ("unknown", None)):
            personal: dict[str, Any] = {
                "name": name,
                "aliases": [],
                "date_of_birth": None,
                "description": "seen before",
            }
            await runner.submit(
                "north", "register_subject", subject_id=subject_id, personal=personal, id_sought=name is None
            )
        for index, step in enumerate(ops):
            if index == snapshot_at:
                hub.save_snapshot()
                saved = (folder / "snapshot.json").read_bytes()
                saved_heads = {p: v.position for p, v in hub.views.items()}
            await runner.step(*step)
        await hub.settle()
        views = dicts(hub.views)
        heads = {p: hub.log.head(p) for p in hub.log.partnerships()}
    finally:
        close(hub)
    return views, heads, saved, saved_heads, runner.count


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=steps, snapshot_fraction=st.floats(0, 1))
def test_incremental_views_equal_full_replay_and_snapshot_plus_tail(
    ops: list[Step], snapshot_fraction: float
) -> None:
    snapshot_at = int(snapshot_fraction * len(ops))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clock = FixedClock(START)
        incremental, heads, saved, saved_heads, _ = asyncio.run(run_history(folder, clock, ops, snapshot_at))
        assert all(incremental[p]["position"] == heads[p] for p in heads)
        snapshot = folder / "snapshot.json"

        # (b) a full replay of the log, no snapshot
        snapshot.unlink(missing_ok=True)
        replay = build(folder, clock)
        try:
            assert replay.publisher.published == sum(heads.values())
            assert dicts(replay.views) == incremental
        finally:
            close(replay)

        # (c) the part-way snapshot, then the tail folded on
        if saved is not None:
            snapshot.write_bytes(saved)
            resumed = build(folder, clock)
            try:
                folded = resumed.publisher.published
                assert folded == sum(heads.values()) - sum(saved_heads.get(p, 0) for p in heads)
                assert dicts(resumed.views) == incremental
            finally:
                close(resumed)

        # (d) a restart with processors running re-decides nothing: the log does not grow
        snapshot.unlink(missing_ok=True)

        async def restart() -> dict[str, int]:
            again = build(folder, clock)
            try:
                deliver(again, asyncio.get_running_loop())
                await again.settle()
                assert dicts(again.views) == incremental
                return {p: again.log.head(p) for p in again.log.partnerships()}
            finally:
                close(again)

        assert asyncio.run(restart()) == heads


def test_concurrent_retries_of_one_command_all_get_the_first_answer() -> None:
    """A client that retries (same Idempotency-Key) while its first try is still in flight
    must get the first answer, not a refusal caused by its own first try."""

    async def go(folder: Path) -> list[Any]:
        hub = build(folder, FixedClock(START))
        deliver(hub, asyncio.get_running_loop())
        try:
            register = Submission.of(
                "k1", "register_partnership", {"id": "north", "name": "N", "retention_days": 365}
            )
            venue = Submission.of("k2", "add_venue", {"venue_id": "pub", "name": "Pub", "kind": "retail"})
            answers = []
            for command in (register, venue):
                answers += await asyncio.gather(
                    *(hub.submit("north", command, COORD) for _ in range(3)), return_exceptions=True
                )
            await hub.settle()
            assert hub.log.head("north") == 3
            return answers
        finally:
            close(hub)

    with tempfile.TemporaryDirectory() as tmp:
        answers = asyncio.run(go(Path(tmp)))
    assert answers[:3] == [{"id": "north", "positions": [1, 2]}] * 3
    assert answers[3:] == [{"id": "pub", "positions": [3]}] * 3
