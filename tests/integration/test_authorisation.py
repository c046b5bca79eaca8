"""The role matrix of DESIGN.md ("Security"), enforced by a real `hub serve`.

One table-driven test runs every endpoint as every role, in the user's own partnership
('north') and in another one ('south'): allowed answers 2xx, forbidden answers 403, and
another partnership is 403 for everyone but the admin. Then the live socket, tokens
(missing, expired, tampered, foreign, revoked) and door staff's venue scope.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from PIL import Image
from websockets.sync.client import connect

from tests.support import PASSWORD, Live, Server, create

# -- the matrix, as DESIGN.md states it (and api/access.py implements it) ----------------

DOOR = frozenset({"door_staff", "retail_staff"})
RECEIVE = DOOR | {"cctv_operator", "police", "coordinator"}
ALL_ROLES = ("door_staff", "retail_staff", "cctv_operator", "police", "coordinator", "auditor", "admin")
EVERYONE = frozenset(ALL_ROLES)
COORDINATOR = frozenset({"coordinator"})
GALLERY = RECEIVE | {"auditor"}  # door and retail only for their own venue's scope
AUDIT = frozenset({"coordinator", "auditor"})  # read full history, verify, as-of views
MEMBERS = frozenset({"coordinator", "admin"})  # coordinator: own members; admin: any
PARTNERSHIPS = frozenset({"admin"})
FOLLOW = frozenset({"cctv_operator", "police", "coordinator"})  # follow an incident, close alerts
CRIME_REFERENCE = frozenset({"police", "coordinator"})
STATISTICS = frozenset({"coordinator", "auditor", "police"})
AWARDS = FOLLOW | {"auditor"}  # the Safer Socialising Award's standings; the coordinator records

# The matrix above, by the action names of api/access.py's CAN table.
EXPECTED_CAN = {
    "receive": RECEIVE,
    "broadcast": RECEIVE,
    "report": RECEIVE,
    "gallery": GALLERY,
    "manage_subjects": COORDINATOR,
    "exclude": COORDINATOR,
    "close_alert": FOLLOW,
    "crime_reference": CRIME_REFERENCE,
    "follow": FOLLOW,
    "audit": AUDIT,
    "statistics": STATISTICS,
    "manage_members": MEMBERS,
    "manage_partnerships": PARTNERSHIPS,
    "record_inspection": COORDINATOR,
    "awards": AWARDS,
}

OWN, OTHER = "north", "south"


def png(size: tuple[int, int] = (32, 24), colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


# -- a world of users and things to act on ------------------------------------------------


class World:
    """Signed-in clients (one per user) and fresh or shared things to aim requests at."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.users: dict[str, dict[str, str]] = server.users  # type: ignore[attr-defined]
        self._clients: dict[str, httpx.Client] = {}
        self._shared: dict[tuple[Any, ...], Any] = {}
        self._counter = itertools.count(1)

    # who
    def username(self, p: str, role: str) -> str:
        return "admin" if role == "admin" else self.users[p][role]

    def client(self, username: str) -> httpx.Client:
        if username not in self._clients:
            self._clients[username] = self.server.login(username)
        return self._clients[username]

    def as_role(self, role: str, p: str = OWN) -> httpx.Client:
        return self.client(self.username(p, role))

    def coordinator(self, p: str) -> httpx.Client:
        return self.as_role("coordinator", p)

    def admin(self) -> httpx.Client:
        return self.client("admin")

    def new(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}t{int(time.time() * 1000) % 100000}"

    @staticmethod
    def venue_of(p: str, role: str) -> str:
        return f"{p}-" + {"door_staff": "pub", "retail_staff": "shop"}.get(role, "pub")

    def shared(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    # things, made by the partnership's coordinator (or control room)
    def subject(self, p: str, name: str | None = "Test Person") -> str:
        body: dict[str, Any] = {"description": "tall, green coat"}
        if name:
            body["name"] = name
        return str(create(self.coordinator(p), f"/v1/partnerships/{p}/subjects", body)["id"])

    def exclusion(
        self,
        p: str,
        subject_id: str | None = None,
        venues: list[str] | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> tuple[str, str]:
        subject_id = subject_id or self.subject(p)
        body: dict[str, Any] = {
            "subject_id": subject_id,
            "kind": "exclusion",
            "venues": venues or [],
            "reason": "board decision",
        }
        if starts_at:
            body["starts_at"] = starts_at.isoformat()
        if ends_at:
            body["ends_at"] = ends_at.isoformat()
        return str(create(self.coordinator(p), f"/v1/partnerships/{p}/exclusions", body)["id"]), subject_id

    def proposed_exclusion(self, p: str) -> str:
        """Two warnings for one subject: the hub proposes an exclusion by itself."""
        coordinator = self.coordinator(p)
        subject_id = self.subject(p)
        for _ in range(2):
            body = {"subject_id": subject_id, "kind": "warning", "venues": [], "reason": "yellow card"}
            create(coordinator, f"/v1/partnerships/{p}/exclusions", body)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = coordinator.get(f"/v1/partnerships/{p}/exclusions", params={"status": "proposed"}).json()
            for x in found:
                if x["subject_id"] == subject_id:
                    return str(x["exclusion_id"])
            time.sleep(0.05)
        raise AssertionError("no exclusion was proposed after a second warning")

    def excluded_subject(self, p: str) -> str:
        """A subject excluded from the whole partnership, with a photo: everyone's gallery."""

        def make() -> str:
            _, subject_id = self.exclusion(p)
            self.photo(p, subject_id)
            return subject_id

        return str(self.shared(("excluded", p), make))

    def photo(self, p: str, subject_id: str) -> str:
        answer = self.coordinator(p).post(
            f"/v1/partnerships/{p}/subjects/{subject_id}/photos",
            files={"image": ("face.png", png(), "image/png")},
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def plain_subject(self, p: str) -> str:
        """Registered, neither excluded nor sought: only coordinators see them."""
        return str(self.shared(("plain", p), lambda: self.subject(p)))

    def sought_subject(self, p: str) -> str:
        """An ID-sought person: every receiving role sees them, so may name them."""
        return str(self.shared(("sought", p), lambda: self.subject(p, None)))

    def alert(self, p: str, client: httpx.Client | None = None) -> str:
        body = {"text": "male, green coat, heading to High St", "priority": "urgent"}
        return str(create(client or self.coordinator(p), f"/v1/partnerships/{p}/alerts", body)["id"])

    def incident(self, p: str, venue: str) -> str:
        body = {"category": "theft", "venue": venue, "description": "two bottles of gin", "loss_value": 30}
        return str(create(self.as_role("cctv_operator", p), f"/v1/partnerships/{p}/incidents", body)["id"])

    def sighting_with_still(self, p: str, venue: str) -> str:
        def make() -> str:
            answer = self.as_role("cctv_operator", p).post(
                f"/v1/partnerships/{p}/sightings",
                data={"subject_id": self.sought_subject(p), "venue": venue, "camera": "cam 12"},
                files={"still": ("still.png", png(), "image/png")},
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        return str(self.shared(("sighting", p, venue), make))

    def venue(self, p: str) -> str:
        venue_id = self.new("v")
        create(
            self.coordinator(p),
            f"/v1/partnerships/{p}/venues",
            {"id": venue_id, "name": "Spare", "kind": "other"},
        )
        return venue_id

    def member(self, p: str, role: str = "door_staff") -> str:
        username = self.new("m")
        body = {"username": username, "password": PASSWORD, "role": role, "venue": f"{p}-pub"}
        create(self.coordinator(p), f"/v1/partnerships/{p}/members", body)
        return username


# -- the endpoint table --------------------------------------------------------------------

Params = Callable[[World, str, str], dict[str, str]]
Body = Callable[[World, str, str], Any]


def _no_params(world: World, p: str, role: str) -> dict[str, str]:
    return {}


def _no_body(world: World, p: str, role: str) -> None:
    return None


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    allowed: frozenset[str]
    ok: int = 200
    params: Params = _no_params  # path parameters, made fresh for each case
    body: Body = _no_body  # a JSON body valid for permission purposes
    files: Body | None = None  # multipart files instead of JSON
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def scoped(self) -> bool:
        return "{p}" in self.path


P = "/v1/partnerships/{p}"

ENDPOINTS = [
    # sign-in and set-up
    Endpoint("me", "GET", "/v1/me", EVERYONE),
    Endpoint("list partnerships", "GET", "/v1/partnerships", EVERYONE),
    Endpoint(
        "register partnership",
        "POST",
        "/v1/partnerships",
        PARTNERSHIPS,
        201,
        body=lambda w, p, r: {"id": w.new("px"), "name": "Another scheme"},
    ),
    Endpoint("get partnership", "GET", P, GALLERY | PARTNERSHIPS),
    Endpoint(
        "add venue",
        "POST",
        P + "/venues",
        MEMBERS,
        201,
        body=lambda w, p, r: {"id": w.new("v"), "name": "New venue", "kind": "retail"},
    ),
    Endpoint(
        "change venue",
        "PATCH",
        P + "/venues/{venue}",
        MEMBERS,
        201,
        params=lambda w, p, r: {"venue": w.venue(p)},
        body=lambda w, p, r: {"name": "Renamed venue"},
    ),
    Endpoint(
        "remove venue",
        "DELETE",
        P + "/venues/{venue}",
        MEMBERS,
        201,
        params=lambda w, p, r: {"venue": w.venue(p)},
    ),
    Endpoint(
        "open channel",
        "POST",
        P + "/channels",
        MEMBERS,
        201,
        body=lambda w, p, r: {"id": w.new("c"), "name": "Night net"},
    ),
    Endpoint(
        "enrol member",
        "POST",
        P + "/members",
        MEMBERS,
        201,
        body=lambda w, p, r: {
            "username": w.new("u"),
            "password": PASSWORD,
            "role": "door_staff",
            "venue": f"{p}-pub",
        },
    ),
    Endpoint("list members", "GET", P + "/members", MEMBERS),
    Endpoint(
        "revoke member",
        "POST",
        P + "/members/{username}/revoke",
        MEMBERS,
        201,
        params=lambda w, p, r: {"username": w.member(p)},
    ),
    # the radio net
    Endpoint(
        "broadcast alert",
        "POST",
        P + "/alerts",
        RECEIVE,
        201,
        body=lambda w, p, r: {"text": "shoplifter heading north", "priority": "urgent", "venue": f"{p}-shop"},
    ),
    Endpoint("list alerts", "GET", P + "/alerts", RECEIVE, query={"active": "true"}),
    Endpoint(
        "acknowledge alert",
        "POST",
        P + "/alerts/{alert_id}/ack",
        RECEIVE,
        201,
        params=lambda w, p, r: {"alert_id": w.alert(p)},
    ),
    Endpoint(
        # door and retail staff may close only alerts they posted: this one is the coordinator's
        "resolve alert",
        "POST",
        P + "/alerts/{alert_id}/resolve",
        FOLLOW,
        201,
        params=lambda w, p, r: {"alert_id": w.alert(p)},
        body=lambda w, p, r: {"note": "stood down"},
    ),
    # subjects
    Endpoint(
        "register subject",
        "POST",
        P + "/subjects",
        COORDINATOR,
        201,
        body=lambda w, p, r: {"name": "Jo Bloggs", "aliases": ["JB"], "date_of_birth": "1990-01-02"},
    ),
    Endpoint("list subjects", "GET", P + "/subjects", COORDINATOR),
    Endpoint(
        "get subject",
        "GET",
        P + "/subjects/{subject_id}",
        GALLERY,
        params=lambda w, p, r: {"subject_id": w.excluded_subject(p)},
    ),
    Endpoint(
        "add photo",
        "POST",
        P + "/subjects/{subject_id}/photos",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"subject_id": w.subject(p)},
        files=lambda w, p, r: {"image": ("face.png", png(), "image/png")},
    ),
    Endpoint(
        "get photo",
        "GET",
        P + "/subjects/{subject_id}/photos/{photo_id}",
        GALLERY,
        params=lambda w, p, r: {
            "subject_id": w.excluded_subject(p),
            "photo_id": w.shared(("photo", p), lambda: w.photo(p, w.excluded_subject(p))),
        },
    ),
    Endpoint(
        "identify subject",
        "POST",
        P + "/subjects/{subject_id}/identify",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"subject_id": w.subject(p, name=None)},
        body=lambda w, p, r: {"name": "Now Known"},
    ),
    Endpoint(
        "export subject",
        "GET",
        P + "/subjects/{subject_id}/export",
        COORDINATOR,
        params=lambda w, p, r: {"subject_id": w.plain_subject(p)},
    ),
    Endpoint(
        "erase subject",
        "POST",
        P + "/subjects/{subject_id}/erase",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"subject_id": w.subject(p)},
        body=lambda w, p, r: {"reason": "erasure request"},
    ),
    # exclusions
    Endpoint(
        "issue exclusion",
        "POST",
        P + "/exclusions",
        COORDINATOR,
        201,
        body=lambda w, p, r: {
            "subject_id": w.subject(p),
            "kind": "exclusion",
            "venues": [f"{p}-pub"],
            "reason": "board decision",
        },
    ),
    Endpoint(
        "issue warning",
        "POST",
        P + "/exclusions",
        COORDINATOR,
        201,
        body=lambda w, p, r: {"subject_id": w.subject(p), "kind": "warning", "reason": "yellow card"},
    ),
    Endpoint(
        "confirm exclusion",
        "POST",
        P + "/exclusions/{exclusion_id}/confirm",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"exclusion_id": w.proposed_exclusion(p)},
    ),
    Endpoint(
        "serve exclusion",
        "POST",
        P + "/exclusions/{exclusion_id}/serve",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"exclusion_id": w.exclusion(p)[0]},
        body=lambda w, p, r: {"note": "served in person"},
    ),
    Endpoint(
        "appeal exclusion",
        "POST",
        P + "/exclusions/{exclusion_id}/appeal",
        COORDINATOR,
        201,
        # began seven months ago with no incidents since: an appeal is in time
        params=lambda w, p, r: {
            "exclusion_id": w.exclusion(
                p,
                starts_at=datetime.now(UTC) - timedelta(days=210),
                ends_at=datetime.now(UTC) + timedelta(days=150),
            )[0]
        },
    ),
    Endpoint(
        "revoke exclusion",
        "POST",
        P + "/exclusions/{exclusion_id}/revoke",
        COORDINATOR,
        201,
        params=lambda w, p, r: {"exclusion_id": w.exclusion(p)[0]},
    ),
    Endpoint("gallery", "GET", P + "/exclusions", GALLERY),
    Endpoint("warnings", "GET", P + "/warnings", COORDINATOR),
    # sightings and incidents
    Endpoint(
        "post sighting",
        "POST",
        P + "/sightings",
        RECEIVE,
        201,
        body=lambda w, p, r: {
            "subject_id": w.sought_subject(p),
            "venue": w.venue_of(p, r),
            "camera": "cam 3",
            "seen_at": datetime.now(UTC).isoformat(),
        },
    ),
    Endpoint("list sightings", "GET", P + "/sightings", RECEIVE),
    Endpoint(
        "sighting still",
        "GET",
        P + "/sightings/{sighting_id}/still",
        RECEIVE,
        params=lambda w, p, r: {"sighting_id": w.sighting_with_still(p, w.venue_of(p, r))},
    ),
    Endpoint(
        "report incident",
        "POST",
        P + "/incidents",
        RECEIVE,
        201,
        body=lambda w, p, r: {
            "category": "refused_entry",
            "venue": w.venue_of(p, r),
            "description": "refused at the door",
        },
    ),
    Endpoint("list incidents", "GET", P + "/incidents", RECEIVE),
    Endpoint(
        "get incident",
        "GET",
        P + "/incidents/{incident_id}",
        RECEIVE,
        params=lambda w, p, r: {
            "incident_id": w.shared(
                ("incident", p, w.venue_of(p, r)), lambda: w.incident(p, w.venue_of(p, r))
            )
        },
    ),
    Endpoint(
        "crime reference",
        "POST",
        P + "/incidents/{incident_id}/crime-reference",
        CRIME_REFERENCE,
        201,
        params=lambda w, p, r: {"incident_id": w.incident(p, w.venue_of(p, r))},
        body=lambda w, p, r: {"crime_reference": "46/12345/26"},
    ),
    Endpoint(
        "link subject",
        "POST",
        P + "/incidents/{incident_id}/link-subject",
        FOLLOW,
        201,
        params=lambda w, p, r: {"incident_id": w.incident(p, w.venue_of(p, r))},
        body=lambda w, p, r: {"subject_id": w.sought_subject(p)},
    ),
    Endpoint(
        "close incident",
        "POST",
        P + "/incidents/{incident_id}/close",
        FOLLOW,
        201,
        params=lambda w, p, r: {"incident_id": w.incident(p, w.venue_of(p, r))},
        body=lambda w, p, r: {"outcome": "no further action"},
    ),
    # audit and statistics
    Endpoint("audit events", "GET", P + "/audit/events", AUDIT, query={"from_position": 1}),
    Endpoint("audit verify", "GET", P + "/audit/verify", AUDIT),
    Endpoint("audit state", "GET", P + "/audit/state", AUDIT, query={"position": 5}),
    Endpoint(
        "audit state as of",
        "GET",
        P + "/audit/state",
        AUDIT,
        query={"as_of": "2030-01-01T00:00:00+00:00"},
    ),
    Endpoint("statistics", "GET", P + "/statistics", STATISTICS),
    Endpoint(
        "record inspection",
        "POST",
        P + "/awards/inspections",
        COORDINATOR,
        201,
        body=lambda w, p, r: {
            "venue": f"{p}-pub",
            "panel": ["partnership", "police"],
            "criteria": {"door staff trained": True},
            "outcome": "passed",
        },
    ),
    Endpoint("awards", "GET", P + "/awards", AWARDS),
]

CASES = [
    pytest.param(endpoint, role, where, id=f"{endpoint.name}-{role}-{where}")
    for endpoint in ENDPOINTS
    for role in ALL_ROLES
    for where in ("own", "other")
    if endpoint.scoped or where == "own"
]


@pytest.fixture(scope="module")
def world(hub_server: Server) -> World:
    return World(hub_server)


def call(
    client: httpx.Client | None, endpoint: Endpoint, world: World, p: str, role: str, **kwargs: Any
) -> httpx.Response:
    path = endpoint.path.format(p=p, **endpoint.params(world, p, role))
    request: dict[str, Any] = {"params": endpoint.query, **kwargs}
    if endpoint.files is not None:
        request["files"] = endpoint.files(world, p, role)
    else:
        body = endpoint.body(world, p, role)
        if body is not None:
            request["json"] = body
    sender = client if client is not None else httpx.Client(base_url=world.server.url, timeout=30)
    return sender.request(endpoint.method, path, **request)


def test_the_table_is_the_access_module() -> None:
    """The matrix tested here is the one the server enforces (schemas/roles.py), action by action."""
    from schemas.roles import CAN

    assert {k: frozenset(v) for k, v in CAN.items()} == EXPECTED_CAN


@pytest.mark.parametrize(("endpoint", "role", "where"), CASES)
def test_role_matrix(world: World, endpoint: Endpoint, role: str, where: str) -> None:
    """Allowed answers 2xx; forbidden answers 403 with a reason; another partnership is 403
    for everyone but the admin (whose token names every partnership)."""
    p = OWN if where == "own" else OTHER
    client = world.as_role(role, OWN)  # every user under test is a member of north only
    allowed = role in endpoint.allowed and (where == "own" or role == "admin")
    answer = call(client, endpoint, world, p, role)
    if allowed:
        assert answer.status_code == endpoint.ok, f"{role} {endpoint.method} {p}: {answer.text[:500]}"
    else:
        assert answer.status_code == 403, (
            f"{role} {endpoint.method} {p}: {answer.status_code} {answer.text[:500]}"
        )
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and detail
        if where == "other" and role != "admin":
            assert OTHER in detail


@pytest.mark.parametrize("endpoint", [pytest.param(e, id=e.name) for e in ENDPOINTS])
def test_missing_token_is_401(world: World, endpoint: Endpoint) -> None:
    answer = call(None, endpoint, world, OWN, "coordinator")
    assert answer.status_code == 401, answer.text
    assert answer.json()["detail"]
    assert answer.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_partnership_lists_show_only_your_own(world: World) -> None:
    for role in ALL_ROLES[:-1]:
        client = world.as_role(role)
        listed = {x["id"] for x in client.get("/v1/partnerships").json()}
        assert listed == {OWN}, role
        me = client.get("/v1/me").json()
        assert [x["id"] for x in me["partnerships"]] == [OWN], role
        assert me["role"] == role
    listed = {x["id"] for x in world.admin().get("/v1/partnerships").json()}
    assert {OWN, OTHER} <= listed


def test_door_staff_may_close_only_their_own_alerts(world: World) -> None:
    door = world.as_role("door_staff")
    own_alert = world.alert(OWN, door)
    assert door.post(f"/v1/partnerships/{OWN}/alerts/{own_alert}/resolve").status_code == 201
    theirs = world.alert(OWN)
    answer = door.post(f"/v1/partnerships/{OWN}/alerts/{theirs}/resolve")
    assert answer.status_code == 403, answer.text


def test_coordinator_may_not_enrol_coordinators_or_admins(world: World) -> None:
    for role in ("coordinator", "admin"):
        body = {"username": world.new("u"), "password": PASSWORD, "role": role, "venue": None}
        answer = world.coordinator(OWN).post(f"/v1/partnerships/{OWN}/members", json=body)
        assert answer.status_code == 403, answer.text


def test_coordinator_may_not_manage_another_partnerships_members(world: World) -> None:
    """Own members only: south's members are not listed, revoked or added by north's coordinator."""
    coordinator = world.coordinator(OWN)
    victim = world.users[OTHER]["door_staff"]
    assert coordinator.get(f"/v1/partnerships/{OTHER}/members").status_code == 403
    assert coordinator.post(f"/v1/partnerships/{OTHER}/members/{victim}/revoke").status_code == 403
    # nor by naming the other partnership's member under their own partnership
    answer = coordinator.post(f"/v1/partnerships/{OWN}/members/{victim}/revoke")
    assert answer.status_code == 404, answer.text
    world.as_role("door_staff", OTHER).get("/v1/me").raise_for_status()  # still signed in


# -- the live socket ------------------------------------------------------------------------


def refused(server: Server, hello: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Send a hello; return the error frame and the close code."""
    with connect(server.ws_url, open_timeout=10) as socket:
        socket.send(json.dumps(hello))
        reply = json.loads(socket.recv(timeout=10))
        try:
            socket.recv(timeout=10)
            raise AssertionError("the socket stayed open after a refused hello")
        except Exception as closed:
            code = getattr(getattr(closed, "rcvd", None), "code", None)
    return reply, code


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_live_refuses_roles_that_do_not_receive(world: World, role: str) -> None:
    token = world.server.token(world.username(OWN, role))
    reply, code = refused(world.server, {"op": "hello", "token": token, "since": {}})
    assert reply["op"] == "error" and reply["detail"]
    assert code == 1008


@pytest.mark.parametrize("role", sorted(RECEIVE))
def test_live_refuses_another_partnership_in_since(world: World, role: str) -> None:
    token = world.server.token(world.username(OWN, role))
    reply, code = refused(world.server, {"op": "hello", "token": token, "since": {OTHER: 0}})
    assert reply["op"] == "error" and OTHER in reply["detail"]
    assert code == 1008


@pytest.mark.parametrize("role", sorted(RECEIVE))
def test_live_welcomes_receivers_to_their_own_partnership_only(world: World, role: str) -> None:
    live = Live(world.server, world.server.token(world.username(OWN, role)), {OWN: 0})
    try:
        assert live.welcome["op"] == "welcome"
        assert set(live.welcome["positions"]) == {OWN}
        frames = live.drain(0.5)
        assert all(f["partnership"] == OWN for f in frames if f["op"] == "event")
    finally:
        live.close()


def test_live_refuses_a_missing_token(world: World) -> None:
    reply, code = refused(world.server, {"op": "hello", "since": {}})
    assert reply["op"] == "error" and code == 1008


# -- tokens ---------------------------------------------------------------------------------


def secret_of(server: Server) -> str:
    return os.environ.get("HUB_SECRET") or (server.data / "secret.key").read_text().strip()


def claims_for(world: World, as_role: str = "coordinator", **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": world.username(OWN, as_role),
        "role": as_role,
        "partnerships": [OWN],
        "venue": None,
        "iat": now,
        "exp": now + 600,
    }
    return {**claims, **changes}


def get_with(world: World, token: str, path: str = f"/v1/partnerships/{OWN}/alerts") -> httpx.Response:
    header = f"Bearer {token}".encode("latin-1")  # bytes: tokens here may be any latin-1 text
    return httpx.get(world.server.url + path, headers={b"Authorization": header}, timeout=30)


def assert_401(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["detail"]


def test_a_token_minted_here_with_the_real_secret_works(world: World) -> None:
    """The control case for the forgeries below: the same construction, honestly made, is accepted."""
    token = jwt.encode(claims_for(world), secret_of(world.server), algorithm="HS256")
    assert get_with(world, token).status_code == 200


def test_expired_token_is_401(world: World) -> None:
    past = int(time.time()) - 7200
    token = jwt.encode(claims_for(world, iat=past, exp=past + 60), secret_of(world.server), algorithm="HS256")
    answer = get_with(world, token)
    assert_401(answer)
    assert "expired" in answer.json()["detail"]


def test_tampered_signature_is_401(world: World) -> None:
    token = world.server.token(world.username(OWN, "coordinator"))
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join([signature[:5], signature[6:]])
    assert_401(get_with(world, f"{head}.{payload}.{flipped}"))


def test_tampered_payload_is_401(world: World) -> None:
    """A door staff token rewritten to say coordinator (and every partnership) keeps its old signature."""
    token = world.server.token(world.username(OWN, "door_staff"))
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(role="coordinator", partnerships=["*"])
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert_401(get_with(world, f"{head}.{forged}.{signature}"))
    assert_401(get_with(world, f"{head}.{forged}.{signature}", f"/v1/partnerships/{OTHER}/subjects"))


def test_token_signed_with_another_secret_is_401(world: World) -> None:
    token = jwt.encode(claims_for(world), "not-the-hub-secret-" * 3, algorithm="HS256")
    assert_401(get_with(world, token))


def test_unsigned_token_is_401(world: World) -> None:
    token = jwt.encode(claims_for(world), "", algorithm="none")
    assert_401(get_with(world, token))


def test_garbage_tokens_are_401(world: World) -> None:
    for token in ("x", "a.b.c", "Bearer", "é" * 10, "." * 3):
        assert_401(get_with(world, token))
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "", "Token abc"):
        answer = httpx.get(
            world.server.url + f"/v1/partnerships/{OWN}/alerts", headers={"Authorization": header}, timeout=30
        )
        assert_401(answer)


def test_a_signed_token_with_a_role_the_user_does_not_hold_is_401(world: World) -> None:
    """Even signed with the real secret, a token must match the member's enrolment."""
    claims = claims_for(world, "door_staff", role="coordinator")
    token = jwt.encode(claims, secret_of(world.server), algorithm="HS256")
    assert_401(get_with(world, token))


def test_token_with_no_expiry_is_401(world: World) -> None:
    claims = claims_for(world)
    del claims["exp"]
    assert_401(get_with(world, jwt.encode(claims, secret_of(world.server), algorithm="HS256")))


def test_revoked_member_token_is_401_everywhere(world: World) -> None:
    username = world.member(OWN, "cctv_operator")
    token = world.server.token(username)
    assert get_with(world, token).status_code == 200
    live = Live(world.server, token, {OWN: 0})
    live.close()
    assert live.welcome["op"] == "welcome"

    answer = world.coordinator(OWN).post(f"/v1/partnerships/{OWN}/members/{username}/revoke")
    assert answer.status_code == 201, answer.text

    assert_401(get_with(world, token))
    assert_401(get_with(world, token, "/v1/me"))
    posted = httpx.post(
        world.server.url + f"/v1/partnerships/{OWN}/alerts",
        json={"text": "still here?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_401(posted)
    reply, code = refused(world.server, {"op": "hello", "token": token, "since": {}})
    assert reply["op"] == "error" and "revoked" in reply["detail"] and code == 1008
    login = httpx.post(world.server.url + "/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert login.status_code == 401


def test_live_refuses_forged_and_expired_tokens(world: World) -> None:
    secret = secret_of(world.server)
    past = int(time.time()) - 7200
    for token in (
        jwt.encode(claims_for(world, iat=past, exp=past + 60), secret, algorithm="HS256"),
        jwt.encode(claims_for(world), "another-secret-entirely-" * 2, algorithm="HS256"),
        "not.a.token",
    ):
        reply, code = refused(world.server, {"op": "hello", "token": token, "since": {}})
        assert reply["op"] == "error" and code == 1008


# -- door staff see their own venue's scope only -------------------------------------------


@pytest.fixture(scope="module")
def scoped(world: World) -> dict[str, str]:
    """An exclusion scoped to north-club, one to the whole partnership, an incident at the
    club, and a sighting of the club-excluded subject at the club (which is a breach)."""
    club_exclusion, club_subject = world.exclusion(OWN, venues=[f"{OWN}-club"])
    all_exclusion, all_subject = world.exclusion(OWN)
    cctv = world.as_role("cctv_operator")
    sighting = create(
        cctv,
        f"/v1/partnerships/{OWN}/sightings",
        {"subject_id": club_subject, "venue": f"{OWN}-club", "camera": "cam 9"},
    )["id"]
    incident = world.incident(OWN, f"{OWN}-club")
    # the breach alert is raised by the hub itself, a moment later
    deadline = time.monotonic() + 10
    breach_alert = None
    while breach_alert is None and time.monotonic() < deadline:
        for alert in world.coordinator(OWN).get(f"/v1/partnerships/{OWN}/alerts").json():
            if alert.get("breach_of") == club_exclusion:
                breach_alert = alert["alert_id"]
        time.sleep(0.05)
    assert breach_alert, "no breach alert was raised"
    return {
        "club_exclusion": club_exclusion,
        "club_subject": club_subject,
        "all_exclusion": all_exclusion,
        "all_subject": all_subject,
        "sighting": str(sighting),
        "incident": incident,
        "breach_alert": breach_alert,
    }


def test_gallery_shows_door_staff_only_their_venues_scope(world: World, scoped: dict[str, str]) -> None:
    def gallery(client: httpx.Client) -> set[str]:
        answer = client.get(f"/v1/partnerships/{OWN}/exclusions")
        assert answer.status_code == 200, answer.text
        return {x["exclusion_id"] for x in answer.json()}

    pub = gallery(world.as_role("door_staff"))
    assert scoped["all_exclusion"] in pub
    assert scoped["club_exclusion"] not in pub
    club = gallery(world.client(world.users[OWN]["door_staff_club"]))
    assert {scoped["all_exclusion"], scoped["club_exclusion"]} <= club
    shop = gallery(world.as_role("retail_staff"))
    assert scoped["all_exclusion"] in shop and scoped["club_exclusion"] not in shop
    for role in ("cctv_operator", "police", "coordinator", "auditor"):
        assert {scoped["all_exclusion"], scoped["club_exclusion"]} <= gallery(world.as_role(role)), role


def test_door_staff_cannot_open_subjects_outside_their_scope(world: World, scoped: dict[str, str]) -> None:
    door = world.as_role("door_staff")
    club_subject, all_subject = scoped["club_subject"], scoped["all_subject"]
    assert door.get(f"/v1/partnerships/{OWN}/subjects/{club_subject}").status_code == 404
    assert door.get(f"/v1/partnerships/{OWN}/subjects/{all_subject}").status_code == 200
    club = world.client(world.users[OWN]["door_staff_club"])
    assert club.get(f"/v1/partnerships/{OWN}/subjects/{club_subject}").status_code == 200


def test_breach_alerts_reach_only_the_venue_in_scope(world: World, scoped: dict[str, str]) -> None:
    alert_id = scoped["breach_alert"]

    def alerts(client: httpx.Client) -> set[str]:
        answer = client.get(f"/v1/partnerships/{OWN}/alerts")
        assert answer.status_code == 200, answer.text
        return {a["alert_id"] for a in answer.json()}

    door, retail = world.as_role("door_staff"), world.as_role("retail_staff")
    club = world.client(world.users[OWN]["door_staff_club"])
    assert alert_id not in alerts(door)
    assert alert_id not in alerts(retail)
    assert alert_id in alerts(club)
    for role in ("cctv_operator", "police", "coordinator"):
        assert alert_id in alerts(world.as_role(role)), role
    # nor may they acknowledge or close what they cannot see
    assert door.post(f"/v1/partnerships/{OWN}/alerts/{alert_id}/ack").status_code == 404
    assert door.post(f"/v1/partnerships/{OWN}/alerts/{alert_id}/resolve").status_code == 404


def test_incidents_and_sightings_at_another_venue_are_hidden(world: World, scoped: dict[str, str]) -> None:
    door = world.as_role("door_staff")
    incidents = {i["incident_id"] for i in door.get(f"/v1/partnerships/{OWN}/incidents").json()}
    assert scoped["incident"] not in incidents
    assert door.get(f"/v1/partnerships/{OWN}/incidents/{scoped['incident']}").status_code == 404
    sightings = {s["sighting_id"] for s in door.get(f"/v1/partnerships/{OWN}/sightings").json()}
    assert scoped["sighting"] not in sightings
    club = world.client(world.users[OWN]["door_staff_club"])
    assert club.get(f"/v1/partnerships/{OWN}/incidents/{scoped['incident']}").status_code == 200
    assert scoped["sighting"] in {
        s["sighting_id"] for s in club.get(f"/v1/partnerships/{OWN}/sightings").json()
    }


def test_live_frames_respect_venue_scope(world: World, scoped: dict[str, str]) -> None:
    """Replaying north from the start, door staff at the pub get no frame about the club."""

    def frames(username: str) -> list[dict[str, Any]]:
        live = Live(world.server, world.server.token(username), {OWN: 0})
        try:
            return live.drain(1.5)
        finally:
            live.close()

    def about_the_club(frame: dict[str, Any]) -> bool:
        data = frame.get("data", {})
        return bool(
            data.get("alert_id") == scoped["breach_alert"]
            or data.get("exclusion_id") == scoped["club_exclusion"]
            or data.get("incident_id") == scoped["incident"]
            or data.get("sighting_id") == scoped["sighting"]
        )

    pub = frames(world.users[OWN]["door_staff"])
    assert pub and not [f for f in pub if about_the_club(f)]
    assert not [f for f in pub if f.get("type", "").startswith(("member.", "subject.", "warning."))]
    club = frames(world.users[OWN]["door_staff_club"])
    kinds = {f["type"] for f in club if about_the_club(f)}
    assert {"exclusion.breached", "alert.broadcast", "incident.reported", "sighting.recorded"} <= kinds
