"""The clock-driven processors, run by a real hub on a fixed clock: exclusions expire,
warnings lapse and subjects past the retention period are erased, without anyone acting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.bootstrap import Hub, build, deliver
from hub.clock import FixedClock
from hub.domain import Actor, iso
from schemas.commands import Submission

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
COORDINATOR = Actor("coordinator", "coordinator")


async def _hub(folder: Path, clock: FixedClock) -> Hub:
    hub = build(folder, clock)
    deliver(hub, asyncio.get_running_loop())
    for n, (action, args) in enumerate(
        [
            ("register_partnership", {"id": "p", "name": "P", "retention_days": 365}),
            ("add_venue", {"venue_id": "pub", "name": "Pub", "kind": "night_time"}),
        ]
    ):
        await hub.submit("p", Submission.of(f"setup-{n}", action, args), Actor("admin", "admin"))
    return hub


async def _subject(hub: Hub, subject_id: str) -> None:
    personal = {"name": subject_id, "aliases": [], "description": ""}
    args: dict[str, Any] = {"subject_id": subject_id, "personal": personal}
    await hub.submit("p", Submission.of(f"reg-{subject_id}", "register_subject", args), COORDINATOR)


async def _tick(hub: Hub) -> None:
    hub.processors.tick()
    await hub.settle()
    await asyncio.sleep(0.05)
    await hub.settle()


def test_the_clock_expires_lapses_and_erases(tmp_path: Path) -> None:
    async def story() -> Hub:
        clock = FixedClock(T0)
        hub = await _hub(tmp_path, clock)
        await _subject(hub, "kept")
        await _subject(hub, "warned")
        await _subject(hub, "forgotten")
        await hub.submit(
            "p",
            Submission.of(
                "x1",
                "issue_exclusion",
                {
                    "exclusion_id": "x1",
                    "subject_id": "kept",
                    "venues": ["pub"],
                    "reason": "r",
                    "starts_at": iso(T0),
                    "ends_at": iso(T0 + timedelta(days=500)),
                },
            ),
            COORDINATOR,
        )
        await hub.submit(
            "p",
            Submission.of(
                "w1",
                "issue_warning",
                {"warning_id": "w1", "subject_id": "warned", "venues": [], "reason": "r"},
            ),
            COORDINATOR,
        )
        await hub.settle()

        clock.advance(timedelta(days=364))
        await _tick(hub)
        view = hub.views["p"]
        assert not view.warnings["w1"]["lapsed"]
        assert not view.subjects["forgotten"]["erased"]

        clock.advance(timedelta(days=2))
        await _tick(hub)
        assert view.warnings["w1"]["lapsed"], "a warning lapses after 12 months without another"
        assert view.subjects["forgotten"]["erased"], "no exclusion and no activity for the retention period"
        assert hub.queries.personal("p", "forgotten") is None
        assert not view.subjects["kept"]["erased"], "an active exclusion keeps the subject"
        assert view.exclusions["x1"]["status"] == "active"

        clock.advance(timedelta(days=135))
        await _tick(hub)
        assert view.exclusions["x1"]["status"] == "expired", "exclusions expire at their end time"
        return hub

    hub = asyncio.run(story())
    assert hub.log.verify("p").ok
    types = [e["type"] for e in hub.log.read("p")]
    assert types.count("exclusion.expired") == 1
    assert types.count("warning.lapsed") == 1
    hub.log.close()


def test_a_retry_after_its_subject_was_erased_gets_the_first_answer(tmp_path: Path) -> None:
    """The subject's key is gone, so the retry's personal data cannot be sealed again; the
    command was answered before, so the retry gets that answer and writes nothing."""

    async def story() -> tuple[dict[str, Any], dict[str, Any], int, int]:
        hub = await _hub(tmp_path, FixedClock(T0))
        register = Submission.of(
            "reg-once", "register_subject", {"subject_id": "gone", "personal": {"name": "Gone Soon"}}
        )
        first = await hub.submit("p", register, COORDINATOR)
        erase = Submission.of("erase-gone", "erase_subject", {"subject_id": "gone", "reason": "request"})
        await hub.submit("p", erase, COORDINATOR)
        head = hub.log.head("p")
        again = await hub.submit("p", register, COORDINATOR)
        after = hub.log.head("p")
        hub.log.close()
        return first, again, head, after

    first, again, head, after = asyncio.run(story())
    assert again == first
    assert after == head


def test_routine_alerts_close_by_themselves_after_the_partnerships_setting(tmp_path: Path) -> None:
    """Issue 12's `routine alerts never close`: a routine alert closes by itself
    `routine_alert_minutes` after it was posted; urgent ones wait for someone, as does
    every alert of a partnership without the setting."""

    async def story() -> Hub:
        clock = FixedClock(T0)
        hub = build(tmp_path, clock)
        deliver(hub, asyncio.get_running_loop())
        admin = Actor("admin", "admin")
        for p, minutes in (("p", 30), ("q", None)):
            args = {"id": p, "name": p.upper(), "retention_days": 365, "routine_alert_minutes": minutes}
            await hub.submit(p, Submission.of(f"reg-{p}", "register_partnership", args), admin)
        for p, alert_id, priority in (("p", "r1", "routine"), ("p", "u1", "urgent"), ("q", "r2", "routine")):
            body = {"alert_id": alert_id, "priority": priority, "text": "keep an eye out"}
            await hub.submit(p, Submission.of(f"post-{alert_id}", "broadcast_alert", body), COORDINATOR)
        clock.advance(timedelta(minutes=10))
        body = {"alert_id": "r3", "priority": "routine", "text": "later"}
        await hub.submit("p", Submission.of("post-r3", "broadcast_alert", body), COORDINATOR)

        clock.advance(timedelta(minutes=19, seconds=59))
        await _tick(hub)
        assert hub.views["p"].alerts["r1"]["status"] == "active", "not yet 30 minutes"
        clock.advance(timedelta(seconds=1))
        await _tick(hub)
        await _tick(hub)  # due again while it closes: closed once
        p, q = hub.views["p"], hub.views["q"]
        assert p.alerts["r1"]["status"] == "resolved"
        assert p.alerts["r1"]["closed_note"] == "closed by itself 30 minutes after it was posted"
        assert p.alerts["u1"]["status"] == "active" and p.alerts["r3"]["status"] == "active"
        assert q.alerts["r2"]["status"] == "active"
        clock.advance(timedelta(minutes=10))
        await _tick(hub)
        assert p.alerts["r3"]["status"] == "resolved"
        return hub

    hub = asyncio.run(story())
    closes = [e for e in hub.log.read("p") if e["type"] == "alert.resolved"]
    assert [(e["data"]["alert_id"], e["actor"]["user"]) for e in closes] == [("r1", "hub"), ("r3", "hub")]
    hub.log.close()
