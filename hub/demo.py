"""A demo partnership for `make run`: venues of both kinds, a member of every role,
subjects with photos, an active exclusion and a little history."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from PIL import Image, ImageDraw

from hub.bootstrap import SYSTEM_PARTNERSHIP, Hub
from hub.domain import Actor, iso
from hub.privacy.passwords import hash_password
from schemas.commands import EnrolMember, RegisterPartnership, Submission

PARTNERSHIP = "kingsbridge"
PASSWORD = "demo-password"

VENUES = [
    ("red-lion", "The Red Lion", "night_time"),
    ("vault", "Vault Nightclub", "night_time"),
    ("pharmacy", "High Street Pharmacy", "retail"),
    ("grocer", "Market Square Grocer", "retail"),
    ("control-room", "Town CCTV Control Room", "control_room"),
]

MEMBERS = [
    ("coordinator", "coordinator", None),
    ("door.redlion", "door_staff", "red-lion"),
    ("door.vault", "door_staff", "vault"),
    ("shop.pharmacy", "retail_staff", "pharmacy"),
    ("cctv", "cctv_operator", "control-room"),
    ("pcso", "police", None),
    ("auditor", "auditor", None),
]


def portrait(initials: str, colour: tuple[int, int, int]) -> bytes:
    """A plain drawn head-and-shoulders with initials: no real person's likeness."""
    image = Image.new("RGB", (360, 440), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 70, 250, 230), fill=(235, 205, 180))
    draw.rectangle((80, 250, 280, 440), fill=(60, 60, 70))
    draw.text((160, 320), initials, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


class _Demo:
    """Submits the demo's commands in order, each under its own command id."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.count = 0

    async def run(self, actor: Actor, action: str, p: str = PARTNERSHIP, **args: Any) -> dict[str, Any]:
        self.count += 1
        return await self.hub.submit(p, Submission.of(f"demo-{self.count}", action, args), actor)


ADMIN = Actor("admin", "admin")
COORDINATOR = Actor("coordinator", "coordinator")
SUBJECTS: tuple[tuple[str, str, list[str], str, tuple[int, int, int]], ...] = (
    (
        "dean",
        "Dean Marsh",
        ["Deano"],
        "White male, about 30, shaved head, tattoo on left hand",
        (150, 60, 60),
    ),
    ("kelly", "Kelly Rowe", [], "Female, about 25, long red hair, often in a green parka", (60, 110, 150)),
    ("sam", "Sam Petrie", ["Sammy P"], "Male, about 40, grey beard, walks with a stick", (90, 130, 80)),
)


async def seed(hub: Hub) -> dict[str, Any]:
    """Create the demo once; a second call finds it there and does nothing."""
    if PARTNERSHIP in hub.views:
        return {}
    demo = _Demo(hub)
    await create_admin(hub, "admin", PASSWORD)
    await _set_up(demo)
    subjects = await _subjects(demo)
    await _history(demo, subjects)
    await hub.settle()
    return subjects


async def _set_up(demo: _Demo) -> None:
    run = demo.run
    await run(
        ADMIN, "register_partnership", id=PARTNERSHIP, name="Kingsbridge Town Centre BCRP", retention_days=365
    )
    for venue_id, name, kind in VENUES:
        await run(ADMIN, "add_venue", venue_id=venue_id, name=name, kind=kind)
    await run(ADMIN, "open_channel", channel="night", name="Night-time economy net")
    password_hash = hash_password(PASSWORD)  # one argon2 hash for every demo user: fast to seed
    for username, role, venue in MEMBERS:
        await run(
            ADMIN, "enrol_member", username=username, role=role, venue=venue, password_hash=password_hash
        )


async def _subjects(demo: _Demo) -> dict[str, str]:
    hub, subjects = demo.hub, {}
    for key, name, aliases, description, colour in SUBJECTS:
        subject_id = hub.new_id()
        personal = {"name": name, "aliases": aliases, "date_of_birth": None, "description": description}
        await demo.run(COORDINATOR, "register_subject", subject_id=subject_id, personal=personal)
        photo_id = hub.new_id()
        hub.photos.save(subject_id, photo_id, portrait("".join(w[0] for w in name.split()), colour))
        await demo.run(COORDINATOR, "add_photo", subject_id=subject_id, photo_id=photo_id)
        subjects[key] = subject_id
    return subjects


async def _history(demo: _Demo, subjects: dict[str, str]) -> None:
    """Two exclusions, a yellow card, a shop theft and two alerts on the nets."""
    run, hub = demo.run, demo.hub
    now = hub.clock.now()
    await run(
        COORDINATOR,
        "issue_exclusion",
        exclusion_id=hub.new_id(),
        subject_id=subjects["dean"],
        venues=["red-lion", "vault"],
        starts_at=iso(now - timedelta(days=30)),
        ends_at=iso(now + timedelta(days=335)),
        reason="Violence towards door staff at the Red Lion; board decision",
    )
    await run(
        COORDINATOR,
        "issue_exclusion",
        exclusion_id=hub.new_id(),
        subject_id=subjects["sam"],
        venues=[],
        starts_at=iso(now - timedelta(days=200)),
        ends_at=iso(now + timedelta(days=165)),
        reason="Repeated shop theft across member shops",
    )
    await run(
        COORDINATOR,
        "issue_warning",
        warning_id=hub.new_id(),
        subject_id=subjects["kelly"],
        venues=["pharmacy"],
        reason="Shop theft (cosmetics), first yellow card",
    )
    await run(
        Actor("shop.pharmacy", "retail_staff"),
        "report_incident",
        incident_id=hub.new_id(),
        category="theft",
        venue="pharmacy",
        occurred_at=iso(now - timedelta(hours=5)),
        description="Two fragrance gift sets taken, left towards Market Square",
        loss_value=84.0,
        subject_ids=[subjects["kelly"]],
    )
    await _alerts(demo)


async def _alerts(demo: _Demo) -> None:
    new_id = demo.hub.new_id
    await demo.run(
        Actor("cctv", "cctv_operator"),
        "broadcast_alert",
        alert_id=new_id(),
        channel="main",
        priority="routine",
        text="Town CCTV online for the evening; control room on the main net",
        venue=None,
        location=None,
        subject_id=None,
    )
    await demo.run(
        Actor("door.vault", "door_staff"),
        "broadcast_alert",
        alert_id=new_id(),
        channel="night",
        priority="urgent",
        text="Group of four refused entry at Vault, heading towards the Red Lion",
        venue="vault",
        location="Bridge Street",
        subject_id=None,
    )


async def create_admin(hub: Hub, username: str, password: str) -> dict[str, Any]:
    """The first admin: a member of the hub's own system partnership."""
    actor = Actor(username, "admin")
    if SYSTEM_PARTNERSHIP not in hub.views:
        await hub.submit(
            SYSTEM_PARTNERSHIP,
            Submission(
                f"system:{SYSTEM_PARTNERSHIP}",
                RegisterPartnership(id=SYSTEM_PARTNERSHIP, name="The hub", retention_days=365),
            ),
            actor,
        )
    enrol = EnrolMember(username=username, role="admin", venue=None, password_hash=hash_password(password))
    return await hub.submit(SYSTEM_PARTNERSHIP, Submission(hub.new_id(), enrol), actor)
