"""Bad input against a real `hub serve`: a clear 4xx with a reason, never a 500, and
nothing written (every partnership's head position is the same before and after)."""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.sync.client import ClientConnection, connect

from tests.support import PASSWORD, Server, create

P = "/v1/partnerships/north"
NAIVE = "2026-11-26T21:00:00"  # no timezone


def image(fmt: str = "PNG", size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


class Ctx:
    """Signed-in clients and a few real things in north to aim bad requests at."""

    def __init__(self, server: Server) -> None:
        self.server = server
        users = server.users["north"]  # type: ignore[attr-defined]
        self.users = users
        self.clients = {
            role: server.login(users[role]) for role in ("coordinator", "cctv_operator", "police")
        }
        self.clients["door_staff"] = server.login(users["door_staff"])
        self.clients["admin"] = server.login("admin")
        coordinator = self.clients["coordinator"]
        cctv = self.clients["cctv_operator"]
        self.ids: dict[str, str] = {}
        self.ids["subject"] = create(coordinator, P + "/subjects", {"name": "Alex Example"})["id"]
        self.ids["alert"] = create(cctv, P + "/alerts", {"text": "watch the doors", "priority": "urgent"})[
            "id"
        ]
        self.ids["exclusion"] = create(
            coordinator,
            P + "/exclusions",
            {
                "subject_id": self.ids["subject"],
                "kind": "exclusion",
                "venues": ["north-club"],
                "reason": "board",
            },
        )["id"]
        self.ids["incident"] = create(
            cctv, P + "/incidents", {"category": "theft", "venue": "north-pub", "description": "gin"}
        )["id"]
        answer = coordinator.post(
            P + f"/subjects/{self.ids['subject']}/photos", files={"image": ("a.png", image(), "image/png")}
        )
        assert answer.status_code == 201, answer.text
        self.ids["photo"] = answer.json()["id"]
        self.ids["sighting"] = create(cctv, P + "/sightings", {"venue": "north-shop", "note": "ID sought"})[
            "id"
        ]
        self.ids["venue"] = "north-shop"
        self.settle()

    def positions(self) -> dict[str, int]:
        """Every partnership's head, as the admin sees them, and north's as its coordinator sees it."""
        listed = self.clients["admin"].get("/v1/partnerships")
        assert listed.status_code == 200, listed.text
        heads = {x["id"]: x["position"] for x in listed.json()}
        north = self.clients["coordinator"].get(P)
        assert north.status_code == 200, north.text
        assert north.json()["position"] == heads["north"]
        return heads

    def photo_files(self) -> int:
        folder = self.server.data / "photos"
        return len(list(folder.iterdir())) if folder.exists() else 0

    def footprint(self) -> tuple[dict[str, int], int]:
        return self.positions(), self.photo_files()

    def settle(self) -> None:
        """Wait until processors triggered by the set-up have finished writing."""
        last, quiet_since = self.positions(), time.monotonic()
        while time.monotonic() - quiet_since < 0.5:
            time.sleep(0.1)
            now = self.positions()
            if now != last:
                last, quiet_since = now, time.monotonic()


@pytest.fixture(scope="module")
def ctx(hub_server: Server) -> Ctx:
    return Ctx(hub_server)


@dataclass(frozen=True)
class Bad:
    """One bad request: who sends it, what, and the answer it must get."""

    name: str
    method: str
    path: str
    status: int | tuple[int, ...]
    mention: str | None = None  # text the detail must contain (a field name, for 422s)
    role: str = "coordinator"
    request: Callable[[], dict[str, Any]] = field(default=lambda: {})
    bug: str | None = None  # a known product bug: expected to fail until it is fixed


def j(body: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": body}


def raw(content: bytes | str, kind: str = "application/json") -> Callable[[], dict[str, Any]]:
    return lambda: {"content": content, "headers": {"content-type": kind}}


def upload(name: str, content: Callable[[], bytes], kind: str = "image/png") -> Callable[[], dict[str, Any]]:
    return lambda: {"files": {"image": (name, content(), kind)}}


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def chunked_upload(name: str, size: int) -> dict[str, Any]:
    """A multipart upload streamed without a Content-Length."""
    boundary = "fuzzboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="venue"\r\n\r\nnorth-pub\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    chunks = [head, *([b"\0" * (1024 * 1024)] * (size // (1024 * 1024))), f"\r\n--{boundary}--\r\n".encode()]
    return {"content": iter(chunks), "headers": {"content-type": f"multipart/form-data; boundary={boundary}"}}


ALERT = {"text": "male in a red cap", "priority": "urgent"}
INCIDENT = {"category": "theft", "venue": "north-pub", "description": "two bottles"}
EXCLUDE = {"kind": "exclusion", "venues": [], "reason": "board decision"}
MEMBER = {"username": "newbie", "password": PASSWORD, "role": "door_staff", "venue": "north-pub"}
S = "{subject}"

# where an id sits in a path (each answered 404 for an odd id)
ODD_PATHS = [
    ("GET", "/subjects/{odd}"),
    ("POST", "/alerts/{odd}/ack"),
    ("POST", "/exclusions/{odd}/revoke"),
    ("POST", "/incidents/{odd}/close"),
    ("GET", "/subjects/{{subject}}/photos/{odd}"),
    ("POST", "/members/{odd}/revoke"),
    ("DELETE", "/venues/{odd}"),
]

CASES = [
    # malformed JSON
    Bad("alert, truncated JSON", "POST", P + "/alerts", 422, "json", request=raw('{"text": "x"')),
    Bad("alert, single quotes", "POST", P + "/alerts", 422, "json", request=raw("{'text': 'x'}")),
    Bad(
        "incident, bare words", "POST", P + "/incidents", 422, "json", "cctv_operator", raw("category=theft")
    ),
    Bad(
        "sighting, truncated JSON", "POST", P + "/sightings", 422, "json", "cctv_operator", raw('{"venue": ')
    ),
    Bad(
        "exclusion, trailing comma",
        "POST",
        P + "/exclusions",
        422,
        "json",
        request=raw('{"kind": "warning",}'),
    ),
    Bad(
        "subject, invalid UTF-8",
        "POST",
        P + "/subjects",
        (400, 422),
        None,
        request=raw(b'{"name": "\xff\xfe"}'),
    ),
    Bad("partnership, garbage", "POST", "/v1/partnerships", 422, "json", "admin", raw("}{")),
    Bad("member, NaN", "POST", P + "/members", 422, None, request=raw('{"username": NaN}')),
    Bad("alert, JSON list", "POST", P + "/alerts", 422, None, request=j([ALERT])),
    Bad("alert, JSON string", "POST", P + "/alerts", 422, None, request=j("urgent")),
    Bad("incident, JSON null", "POST", P + "/incidents", 422, None, "cctv_operator", raw("null")),
    Bad("sighting, JSON number", "POST", P + "/sightings", 422, None, "cctv_operator", raw("42")),
    Bad("alert, empty body", "POST", P + "/alerts", 422, None, request=raw("")),
    Bad(
        "alert, deeply nested",
        "POST",
        P + "/alerts",
        (400, 422),
        None,
        request=raw("[" * 20000 + "]" * 20000),
    ),
    Bad(
        "sighting, deeply nested",
        "POST",
        P + "/sightings",
        (400, 422),
        None,
        "cctv_operator",
        raw("[" * 20000 + "]" * 20000),
    ),
    Bad(
        "alert, deeply nested value",
        "POST",
        P + "/alerts",
        (400, 422),
        None,
        request=raw('{"text": ' + "[" * 20000 + "]" * 20000 + "}"),
    ),
    # wrong types
    Bad("alert text a number", "POST", P + "/alerts", 422, "text", request=j({"text": 123})),
    Bad("alert text a list", "POST", P + "/alerts", 422, "text", request=j({"text": ["a"]})),
    Bad(
        "alert priority a number", "POST", P + "/alerts", 422, "priority", request=j({**ALERT, "priority": 5})
    ),
    Bad(
        "alert priority unknown",
        "POST",
        P + "/alerts",
        422,
        "priority",
        request=j({**ALERT, "priority": "extreme"}),
    ),
    Bad("alert channel null", "POST", P + "/alerts", 422, "channel", request=j({**ALERT, "channel": None})),
    Bad(
        "incident loss not a number",
        "POST",
        P + "/incidents",
        422,
        "loss_value",
        "cctv_operator",
        j({**INCIDENT, "loss_value": "lots"}),
    ),
    Bad(
        "incident loss negative",
        "POST",
        P + "/incidents",
        422,
        "loss_value",
        "cctv_operator",
        j({**INCIDENT, "loss_value": -1}),
    ),
    Bad(
        "incident loss huge",
        "POST",
        P + "/incidents",
        422,
        "loss_value",
        "cctv_operator",
        j({**INCIDENT, "loss_value": 1e300}),
    ),
    Bad(
        "incident category unknown",
        "POST",
        P + "/incidents",
        422,
        "category",
        "cctv_operator",
        j({**INCIDENT, "category": "murder"}),
    ),
    Bad(
        "incident subjects a string",
        "POST",
        P + "/incidents",
        422,
        "subject_ids",
        "cctv_operator",
        j({**INCIDENT, "subject_ids": "abc"}),
    ),
    Bad(
        "exclusion venues a string",
        "POST",
        P + "/exclusions",
        422,
        "venues",
        request=j({**EXCLUDE, "subject_id": "s1", "venues": "north-pub"}),
    ),
    Bad(
        "exclusion kind unknown",
        "POST",
        P + "/exclusions",
        422,
        "kind",
        request=j({**EXCLUDE, "subject_id": "s1", "kind": "ban"}),
    ),
    Bad(
        "exclusion subject a number",
        "POST",
        P + "/exclusions",
        422,
        "subject_id",
        request=j({**EXCLUDE, "subject_id": 5}),
    ),
    Bad("sighting venue a number", "POST", P + "/sightings", 422, "venue", "cctv_operator", j({"venue": 5})),
    Bad(
        "sighting seen_at not a date",
        "POST",
        P + "/sightings",
        422,
        "seen_at",
        "cctv_operator",
        j({"venue": "north-pub", "seen_at": "yesterday"}),
    ),
    Bad(
        "member role unknown", "POST", P + "/members", 422, "role", request=j({**MEMBER, "role": "superuser"})
    ),
    Bad(
        "member password short",
        "POST",
        P + "/members",
        422,
        "password",
        request=j({**MEMBER, "password": "x"}),
    ),
    Bad(
        "venue kind unknown",
        "POST",
        P + "/venues",
        422,
        "kind",
        request=j({"id": "castle", "name": "Castle", "kind": "castle"}),
    ),
    Bad(
        "subject date of birth",
        "POST",
        P + "/subjects",
        422,
        "date_of_birth",
        request=j({"name": "A", "date_of_birth": "02/01/1990"}),
    ),
    Bad(
        "subject aliases a string",
        "POST",
        P + "/subjects",
        422,
        "aliases",
        request=j({"name": "A", "aliases": "x"}),
    ),
    Bad(
        "crime reference a number",
        "POST",
        P + "/incidents/{incident}/crime-reference",
        422,
        "crime_reference",
        "police",
        j({"crime_reference": 12}),
    ),
    Bad(
        "link subject with spaces",
        "POST",
        P + "/incidents/{incident}/link-subject",
        422,
        "subject_id",
        request=j({"subject_id": "no such one"}),
    ),
    Bad(
        "partnership retention short",
        "POST",
        "/v1/partnerships",
        422,
        "retention_days",
        "admin",
        j({"id": "east", "name": "E", "retention_days": 5}),
    ),
    Bad(
        "partnership id with a slash",
        "POST",
        "/v1/partnerships",
        422,
        "id",
        "admin",
        j({"id": "east/west", "name": "E"}),
    ),
    Bad(
        "partnership id reserved",
        "POST",
        "/v1/partnerships",
        422,
        "id",
        "admin",
        j({"id": "_system", "name": "E"}),
    ),
    Bad(
        "resolve cancelled not a bool",
        "POST",
        P + "/alerts/{alert}/resolve",
        422,
        "cancelled",
        request=j({"cancelled": "perhaps"}),
    ),
    Bad(
        "exclusion step note a number",
        "POST",
        P + "/exclusions/{exclusion}/serve",
        422,
        "note",
        request=j({"note": 5}),
    ),
    Bad(
        "close outcome empty",
        "POST",
        P + "/incidents/{incident}/close",
        422,
        "outcome",
        request=j({"outcome": ""}),
    ),
    Bad(
        "erase reason empty",
        "POST",
        P + "/subjects/{subject}/erase",
        422,
        "reason",
        request=j({"reason": ""}),
    ),
    Bad(
        "venue change kind unknown", "PATCH", P + "/venues/{venue}", 422, "kind", request=j({"kind": "moon"})
    ),
    # unknown fields
    Bad("alert unknown field", "POST", P + "/alerts", 422, "colour", request=j({**ALERT, "colour": "red"})),
    Bad(
        "incident unknown field",
        "POST",
        P + "/incidents",
        422,
        "severity",
        "cctv_operator",
        j({**INCIDENT, "severity": 9}),
    ),
    Bad(
        "exclusion unknown field",
        "POST",
        P + "/exclusions",
        422,
        "duration",
        request=j({**EXCLUDE, "subject_id": S, "duration": "1y"}),
    ),
    Bad(
        "sighting unknown field",
        "POST",
        P + "/sightings",
        422,
        "drone",
        "cctv_operator",
        j({"venue": "north-pub", "drone": True}),
    ),
    Bad(
        "member unknown field",
        "POST",
        P + "/members",
        422,
        "is_admin",
        request=j({**MEMBER, "is_admin": True}),
    ),
    Bad(
        "partnership unknown field",
        "POST",
        "/v1/partnerships",
        422,
        "owner",
        "admin",
        j({"id": "east", "name": "E", "owner": "me"}),
    ),
    Bad(
        "subject unknown field",
        "POST",
        P + "/subjects",
        422,
        "ethnicity",
        request=j({"name": "A", "ethnicity": "x"}),
    ),
    Bad(
        "resolve unknown field",
        "POST",
        P + "/alerts/{alert}/resolve",
        422,
        "force",
        request=j({"force": True}),
    ),
    # missing required fields
    Bad("alert without text", "POST", P + "/alerts", 422, "text", request=j({"priority": "urgent"})),
    Bad(
        "incident without category",
        "POST",
        P + "/incidents",
        422,
        "category",
        "cctv_operator",
        j({"venue": "north-pub", "description": "x"}),
    ),
    Bad(
        "exclusion without kind",
        "POST",
        P + "/exclusions",
        422,
        "kind",
        request=j({"subject_id": S, "reason": "r"}),
    ),
    Bad(
        "exclusion without reason",
        "POST",
        P + "/exclusions",
        422,
        "reason",
        request=j({"subject_id": S, "kind": "warning"}),
    ),
    Bad(
        "sighting without venue",
        "POST",
        P + "/sightings",
        422,
        "venue",
        "cctv_operator",
        j({"camera": "cam 1"}),
    ),
    Bad(
        "member without password",
        "POST",
        P + "/members",
        422,
        "password",
        request=j({"username": "x", "role": "police"}),
    ),
    Bad("venue without name", "POST", P + "/venues", 422, "name", request=j({"id": "v9", "kind": "retail"})),
    Bad(
        "crime reference missing",
        "POST",
        P + "/incidents/{incident}/crime-reference",
        422,
        "crime_reference",
        "police",
        j({}),
    ),
    Bad(
        "link without subject",
        "POST",
        P + "/incidents/{incident}/link-subject",
        422,
        "subject_id",
        request=j({}),
    ),
    Bad("identify without name", "POST", P + "/subjects/{subject}/identify", 422, "name", request=j({})),
    Bad("channel without id", "POST", P + "/channels", 422, "id", request=j({"name": "Net"})),
    Bad(
        "login without password",
        "POST",
        "/v1/auth/token",
        422,
        "password",
        request=lambda: {"data": {"username": "x"}},
    ),
    # strings too long
    Bad("alert text too long", "POST", P + "/alerts", 422, "text", request=j({"text": "x" * 2001})),
    Bad(
        "alert location too long",
        "POST",
        P + "/alerts",
        422,
        "location",
        request=j({**ALERT, "location": "x" * 201}),
    ),
    Bad(
        "incident description too long",
        "POST",
        P + "/incidents",
        422,
        "description",
        "cctv_operator",
        j({**INCIDENT, "description": "x" * 5001}),
    ),
    Bad("subject name too long", "POST", P + "/subjects", 422, "name", request=j({"name": "x" * 201})),
    Bad(
        "subject too many aliases",
        "POST",
        P + "/subjects",
        422,
        "aliases",
        request=j({"name": "A", "aliases": ["a"] * 21}),
    ),
    Bad(
        "crime reference too long",
        "POST",
        P + "/incidents/{incident}/crime-reference",
        422,
        "crime_reference",
        "police",
        j({"crime_reference": "x" * 65}),
    ),
    Bad(
        "sighting note too long",
        "POST",
        P + "/sightings",
        422,
        "note",
        "cctv_operator",
        j({"venue": "north-pub", "note": "x" * 2001}),
    ),
    Bad(
        "exclusion reason too long",
        "POST",
        P + "/exclusions",
        422,
        "reason",
        request=j({**EXCLUDE, "subject_id": S, "reason": "x" * 2001}),
    ),
    Bad(
        "venue id too long",
        "POST",
        P + "/venues",
        422,
        "id",
        request=j({"id": "v" * 65, "name": "V", "kind": "retail"}),
    ),
    Bad(
        "channel name too long",
        "POST",
        P + "/channels",
        422,
        "name",
        request=j({"id": "c2", "name": "x" * 201}),
    ),
    Bad(
        "login username too long",
        "POST",
        "/v1/auth/token",
        422,
        "username",
        request=lambda: {"data": {"username": "x" * 65, "password": "y"}},
    ),
    # datetimes without a timezone, and impossible ones
    Bad(
        "exclusion starts_at naive",
        "POST",
        P + "/exclusions",
        422,
        "starts_at",
        request=j({**EXCLUDE, "subject_id": S, "starts_at": NAIVE}),
    ),
    Bad(
        "exclusion ends_at naive",
        "POST",
        P + "/exclusions",
        422,
        "ends_at",
        request=j({**EXCLUDE, "subject_id": S, "ends_at": NAIVE}),
    ),
    Bad(
        "exclusion ends before it starts",
        "POST",
        P + "/exclusions",
        (409, 422),
        "ends_at",
        request=j(
            {
                **EXCLUDE,
                "subject_id": S,
                "starts_at": "2026-06-01T00:00:00Z",
                "ends_at": "2026-01-01T00:00:00Z",
            }
        ),
    ),
    Bad(
        "exclusion starts_at not a date",
        "POST",
        P + "/exclusions",
        422,
        "starts_at",
        request=j({**EXCLUDE, "subject_id": S, "starts_at": "2026-13-45T99:00:00Z"}),
    ),
    Bad(
        "sighting seen_at naive",
        "POST",
        P + "/sightings",
        422,
        "seen_at",
        "cctv_operator",
        j({"venue": "north-pub", "seen_at": NAIVE}),
    ),
    Bad(
        "incident occurred_at naive",
        "POST",
        P + "/incidents",
        422,
        "occurred_at",
        "cctv_operator",
        j({**INCIDENT, "occurred_at": NAIVE}),
    ),
    Bad(
        "sighting form seen_at naive",
        "POST",
        P + "/sightings",
        422,
        "seen_at",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub", "seen_at": NAIVE},
            "files": {"still": ("s.png", image(), "image/png")},
        },
    ),
    Bad(
        "audit state as_of naive",
        "GET",
        P + "/audit/state",
        422,
        "timezone",
        request=lambda: {"params": {"as_of": NAIVE}},
    ),
    Bad(
        "audit events since naive",
        "GET",
        P + "/audit/events",
        422,
        "since",
        request=lambda: {"params": {"since": NAIVE}},
    ),
    Bad(
        "audit events until naive",
        "GET",
        P + "/audit/events",
        422,
        "until",
        request=lambda: {"params": {"until": NAIVE}},
    ),
    # things that do not exist in the partnership
    Bad(
        "alert at unknown venue",
        "POST",
        P + "/alerts",
        (404, 409, 422),
        "venue",
        request=j({**ALERT, "venue": "nowhere"}),
    ),
    Bad(
        "alert on unknown channel",
        "POST",
        P + "/alerts",
        (404, 409, 422),
        "channel",
        request=j({**ALERT, "channel": "nonet"}),
    ),
    Bad(
        "alert about unknown subject",
        "POST",
        P + "/alerts",
        (404, 422),
        "subject",
        request=j({**ALERT, "subject_id": "nobody"}),
    ),
    Bad(
        "incident at unknown venue",
        "POST",
        P + "/incidents",
        (404, 409, 422),
        "venue",
        "cctv_operator",
        j({**INCIDENT, "venue": "nowhere"}),
    ),
    Bad(
        "incident with unknown subject",
        "POST",
        P + "/incidents",
        (404, 422),
        "subject",
        "cctv_operator",
        j({**INCIDENT, "subject_ids": ["nobody"]}),
    ),
    Bad(
        "sighting at unknown venue",
        "POST",
        P + "/sightings",
        (404, 422),
        "venue",
        "cctv_operator",
        j({"venue": "nowhere"}),
    ),
    Bad(
        "sighting of unknown subject",
        "POST",
        P + "/sightings",
        (404, 422),
        "subject",
        "cctv_operator",
        j({"venue": "north-pub", "subject_id": "nobody"}),
    ),
    Bad(
        "exclusion of unknown subject",
        "POST",
        P + "/exclusions",
        (404, 422),
        "subject",
        request=j({**EXCLUDE, "subject_id": "nobody"}),
    ),
    Bad(
        "exclusion at unknown venue",
        "POST",
        P + "/exclusions",
        (404, 409, 422),
        "venue",
        request=j({**EXCLUDE, "subject_id": S, "venues": ["nowhere"]}),
    ),
    Bad(
        "link unknown subject",
        "POST",
        P + "/incidents/{incident}/link-subject",
        (404, 422),
        "subject",
        request=j({"subject_id": "nobody"}),
    ),
    Bad(
        "member at unknown venue",
        "POST",
        P + "/members",
        (404, 409, 422),
        "venue",
        request=j({**MEMBER, "username": "lost1", "venue": "nowhere"}),
    ),
    Bad(
        "door staff without a venue",
        "POST",
        P + "/members",
        (409, 422),
        "venue",
        request=j({**MEMBER, "username": "lost2", "venue": None}),
    ),
    Bad(
        "member name taken",
        "POST",
        P + "/members",
        409,
        "taken",
        request=lambda: {"json": {**MEMBER, "username": "north.police"}},
    ),
    Bad(
        "partnership already registered",
        "POST",
        "/v1/partnerships",
        409,
        "north",
        "admin",
        j({"id": "north", "name": "Again"}),
    ),
    Bad(
        "venue already exists",
        "POST",
        P + "/venues",
        409,
        "north-pub",
        request=j({"id": "north-pub", "name": "Pub", "kind": "retail"}),
    ),
    Bad(
        "channel already open",
        "POST",
        P + "/channels",
        409,
        "main",
        request=j({"id": "main", "name": "Main"}),
    ),
    Bad(
        "identify a known subject",
        "POST",
        P + "/subjects/{subject}/identify",
        409,
        "identified",
        request=j({"name": "Again"}),
    ),
    # unknown ids in the path
    Bad("ack unknown alert", "POST", P + "/alerts/nope/ack", 404, "nope"),
    Bad("resolve unknown alert", "POST", P + "/alerts/nope/resolve", 404, "nope"),
    Bad("get unknown subject", "GET", P + "/subjects/nope", 404, "nope"),
    Bad(
        "photo for unknown subject",
        "POST",
        P + "/subjects/nope/photos",
        404,
        "nope",
        request=upload("a.png", image),
    ),
    Bad(
        "identify unknown subject",
        "POST",
        P + "/subjects/nope/identify",
        404,
        "nope",
        request=j({"name": "X"}),
    ),
    Bad("export unknown subject", "GET", P + "/subjects/nope/export", 404, "nope"),
    Bad("erase unknown subject", "POST", P + "/subjects/nope/erase", 404, "nope"),
    Bad("unknown photo", "GET", P + "/subjects/{subject}/photos/nope", 404, "nope"),
    Bad(
        "photo of the wrong size",
        "GET",
        P + "/subjects/{subject}/photos/{photo}",
        422,
        "size",
        request=lambda: {"params": {"size": "../../keys.db"}},
    ),
    Bad("step on unknown exclusion", "POST", P + "/exclusions/nope/serve", 404, "nope"),
    Bad("unknown step", "POST", P + "/exclusions/{exclusion}/explode", 422, "step"),
    Bad("get unknown incident", "GET", P + "/incidents/nope", 404, "nope"),
    Bad(
        "crime reference unknown incident",
        "POST",
        P + "/incidents/nope/crime-reference",
        404,
        "nope",
        "police",
        j({"crime_reference": "CR1"}),
    ),
    Bad(
        "link unknown incident",
        "POST",
        P + "/incidents/nope/link-subject",
        404,
        "nope",
        request=j({"subject_id": S}),
    ),
    Bad("close unknown incident", "POST", P + "/incidents/nope/close", 404, "nope"),
    Bad("still of unknown sighting", "GET", P + "/sightings/nope/still", 404, "nope"),
    Bad("still of a sighting without one", "GET", P + "/sightings/{sighting}/still", 404, "still"),
    Bad("revoke unknown member", "POST", P + "/members/nope/revoke", 404, "nope"),
    Bad("change unknown venue", "PATCH", P + "/venues/nope", 404, "nope", request=j({"name": "X"})),
    Bad("remove unknown venue", "DELETE", P + "/venues/nope", 404, "nope"),
    Bad("admin: unknown partnership", "GET", "/v1/partnerships/nope", 404, "nope", "admin"),
    Bad(
        "admin: venue in unknown partnership",
        "POST",
        "/v1/partnerships/nope/venues",
        404,
        "nope",
        "admin",
        j({"id": "v1", "name": "V", "kind": "retail"}),
    ),
    Bad(
        "admin: member in unknown partnership",
        "POST",
        "/v1/partnerships/nope/members",
        404,
        "nope",
        "admin",
        j({**MEMBER, "username": "ghost", "venue": None, "role": "police"}),
    ),
    Bad(
        "admin: channel in unknown partnership",
        "POST",
        "/v1/partnerships/nope/channels",
        404,
        "nope",
        "admin",
        j({"id": "c", "name": "C"}),
    ),
    Bad(
        "admin: revoke in unknown partnership",
        "POST",
        "/v1/partnerships/nope/members/x/revoke",
        404,
        "nope",
        "admin",
    ),
    Bad(
        "admin: change venue in unknown partnership",
        "PATCH",
        "/v1/partnerships/nope/venues/v",
        404,
        "nope",
        "admin",
        j({"name": "X"}),
    ),
    Bad("member: unknown partnership", "GET", "/v1/partnerships/nope/alerts", 403, "nope"),
    # path ids with odd characters
    *[
        Bad(f"odd id {label}: {method} {path}", method, P + path.format(odd=odd), 404)
        for label, odd in [
            ("dot-dot", "..%2E"),
            ("encoded slash", "a%2Fb"),
            ("nul", "%00"),
            ("space", "a%20b"),
            ("emoji", "%F0%9F%92%A5"),
            ("sql", "%27%20OR%201%3D1%20--"),
            ("html", "%3Cscript%3E"),
            ("long", "x" * 2000),
            ("bad utf-8", "%FF%FE"),
        ]
        for method, path in ODD_PATHS
    ],
    Bad("odd partnership, member", "GET", "/v1/partnerships/%00%FF/alerts", (403, 404), None),
    Bad("odd partnership, admin", "GET", "/v1/partnerships/..%2E", 404, None, "admin"),
    # query parameters of the wrong type
    Bad(
        "alerts active not a bool",
        "GET",
        P + "/alerts",
        422,
        "active",
        request=lambda: {"params": {"active": "maybe"}},
    ),
    Bad(
        "alerts limit not a number",
        "GET",
        P + "/alerts",
        422,
        "limit",
        request=lambda: {"params": {"limit": "lots"}},
    ),
    Bad("alerts limit zero", "GET", P + "/alerts", 422, "limit", request=lambda: {"params": {"limit": 0}}),
    Bad(
        "alerts limit huge", "GET", P + "/alerts", 422, "limit", request=lambda: {"params": {"limit": 10**30}}
    ),
    Bad(
        "events from not a number",
        "GET",
        P + "/audit/events",
        422,
        "from_position",
        request=lambda: {"params": {"from_position": "x"}},
    ),
    Bad(
        "events from zero",
        "GET",
        P + "/audit/events",
        422,
        "from_position",
        request=lambda: {"params": {"from_position": 0}},
    ),
    Bad(
        "events to before from",
        "GET",
        P + "/audit/events",
        422,
        "to_position",
        request=lambda: {"params": {"from_position": 5, "to_position": 2}},
    ),
    Bad(
        "events since not a date",
        "GET",
        P + "/audit/events",
        422,
        "since",
        request=lambda: {"params": {"since": "last week"}},
    ),
    Bad(
        "state as_of not a date",
        "GET",
        P + "/audit/state",
        422,
        "as_of",
        request=lambda: {"params": {"as_of": "then"}},
    ),
    Bad(
        "state position negative",
        "GET",
        P + "/audit/state",
        422,
        "position",
        request=lambda: {"params": {"position": -1}},
    ),
    Bad(
        "state position not a number",
        "GET",
        P + "/audit/state",
        422,
        "position",
        request=lambda: {"params": {"position": "1.5"}},
    ),
    Bad(
        "gallery status unknown",
        "GET",
        P + "/exclusions",
        422,
        "status",
        request=lambda: {"params": {"status": "bogus"}},
    ),
    # Idempotency-Key
    Bad(
        "idempotency key too long",
        "POST",
        P + "/alerts",
        400,
        "Idempotency-Key",
        request=lambda: {"json": ALERT, "headers": {"Idempotency-Key": "k" * 201}},
    ),
    Bad(
        "idempotency key empty",
        "POST",
        P + "/alerts",
        400,
        "Idempotency-Key",
        request=lambda: {"json": ALERT, "headers": {"Idempotency-Key": ""}},
    ),
    Bad(
        "idempotency key with a tab",
        "POST",
        P + "/alerts",
        400,
        "Idempotency-Key",
        request=lambda: {"json": ALERT, "headers": {"Idempotency-Key": "a\tb"}},
    ),
    Bad(
        "idempotency key too long, id-sought",
        "POST",
        P + "/sightings",
        400,
        "Idempotency-Key",
        "cctv_operator",
        lambda: {"json": {"venue": "north-pub"}, "headers": {"Idempotency-Key": "k" * 201}},
    ),
    Bad(
        "idempotency key too long, photo",
        "POST",
        P + "/subjects/{subject}/photos",
        400,
        "Idempotency-Key",
        request=lambda: {
            "files": {"image": ("a.png", image(), "image/png")},
            "headers": {"Idempotency-Key": "k" * 201},
        },
    ),
    Bad(
        "idempotency key too long, still",
        "POST",
        P + "/sightings",
        400,
        "Idempotency-Key",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub"},
            "files": {"still": ("s.png", image(), "image/png")},
            "headers": {"Idempotency-Key": "k" * 201},
        },
    ),
    # oversized bodies
    Bad(
        "alert body over 64 KiB",
        "POST",
        P + "/alerts",
        413,
        "larger",
        request=j({"text": "x", "location": "y" * 70_000}),
    ),
    Bad(
        "incident body over 64 KiB, chunked",
        "POST",
        P + "/incidents",
        413,
        "larger",
        "cctv_operator",
        lambda: {
            "content": iter([b'{"description": "', b"x" * 40_000, b"y" * 40_000, b'"}']),
            "headers": {"content-type": "application/json"},
        },
    ),
    Bad(
        "sighting body over 64 KiB, chunked",
        "POST",
        P + "/sightings",
        413,
        "larger",
        "cctv_operator",
        lambda: {
            "content": iter([b'{"note": "', b"x" * 70_000, b'"}']),
            "headers": {"content-type": "application/json"},
        },
    ),
    Bad(
        "upload over the body limit, chunked",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "larger",
        request=lambda: chunked_upload("image", 10 * 1024 * 1024),
    ),
    Bad(
        "still over the body limit, chunked",
        "POST",
        P + "/sightings",
        413,
        "larger",
        "cctv_operator",
        lambda: chunked_upload("still", 10 * 1024 * 1024),
    ),
    # images
    Bad(
        "photo over 8 MiB",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "MB",
        request=upload("big.png", lambda: image() + b"\0" * (8 * 1024 * 1024)),
    ),
    Bad(
        "upload over the body limit",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "larger",
        request=upload("huge.png", lambda: b"\0" * (10 * 1024 * 1024)),
    ),
    Bad(
        "photo with too many pixels",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "pixels",
        request=upload("wide.png", lambda: image(size=(8000, 6000), mode="1")),
    ),
    Bad(
        "photo header declaring too many pixels",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "pixels",
        request=upload("bomb.png", lambda: png_header(7000, 7000)),
    ),
    Bad(
        "photo header declaring a decompression bomb",
        "POST",
        P + "/subjects/{subject}/photos",
        413,
        "pixels",
        request=upload("bomb.png", lambda: png_header(20000, 20000)),
    ),
    Bad(
        "photo that is not an image",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "image",
        request=upload("notes.png", lambda: b"hello, this is text"),
    ),
    Bad(
        "photo that is a PDF",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "image",
        request=upload("doc.pdf", lambda: b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj", "application/pdf"),
    ),
    Bad(
        "photo in GIF",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "GIF",
        request=upload("a.gif", lambda: image("GIF"), "image/gif"),
    ),
    Bad(
        "photo truncated",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "image",
        request=upload("cut.png", lambda: image(size=(400, 300))[:200]),
    ),
    Bad(
        "photo empty",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "empty",
        request=upload("empty.png", lambda: b""),
    ),
    Bad(
        "photo field missing",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "image",
        request=lambda: {"files": {"picture": ("a.png", image(), "image/png")}},
    ),
    Bad(
        "photo sent as JSON",
        "POST",
        P + "/subjects/{subject}/photos",
        422,
        "image",
        request=j({"image": "aGVsbG8="}),
    ),
    Bad(
        "still not an image",
        "POST",
        P + "/sightings",
        422,
        "image",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub", "subject_id": "{subject}"},
            "files": {"still": ("s.png", b"not an image", "image/png")},
        },
    ),
    Bad(
        "still not an image, id-sought",
        "POST",
        P + "/sightings",
        422,
        "image",
        "cctv_operator",
        lambda: {"data": {"venue": "north-pub"}, "files": {"still": ("s.png", b"not an image", "image/png")}},
    ),
    Bad(
        "still too many pixels, id-sought",
        "POST",
        P + "/sightings",
        413,
        "pixels",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub"},
            "files": {"still": ("s.png", image(size=(8000, 6000), mode="1"), "image/png")},
        },
    ),
    Bad(
        "still empty, id-sought",
        "POST",
        P + "/sightings",
        422,
        "empty",
        "cctv_operator",
        lambda: {"data": {"venue": "north-pub"}, "files": {"still": ("s.png", b"", "image/png")}},
    ),
    Bad(
        "still over 8 MiB",
        "POST",
        P + "/sightings",
        413,
        "MB",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub"},
            "files": {"still": ("s.png", b"\0" * (8 * 1024 * 1024 + 1), "image/png")},
        },
    ),
    Bad(
        "sighting form unknown field",
        "POST",
        P + "/sightings",
        422,
        "drone",
        "cctv_operator",
        lambda: {
            "data": {"venue": "north-pub", "drone": "yes"},
            "files": {"attachment": ("a.txt", b"x", "text/plain")},
        },
    ),
]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(ctx: Ctx) -> None:
    """Content-Length of 100 GB with no body sent: 413 at once, not a wait for the body."""
    import socket as sockets

    before = ctx.footprint()
    auth = ctx.clients["coordinator"].headers["authorization"]
    head = (
        f"POST {P}/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}"
    )
    with sockets.create_connection(("127.0.0.1", ctx.server.port), timeout=10) as connection:
        connection.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer[:300]
    assert b"larger" in rest.split(b"\r\n\r\n", 1)[1]
    assert ctx.footprint() == before


def fill(value: Any, ids: dict[str, str]) -> Any:
    """Put the context's ids into {placeholders} in strings, dicts and lists."""
    if isinstance(value, str):
        for key, id_ in ids.items():
            value = value.replace("{" + key + "}", id_)
        return value
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def send(ctx: Ctx, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return client.request(method, path, **kwargs)


def assert_refused(answer: httpx.Response, status: int | tuple[int, ...], mention: str | None) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in statuses, f"{answer.status_code} {answer.text[:600]}"
    assert answer.headers["content-type"].startswith("application/json"), answer.headers["content-type"]
    detail = answer.json()["detail"]
    assert detail, answer.text
    if mention:
        assert mention.lower() in json.dumps(detail).lower(), f"{mention!r} not in {detail!r}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else [])
        for c in CASES
    ],
)
def test_bad_request_is_refused_and_writes_nothing(ctx: Ctx, case: Bad) -> None:
    before = ctx.footprint()
    request = case.request()
    request = {k: (fill(v, ctx.ids) if k in ("json", "data") else v) for k, v in request.items()}
    answer = ctx.clients[case.role].request(case.method, fill(case.path, ctx.ids), **request)
    assert_refused(answer, case.status, case.mention)
    assert ctx.footprint() == before, "a refused request wrote something"


def test_the_same_requests_made_well_are_accepted(ctx: Ctx) -> None:
    """Control: the good versions of the bodies above do write (so 'nothing written' means something)."""
    before = ctx.positions()["north"]
    create(ctx.clients["coordinator"], P + "/alerts", ALERT, headers={"Idempotency-Key": "k" * 200})
    create(ctx.clients["cctv_operator"], P + "/incidents", INCIDENT)
    create(ctx.clients["cctv_operator"], P + "/sightings", {"venue": "north-pub", "seen_at": NAIVE + "Z"})
    ctx.settle()
    assert ctx.positions()["north"] > before


# -- the live socket ------------------------------------------------------------------------


def first_message_refused(ctx: Ctx, message: str | bytes) -> None:
    before = ctx.footprint()
    with connect(ctx.server.ws_url, open_timeout=10) as socket:
        socket.send(message)
        reply = json.loads(socket.recv(timeout=10))
        assert reply["op"] == "error" and reply["detail"], reply
        with pytest.raises(Exception) as closed:
            socket.recv(timeout=10)
        assert getattr(getattr(closed.value, "rcvd", None), "code", None) == 1008, closed.value
    assert ctx.footprint() == before


def token(ctx: Ctx, role: str = "door_staff") -> str:
    return ctx.clients[role].headers["authorization"].split(" ", 1)[1]


HELLOS: list[tuple[str, Callable[[Ctx], str | bytes]]] = [
    ("not JSON", lambda c: "hello there"),
    ("empty", lambda c: ""),
    ("binary", lambda c: b"\x00\x01hello"),
    ("JSON list", lambda c: "[]"),
    ("JSON string", lambda c: '"hello"'),
    ("an ack first", lambda c: json.dumps({"op": "ack", "alert_id": c.ids["alert"]})),
    ("op missing", lambda c: json.dumps({"token": token(c)})),
    ("bad token", lambda c: json.dumps({"op": "hello", "token": "not.a.token"})),
    ("token a number", lambda c: json.dumps({"op": "hello", "token": 12345})),
    ("token missing", lambda c: json.dumps({"op": "hello", "since": {}})),
    ("since a list", lambda c: json.dumps({"op": "hello", "token": token(c), "since": ["north"]})),
    ("since a string", lambda c: json.dumps({"op": "hello", "token": token(c), "since": "north"})),
    (
        "since position a string",
        lambda c: json.dumps({"op": "hello", "token": token(c), "since": {"north": "5"}}),
    ),
    (
        "since position negative",
        lambda c: json.dumps({"op": "hello", "token": token(c), "since": {"north": -1}}),
    ),
    (
        "since position a bool",
        lambda c: json.dumps({"op": "hello", "token": token(c), "since": {"north": True}}),
    ),
    (
        "since position a float",
        lambda c: json.dumps({"op": "hello", "token": token(c), "since": {"north": 1.5}}),
    ),
    (
        "since unknown partnership",
        lambda c: json.dumps({"op": "hello", "token": token(c), "since": {"atlantis": 0}}),
    ),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=name) for name, m in HELLOS])
def test_live_refuses_a_bad_hello(ctx: Ctx, make: Callable[[Ctx], str | bytes]) -> None:
    first_message_refused(ctx, make(ctx))


def replies(socket: ClientConnection) -> Iterator[dict[str, Any]]:
    """Frames from the socket that are not event frames."""
    while True:
        frame = json.loads(socket.recv(timeout=10))
        if frame.get("op") != "event":
            yield frame


GARBAGE: list[str] = [
    "not json at all",
    "",
    "[]",
    "42",
    "null",
    '{"op": "subscribe", "partnership": "south"}',
    '{"op": "hello", "token": "x"}',
    '{"op": "ack"}',
    '{"op": "ack", "alert_id": 5}',
    '{"op": "ack", "alert_id": ""}',
    '{"op": "ack", "alert_id": "no-such-alert"}',
    '{"op": "ack", "alert_id": ["a"]}',
    '{"op": "ack", "alert_id": "ALERT", "partnership": "south"}',
    "{" * 5000,
    "[" * 20000 + "]" * 20000,
]


def test_live_garbage_after_hello_gets_error_frames_and_the_socket_stays_usable(ctx: Ctx) -> None:
    head = ctx.positions()["north"]
    alert = create(ctx.clients["cctv_operator"], P + "/alerts", {"text": "ack me", "priority": "routine"})[
        "id"
    ]
    ctx.settle()
    before = ctx.footprint()
    with connect(ctx.server.ws_url, open_timeout=10, max_size=None) as socket:
        socket.send(json.dumps({"op": "hello", "token": token(ctx), "since": {"north": head}}))
        welcome = json.loads(socket.recv(timeout=10))
        assert welcome["op"] == "welcome"
        answers = replies(socket)
        for message in GARBAGE:
            socket.send(message.replace("ALERT", alert))
            reply = next(answers)
            assert reply["op"] == "error" and reply["detail"], (message[:80], reply)
        assert ctx.footprint() == before, "garbage on the live socket wrote something"
        # still usable: an ack is recorded and answered
        socket.send(json.dumps({"op": "ack", "alert_id": alert}))
        reply = next(answers)
        assert reply["op"] == "acked" and reply["alert_id"] == alert, reply
    assert ctx.positions()["north"] == before[0]["north"] + 1


def test_live_message_over_the_frame_limit_closes_1009_and_writes_nothing(ctx: Ctx) -> None:
    head = ctx.positions()["north"]
    before = ctx.footprint()
    with connect(ctx.server.ws_url, open_timeout=10) as socket:
        socket.send(json.dumps({"op": "hello", "token": token(ctx), "since": {"north": head}}))
        assert json.loads(socket.recv(timeout=10))["op"] == "welcome"
        socket.send(json.dumps({"op": "ack", "alert_id": "x" * 70_000}))
        with pytest.raises(Exception) as closed:
            while True:
                socket.recv(timeout=10)
        assert getattr(getattr(closed.value, "rcvd", None), "code", None) == 1009, closed.value
    assert ctx.footprint() == before


def test_live_binary_frame_after_hello_gets_an_error_frame(ctx: Ctx) -> None:
    head = ctx.positions()["north"]
    before = ctx.footprint()
    with connect(ctx.server.ws_url, open_timeout=10) as socket:
        socket.send(json.dumps({"op": "hello", "token": token(ctx), "since": {"north": head}}))
        assert json.loads(socket.recv(timeout=10))["op"] == "welcome"
        answers = replies(socket)
        socket.send(b"\x00\xff binary")
        assert next(answers)["op"] == "error"
        socket.send("still there?")
        assert next(answers)["op"] == "error"
    assert ctx.footprint() == before


# -- fuzz: random malformed bodies against every POST endpoint -----------------------------

FUZZ_SEED = 20261126
FUZZ_ROUNDS = 200

# (path, role, a valid body): the mutations below always make it invalid
FUZZ_TARGETS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/v1/partnerships", "admin", {"id": "fuzzland", "name": "Fuzz", "retention_days": 365}),
    ("POST", P + "/venues", "coordinator", {"id": "fuzz-venue", "name": "Fuzz", "kind": "retail"}),
    ("PATCH", P + "/venues/{venue}", "coordinator", {"name": "Fuzz", "kind": "retail"}),
    ("POST", P + "/channels", "coordinator", {"id": "fuzz", "name": "Fuzz net"}),
    ("POST", P + "/members", "coordinator", {**MEMBER, "username": "fuzzer"}),
    (
        "POST",
        P + "/alerts",
        "cctv_operator",
        {**ALERT, "venue": "north-pub", "location": "High St", "subject_id": S},
    ),
    ("POST", P + "/alerts/{alert}/resolve", "coordinator", {"note": "done", "cancelled": False}),
    (
        "POST",
        P + "/subjects",
        "coordinator",
        {"name": "F", "aliases": ["f"], "date_of_birth": "1990-01-01", "description": "d"},
    ),
    (
        "POST",
        P + "/subjects/{subject}/identify",
        "coordinator",
        {"name": "F", "aliases": [], "date_of_birth": None},
    ),
    ("POST", P + "/subjects/{subject}/erase", "coordinator", {"reason": "request"}),
    (
        "POST",
        P + "/exclusions",
        "coordinator",
        {**EXCLUDE, "subject_id": S, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
    ),
    ("POST", P + "/exclusions/{exclusion}/serve", "coordinator", {"note": "served"}),
    (
        "POST",
        P + "/sightings",
        "cctv_operator",
        {
            "subject_id": S,
            "venue": "north-pub",
            "seen_at": "2026-01-01T00:00:00Z",
            "camera": "c",
            "note": "n",
        },
    ),
    (
        "POST",
        P + "/incidents",
        "cctv_operator",
        {**INCIDENT, "occurred_at": "2026-01-01T00:00:00Z", "loss_value": 3.5, "subject_ids": [S]},
    ),
    ("POST", P + "/incidents/{incident}/crime-reference", "police", {"crime_reference": "CR/1"}),
    ("POST", P + "/incidents/{incident}/link-subject", "coordinator", {"subject_id": S}),
    ("POST", P + "/incidents/{incident}/close", "coordinator", {"outcome": "done"}),
]

WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    10**40,
    1.5,
    -1e308,
    float("inf"),
    "",
    " ",
    "x" * 3000,
    "\u0000",
    "\ud7ff\ue000",
    "💥" * 50,
    "'; DROP TABLE events; --",
    "{subject}",
    [],
    [None],
    [[["deep"]]],
    {},
    {"$ne": 1},
    ["x"] * 300,
    "2026-02-30T25:61:00",
    "NaN",
]


def weird(rng: random.Random) -> Any:
    value = rng.choice(WEIRD)
    if isinstance(value, float) and value == float("inf"):
        return "inf"  # JSON has no infinity: send the text instead
    return value


def malformed(rng: random.Random, valid: dict[str, Any]) -> bytes:
    """A body that must be refused: broken JSON, not an object, or an object with an
    unknown field or a field of a type no model accepts, plus random damage."""
    text = json.dumps(valid)
    kind = rng.randrange(6)
    if kind == 0:  # a strict, non-empty prefix of an object is never valid JSON
        return text[: rng.randrange(1, len(text))].encode()
    if kind == 1:  # random bytes that are not UTF-8
        return b"\xff" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    if kind == 2:  # valid JSON, but not an object (and not null)
        return json.dumps(rng.choice([[], [valid], 0, 1.25, "text", True, False, [None]])).encode()
    body = dict(valid)
    for _ in range(rng.randrange(0, 4)):
        key = rng.choice(list(valid))
        if rng.random() < 0.3:
            body.pop(key, None)
        else:
            body[key] = weird(rng)
    if kind in (3, 4):  # an unknown field: every model forbids them
        body[f"zz_{rng.randrange(10**6)}"] = weird(rng)
    else:  # an object where a value is expected, which no field accepts
        body[rng.choice(list(valid))] = {"nested": weird(rng)}
    encoded = json.dumps(body)
    if rng.random() < 0.2:  # and sometimes a broken tail too
        encoded = encoded[:-1] + rng.choice([",", "]", "}}", "\x00", ""])
    return encoded.encode()


@pytest.mark.parametrize(
    ("method", "path", "role", "valid"),
    [pytest.param(*t, id=f"{t[0]} {t[1]}") for t in FUZZ_TARGETS],
)
def test_fuzz_malformed_bodies(ctx: Ctx, method: str, path: str, role: str, valid: dict[str, Any]) -> None:
    rng = random.Random(f"{FUZZ_SEED}:{method}:{path}")
    client = ctx.clients[role]
    url = fill(path, ctx.ids)
    valid = fill(valid, ctx.ids)
    before = ctx.footprint()
    seen: dict[int, int] = {}
    for _ in range(FUZZ_ROUNDS):
        body = malformed(rng, valid)
        answer = client.request(method, url, content=body, headers={"content-type": "application/json"})
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert 400 <= answer.status_code < 500 and answer.status_code not in (401, 403), (
            f"{answer.status_code} for {body[:300]!r}: {answer.text[:300]}"
        )
        assert answer.json()["detail"], answer.text
    assert ctx.footprint() == before, f"a malformed body wrote something (answers: {seen})"


def test_fuzz_uploads(ctx: Ctx) -> None:
    """Random bytes, damaged images and lies about the type: refused as images, nothing kept."""
    rng = random.Random(FUZZ_SEED)
    good = image(size=(64, 48))
    url = fill(P + "/subjects/{subject}/photos", ctx.ids)
    before = ctx.footprint()
    for _ in range(FUZZ_ROUNDS):
        kind = rng.randrange(3)
        if kind == 0:
            content = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        elif kind == 1:  # a real PNG cut short
            content = good[: rng.randrange(1, len(good) - 20)]
        else:  # a real PNG with its header damaged
            damaged = bytearray(good)
            damaged[rng.randrange(0, 16)] ^= 0xFF
            content = bytes(damaged)
        answer = ctx.clients["coordinator"].post(
            url, files={"image": ("x.png", content, rng.choice(["image/png", "image/jpeg", "text/plain"]))}
        )
        assert answer.status_code in (413, 422), f"{answer.status_code}: {answer.text[:300]}"
        assert answer.json()["detail"]
    assert ctx.footprint() == before
