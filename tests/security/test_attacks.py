"""Attacks from outside, each one a defect found on the hub (the hardening issue's D-numbers),
tried against a real `hub serve` as an attacker would: every one is refused, with a reason,
and writes nothing.

- D3: door staff open a subject hidden from their venue by naming it in an alert.
- D7: door staff report at another venue (and raise a breach alert there).
- D4: the server starts with an example or short secret.
- D8: a coordinator takes over a peer coordinator or the auditor (device codes, revocation),
  revokes itself; a revoked username can never be enrolled again.
- D12: moments outside the years the hub keeps (a 500, or a broken date in the chained log).
- D13: positions past any log (an overflow, a 500).
- D10: free text about a subject (notes, reasons, alert texts) outlives their erasure.
- D11: a retried upload leaves orphan files and keys that outlive erasure.
- D18: a hidden subject answers differently from a made-up id.
- D14: one Idempotency-Key reused for another kind of request answers with the first.
- D16: common passwords, short ones for coordinators, whitespace trimmed.
- D17: a hello resuming past the head is welcomed and then hears nothing.
- D20: data files readable by others.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed

from tests.support import PASSWORD, Live, Server, create, make_admin, set_up_partnership

P = "attack"
PUB, CLUB = f"{P}-pub", f"{P}-club"


class World:
    """The hub an attack meets: `server`, where the attacks go, signed in as every role.

    An attack tried on another path (tests/security/test_paths.py: `hub serve
    --processes 2`, a Kafka cluster) meets a subclass that says where a read may land
    (`nodes`, `readers`: the read-back node first), how a retry reaches the hub
    (`retriers`), how long a node may take to hear of a write (`caught_up`,
    `eventually`) and where the hub keeps its photos, subject keys and log.
    """

    def __init__(self, server: Server, users: dict[str, str]) -> None:
        self.server = server
        self.users = users
        self.clients = {role: server.login(name) for role, name in users.items()}
        self.nodes: list[Server] = [server]

    def __getitem__(self, role: str) -> httpx.Client:
        return self.clients[role]

    def head(self, client: httpx.Client | None = None) -> int:
        client = client or self["coordinator"]
        return int(client.get(f"/v1/partnerships/{P}").json()["position"])

    def readers(self, role: str) -> list[httpx.Client]:
        """`role` signed in on every node a read may land on, the read-back node first."""
        return [self[role]]

    def retriers(self, role: str) -> list[httpx.Client]:
        """Three tries of one request, as a client retrying it would reach the hub."""
        return [self[role]] * 3

    def caught_up(self) -> None:
        """Once every node has what was written (here at once: one process answers)."""

    def eventually(self, check: Callable[[], Any], what: str) -> None:
        """`check` holds (here at once; on other paths once every process has heard)."""
        assert check(), what

    def photo_files(self) -> set[str]:
        return set(os.listdir(self.server.data / "photos"))

    def key_ids(self) -> set[str]:
        """The subjects whose key is kept anywhere."""
        return _keys(self.server.data)

    def log_bytes(self) -> bytes:
        """The log as it is stored (the words a subject's free text must not show in)."""
        data = self.server.data
        return (data / "log.db").read_bytes() + (data / "log.db-wal").read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("attacks")
    make_admin(data)
    server = Server(data).start()
    try:
        yield World(server, set_up_partnership(server.login("admin"), P))
    finally:
        server.stop()


def bearer(world: World, role: str) -> str:
    """The token `role` signed in with at the start (later sign-ins may meet the throttle)."""
    return str(world[role].headers["Authorization"]).removeprefix("Bearer ")


def refused(
    world: World,
    role: str,
    method: str,
    path: str,
    status: int,
    via: httpx.Client | None = None,
    **request: Any,
) -> httpx.Response:
    """The request (as `role`, through `via` if given) is refused with `status` and a
    reason, and the log does not move."""
    client = via or world[role]
    before = world.head()
    answer = client.request(method, f"/v1/partnerships/{P}{path}", **request)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]
    assert world.head() == before, "a refused request wrote something"
    return answer


def subject_excluded_at_the_club(world: World) -> str:
    coordinator = world["coordinator"]
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Hidden From The Pub"})["id"]
    exclusion = {"subject_id": subject, "kind": "exclusion", "venues": [CLUB], "reason": "fights at the club"}
    create(coordinator, f"/v1/partnerships/{P}/exclusions", exclusion)
    return subject


def test_d3_door_staff_cannot_open_a_hidden_subject_by_naming_it_in_an_alert(world: World) -> None:
    subject = subject_excluded_at_the_club(world)
    door = world["door_staff"]  # at the pub: the club's exclusion is not theirs to see
    assert door.get(f"/v1/partnerships/{P}/subjects/{subject}").status_code == 404
    answer = refused(world, "door_staff", "POST", "/alerts", 422, json={"text": "x", "subject_id": subject})
    assert f"no subject {subject}" in answer.text, "hidden reads the same as made-up"
    assert door.get(f"/v1/partnerships/{P}/subjects/{subject}").status_code == 404
    # the club's own door staff see the subject, and may name them
    club = world["door_staff_club"]
    assert club.get(f"/v1/partnerships/{P}/subjects/{subject}").status_code == 200
    assert (
        club.post(f"/v1/partnerships/{P}/alerts", json={"text": "seen", "subject_id": subject}).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sightings", {"venue": CLUB, "note": "at the other door"}),
        ("/incidents", {"category": "theft", "venue": CLUB, "description": "not at my door"}),
    ],
)
def test_d7_staff_report_only_what_happens_at_their_own_venue(
    world: World, path: str, body: dict[str, Any]
) -> None:
    answer = refused(world, "door_staff", "POST", path, 403, json=body)
    assert "own venue" in answer.text
    refused(world, "retail_staff", "POST", path, 403, json=body)
    own = {**body, "venue": PUB}
    assert world["door_staff"].post(f"/v1/partnerships/{P}{path}", json=own).status_code == 201
    assert world["cctv_operator"].post(f"/v1/partnerships/{P}{path}", json=body).status_code == 201


def test_d7_a_breach_at_another_venue_cannot_be_raised_by_door_staff(world: World) -> None:
    subject = subject_excluded_at_the_club(world)
    refused(world, "door_staff", "POST", "/sightings", 403, json={"venue": CLUB, "subject_id": subject})
    refused(
        world,
        "door_staff",
        "POST",
        "/incidents",
        403,
        json={"category": "violence", "venue": CLUB, "description": "x", "subject_ids": [subject]},
    )


@pytest.mark.parametrize(
    "secret",
    ["change-me-to-a-long-random-secret", "short", "x" * 31, "secret" * 8],
)
def test_d4_the_server_refuses_to_start_with_an_example_or_short_secret(tmp_path: Path, secret: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "--data", str(tmp_path), "serve", "--port", "1"],
        env={**os.environ, "HUB_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "HUB_SECRET" in result.stderr


def test_d4_docker_compose_has_no_default_secret() -> None:
    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    assert "change-me" not in compose
    assert "HUB_SECRET: ${HUB_SECRET:?" in compose


def test_d8_a_coordinator_manages_only_the_members_below_it(world: World) -> None:
    admin = world.server.login("admin")
    peer = f"{P}.peer"
    create(
        admin,
        f"/v1/partnerships/{P}/members",
        {"username": peer, "password": PASSWORD, "role": "coordinator"},
    )
    for target in (peer, world.users["auditor"]):
        refused(world, "coordinator", "POST", f"/members/{target}/enrolment-code", 403)
        refused(world, "coordinator", "POST", f"/members/{target}/revoke", 403)
    refused(world, "coordinator", "POST", f"/members/{world.users['coordinator']}/revoke", 403)
    body = {"username": f"{P}.audit2", "password": PASSWORD, "role": "auditor"}
    refused(world, "coordinator", "POST", "/members", 403, json=body)
    # the admin manages them all
    answer = admin.post(f"/v1/partnerships/{P}/members/{peer}/enrolment-code")
    assert answer.status_code == 201, answer.text
    assert admin.post(f"/v1/partnerships/{P}/members/{peer}/revoke").status_code == 201


def test_d8_a_revoked_member_may_be_enrolled_again(world: World) -> None:
    coordinator = world["coordinator"]
    name = f"{P}.returning"
    body = {"username": name, "password": PASSWORD, "role": "door_staff", "venue": PUB}
    create(coordinator, f"/v1/partnerships/{P}/members", body)
    assert coordinator.post(f"/v1/partnerships/{P}/members/{name}/revoke").status_code == 201
    again = coordinator.post(f"/v1/partnerships/{P}/members", json={**body, "password": "a new passphrase 7"})
    assert again.status_code == 201, again.text
    world.server.login(name, "a new passphrase 7").get("/v1/me").raise_for_status()
    taken = coordinator.post(f"/v1/partnerships/{P}/members", json=body)
    assert taken.status_code == 409, "an active member's username stays taken"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/exclusions", "starts_at"),
        ("/exclusions", "ends_at"),
        ("/sightings", "seen_at"),
        ("/incidents", "occurred_at"),
    ],
)
@pytest.mark.parametrize("moment", ["0081-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0215-06-30T12:00:00Z"])
def test_d12_moments_outside_the_years_the_hub_keeps_are_refused(
    world: World, path: str, field: str, moment: str
) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "/exclusions": {"subject_id": "s", "kind": "exclusion", "reason": "x"},
        "/sightings": {"venue": PUB},
        "/incidents": {"category": "theft", "venue": PUB, "description": "x"},
    }
    answer = refused(world, "coordinator", "POST", path, 422, json={**bodies[path], field: moment})
    assert "year" in answer.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/audit/events", {"to_position": "99999999999999999999"}),
        ("/audit/events", {"from_position": "99999999999999999999"}),
        ("/audit/state", {"position": "1e20"}),
        ("/audit/state", {"position": "99999999999999999999"}),
    ],
)
def test_d13_positions_past_any_log_are_refused(world: World, path: str, params: dict[str, str]) -> None:
    answer = world["auditor"].get(f"/v1/partnerships/{P}{path}", params=params)
    assert answer.status_code == 422, answer.text


def test_d14_an_idempotency_key_is_bound_to_its_kind_of_request(world: World) -> None:
    coordinator = world["coordinator"]
    headers = {"Idempotency-Key": "one-key-for-two-things"}
    subject = coordinator.post(f"/v1/partnerships/{P}/subjects", json={"name": "Keyed"}, headers=headers)
    assert subject.status_code == 201, subject.text
    alert = coordinator.post(f"/v1/partnerships/{P}/alerts", json={"text": "keyed alert"}, headers=headers)
    assert alert.status_code == 201, alert.text
    assert alert.json()["id"] != subject.json()["id"]
    alerts = coordinator.get(f"/v1/partnerships/{P}/alerts").json()
    assert alert.json()["id"] in {a["alert_id"] for a in alerts}, "the alert was written"
    again = coordinator.post(f"/v1/partnerships/{P}/alerts", json={"text": "keyed alert"}, headers=headers)
    assert again.json() == alert.json(), "a retry of the same request still gets the first answer"


@pytest.mark.parametrize(
    ("role", "password", "reason"),
    [
        ("door_staff", "12345678", "common"),
        ("door_staff", "password", "common"),
        ("door_staff", "Password1", "common"),
        ("police", "qwertyuiop", "common"),
        ("door_staff", "short7", "8 characters"),
        ("coordinator", "eleven-char", "12 characters"),
    ],
)
def test_d16_weak_passwords_are_refused(world: World, role: str, password: str, reason: str) -> None:
    admin = world.server.login("admin")
    venue = PUB if role == "door_staff" else None
    body = {"username": f"{P}.weak{len(password)}", "password": password, "role": role, "venue": venue}
    answer = admin.post(f"/v1/partnerships/{P}/members", json=body)
    assert answer.status_code == 422, answer.text
    assert reason in answer.text


def test_d16_a_password_is_never_trimmed(world: World) -> None:
    name = f"{P}.spaces"
    password = "   demo-password   "
    body = {"username": name, "password": password, "role": "police", "venue": None}
    create(world["coordinator"], f"/v1/partnerships/{P}/members", body)
    login = httpx.post(world.server.url + "/v1/auth/token", data={"username": name, "password": password})
    assert login.status_code == 200, login.text
    trimmed = httpx.post(
        world.server.url + "/v1/auth/token", data={"username": name, "password": password.strip()}
    )
    assert trimmed.status_code == 401


def test_d17_a_hello_past_the_head_is_refused(world: World) -> None:
    token = world.server.token(world.users["door_staff"])
    live = Live(world.server, token, {P: world.head() + 1000})
    try:
        assert live.welcome["op"] == "error" and "past" in live.welcome["detail"], live.welcome
        with pytest.raises(ConnectionClosed) as closed:
            live.next(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        live.close()


def test_d20_data_files_are_readable_by_their_owner_only(world: World) -> None:
    # every file the hub made (the test harness's own server log aside)
    files = [path for path in world.server.data.iterdir() if path.is_file() and path.suffix != ".log"]
    assert {"log.db", "keys.db", "secret.key"} <= {path.name for path in files}
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"
    assert stat.S_IMODE(world.server.data.stat().st_mode) & 0o077 == 0


def test_d19_api_answers_are_not_stored_and_not_sniffed(world: World) -> None:
    coordinator = world["coordinator"]
    for answer in (
        coordinator.get(f"/v1/partnerships/{P}/exclusions"),
        coordinator.get(f"/v1/partnerships/{P}/subjects"),
        httpx.get(world.server.url + "/v1/me"),  # a 401 too
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in answer.headers["cache-control"], answer.request.url
    subject = subject_excluded_at_the_club(world)
    photo = coordinator.post(
        f"/v1/partnerships/{P}/subjects/{subject}/photos", files={"image": ("a.png", png(), "image/png")}
    )
    assert photo.status_code == 201, photo.text
    image = coordinator.get(f"/v1/partnerships/{P}/subjects/{subject}/photos/{photo.json()['id']}")
    assert image.status_code == 200
    assert "no-store" in image.headers["cache-control"], "a photo of an excluded person is not kept"


def png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, format="PNG")
    return out.getvalue()


def test_d5_guessing_a_password_is_throttled_per_account(world: World) -> None:
    name = world.users["police"]
    url = world.server.url + "/v1/auth/token"
    answers = [httpx.post(url, data={"username": name, "password": f"guess-{n}"}) for n in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    locked = httpx.post(url, data={"username": name, "password": f"guess-{5}"})
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 0
    right = httpx.post(url, data={"username": name, "password": PASSWORD})
    assert right.status_code == 429, "the right password waits too: guessing gains nothing"
    other = httpx.post(url, data={"username": world.users["cctv_operator"], "password": PASSWORD})
    assert other.status_code == 200, "another account is not locked by these failures"
    unknown = [
        httpx.post(url, data={"username": "nobody.here", "password": "x"}).status_code for _ in range(6)
    ]
    assert unknown == [401] * 5 + [429], "an unknown name is throttled alike: no telling who exists"


def test_d5_the_throttle_counts_per_address_over_a_window() -> None:
    from api.throttle import Throttle

    now = [1000.0]
    throttle = Throttle(3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None
    now[0] += 30
    assert throttle.retry_after("10.0.0.1") == 30
    now[0] += 31
    assert throttle.retry_after("10.0.0.1") is None, "failures leave the window"


def test_d6_a_failed_sign_in_tries_at_most_the_one_code_its_tag_names() -> None:
    """Ten outstanding codes used to add ten argon2 checks to every failed sign-in (and
    tell members from strangers by the time it took); now only a password shaped like a
    code is tried as one, against the codes whose tag it carries."""
    from api.routes.setup import candidate_codes, new_code

    ids = [f"{n:028x}{n:04x}" for n in range(1, 11)]
    codes = {code_id: {"used": False, "expires_at": "2099-01-01T00:00:00.000000Z"} for code_id in ids}
    member = {"codes": codes}
    now = "2026-12-02T00:00:00.000000Z"
    assert candidate_codes(member, "a wrong password", now) == []
    assert candidate_codes(member, "demo-password", now) == []
    typed = new_code(ids[3])
    assert candidate_codes(member, typed, now) == [ids[3]]
    assert candidate_codes(member, f"  {typed.lower()} ", now) == [ids[3]], "typed loosely, still found"
    assert len(candidate_codes(member, "FFFF-0000-0000-0000", now)) == 0
    codes[ids[3]]["used"] = True
    assert candidate_codes(member, typed, now) == [], "a used code is never tried"


def test_d18_a_hidden_subject_answers_as_a_made_up_one_does(world: World) -> None:
    d18_a_hidden_subject_answers_as_a_made_up_one_does(world)


def test_d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery(world: World) -> None:
    d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery(world)


def d18_a_hidden_subject_answers_as_a_made_up_one_does(world: World) -> None:
    """Naming a subject hidden from you, in an incident, a sighting or an alert, is refused
    exactly as a made-up id is, on every node: no answer tells you the subject exists."""
    hidden = subject_excluded_at_the_club(world)
    made_up = "0" * 32
    world.caught_up()
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        (
            "door_staff",
            "/incidents",
            {"category": "theft", "venue": PUB, "description": "x", "subject_ids": []},
        ),
        ("door_staff", "/sightings", {"venue": PUB, "camera": "door"}),
        ("door_staff", "/alerts", {"text": "look out"}),
    ]
    for via in world.readers("door_staff"):
        for role, path, body in attempts:
            answers = []
            for subject in (hidden, made_up):
                named = (
                    {**body, "subject_ids": [subject]}
                    if "subject_ids" in body
                    else {**body, "subject_id": subject}
                )
                answers.append(refused(world, role, "POST", path, 422, via, json=named).json()["detail"])
            assert answers[0] == answers[1].replace(made_up, hidden), (path, answers)


def d18_cctv_and_police_cannot_name_a_subject_outside_their_gallery(world: World) -> None:
    """A subject registered, neither excluded, registered nor sought, is the coordinator's alone."""
    coordinator = world["coordinator"]
    registered = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Only Registered"})["id"]
    incident = create(
        world["police"],
        f"/v1/partnerships/{P}/incidents",
        {"category": "theft", "venue": PUB, "description": "till snatch"},
    )["id"]
    world.caught_up()
    for cctv, police in zip(world.readers("cctv_operator"), world.readers("police"), strict=True):
        assert cctv.get(f"/v1/partnerships/{P}/subjects/{registered}").status_code == 404
        sighting = {"subject_id": registered, "venue": PUB, "camera": "cam 2"}
        detail = refused(world, "cctv_operator", "POST", "/sightings", 422, cctv, json=sighting).json()
        assert detail["detail"] == f"no subject {registered}"
        link = refused(
            world,
            "police",
            "POST",
            f"/incidents/{incident}/link-subject",
            422,
            police,
            json={"subject_id": registered},
        )
        assert link.json()["detail"] == f"no subject {registered}"


def test_staff_see_and_name_whom_their_venue_warned_and_no_one_else_warned(world: World) -> None:
    coordinator = world["coordinator"]
    names = {}
    for venue in (PUB, CLUB):
        subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": f"Warned At {venue}"})["id"]
        warning = {"subject_id": subject, "kind": "warning", "venues": [venue], "reason": "yellow card"}
        create(coordinator, f"/v1/partnerships/{P}/exclusions", warning)
        names[venue] = subject
    door = world["door_staff"]  # at the pub
    assert door.get(f"/v1/partnerships/{P}/subjects/{names[PUB]}").status_code == 200
    assert door.get(f"/v1/partnerships/{P}/subjects/{names[CLUB]}").status_code == 404
    report = {"category": "theft", "venue": PUB, "description": "again", "subject_ids": [names[PUB]]}
    refused(world, "door_staff", "POST", "/incidents", 422, json={**report, "subject_ids": [names[CLUB]]})
    create(door, f"/v1/partnerships/{P}/incidents", report)  # last: processors follow it


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, format="PNG")
    return out.getvalue()


def _keys(data: Path) -> set[str]:
    with sqlite3.connect(data / "keys.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM keys")}


def test_d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key(world: World) -> None:
    d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key(world)


def test_d11_a_retried_photo_upload_keeps_one_photo(world: World) -> None:
    d11_a_retried_photo_upload_keeps_one_photo(world)


def d11_a_retried_sighting_with_a_still_keeps_one_still_and_one_key(world: World) -> None:
    """Three POSTs of one ID-sought sighting under one Idempotency-Key: one sighting, one
    subject, one still (two files) and one key, the note and the still readable on every
    node; erased, nothing of it is left."""
    photos, keys = world.photo_files(), world.key_ids()
    note = f"red cap, ID sought {os.urandom(4).hex()}"
    answers = []
    for client in world.retriers("cctv_operator"):
        answer = client.post(
            f"/v1/partnerships/{P}/sightings",
            data={"venue": PUB, "camera": "cam 7", "note": note},
            files={"still": ("still.png", _png(), "image/png")},
            headers={"Idempotency-Key": "sighting-with-still-1"},
        )
        assert answer.status_code == 201, answer.text
        answers.append(answer.json())
    assert answers[0] == answers[1] == answers[2]
    new_files = world.photo_files() - photos
    new_keys = world.key_ids() - keys
    assert len(new_files) == 2, new_files  # the still, full size and thumbnail
    assert len(new_keys) == 1, new_keys
    (subject,) = new_keys
    world.caught_up()
    for reader in world.readers("coordinator"):
        sighting = next(
            s
            for s in reader.get(f"/v1/partnerships/{P}/sightings").json()
            if s["sighting_id"] == answers[0]["id"]
        )
        assert sighting["subject_id"] == subject
        assert sighting["note"] == note, "the note opens with the subject's one key"
        still = reader.get(f"/v1/partnerships/{P}/sightings/{answers[0]['id']}/still")
        assert still.status_code == 200, "the still opens with the subject's one key"

    eraser = world.readers("coordinator")[0]
    erased = eraser.post(f"/v1/partnerships/{P}/subjects/{subject}/erase", json={"reason": "request"})
    assert erased.status_code == 201, erased.text
    world.eventually(lambda: not world.photo_files() & new_files, "the still's files outlived the erasure")
    world.eventually(lambda: subject not in world.key_ids(), "the subject's key outlived the erasure")


def d11_a_retried_photo_upload_keeps_one_photo(world: World) -> None:
    coordinator = world["coordinator"]
    name = "Photographed Once"
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": name})["id"]
    world.caught_up()  # a subject made a while ago: every node knows it
    photos = world.photo_files()
    answers = [
        client.post(
            f"/v1/partnerships/{P}/subjects/{subject}/photos",
            files={"image": ("face.png", _png(), "image/png")},
            headers={"Idempotency-Key": "photo-once"},
        )
        for client in world.retriers("coordinator")
    ]
    assert [a.status_code for a in answers] == [201] * 3, answers[0].text
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert len(world.photo_files() - photos) == 2
    world.caught_up()
    for reader in world.readers("coordinator"):
        record = reader.get(f"/v1/partnerships/{P}/subjects/{subject}").json()
        assert len(record["photos"]) == 1
        assert record["name"] == name, "the name opens with the subject's one key"
        photo = reader.get(f"/v1/partnerships/{P}/subjects/{subject}/photos/{answers[0].json()['id']}")
        assert photo.status_code == 200, "the photo opens with the subject's one key"


def test_d10_free_text_about_a_subject_is_erased_with_them(world: World) -> None:
    d10_free_text_about_a_subject_is_erased_with_them(world)


def d10_free_text_about_a_subject_is_erased_with_them(world: World) -> None:
    """A sighting's note (an ID-sought person's description), a warning's and an
    exclusion's reason, an alert's text naming a subject: readable to those who may see
    them, never in clear in the log, and gone from every view, frame and export once the
    subject is erased."""
    coordinator, cctv = world["coordinator"], world["cctv_operator"]
    words = {
        name: f"{name}-{os.urandom(4).hex()}" for name in ("warned", "excluded", "seen", "alert", "sought")
    }
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Erased With Their Words"})["id"]
    warning = {"subject_id": subject, "kind": "warning", "venues": [PUB], "reason": words["warned"]}
    create(coordinator, f"/v1/partnerships/{P}/exclusions", warning)
    exclusion = {"subject_id": subject, "kind": "exclusion", "venues": [], "reason": words["excluded"]}
    create(coordinator, f"/v1/partnerships/{P}/exclusions", exclusion)
    create(
        cctv, f"/v1/partnerships/{P}/sightings", {"subject_id": subject, "venue": PUB, "note": words["seen"]}
    )
    world.caught_up()
    police = Live(world.nodes[0], bearer(world, "police"), {P: world.head()})
    alert = create(cctv, f"/v1/partnerships/{P}/alerts", {"text": words["alert"], "subject_id": subject})[
        "id"
    ]
    sought = create(cctv, f"/v1/partnerships/{P}/sightings", {"venue": PUB, "note": words["sought"]})
    frames = police.frames_until(lambda f: f.get("data", {}).get("alert_id") == alert, timeout=15)
    police.close()
    assert frames[-1]["data"]["text"] == words["alert"], "a live frame shows the text to who may see it"

    def shown(reader: httpx.Client) -> str:
        reads = [
            f"/v1/partnerships/{P}/alerts",
            f"/v1/partnerships/{P}/sightings",
            f"/v1/partnerships/{P}/warnings",
            f"/v1/partnerships/{P}/exclusions?status=all",
            f"/v1/partnerships/{P}/audit/state",
        ]
        return " ".join(reader.get(path).text for path in reads)

    world.caught_up()
    for reader in world.readers("coordinator"):
        before = shown(reader)
        assert all(word in before for word in words.values()), "screens show the words before erasure"
    log = world.log_bytes()
    assert not [w for w in words.values() if w.encode() in log], (
        "free text about a subject in clear in the log"
    )

    eraser = world.readers("coordinator")[0]
    sought_subject = next(
        s["subject_id"]
        for s in eraser.get(f"/v1/partnerships/{P}/sightings").json()
        if s["sighting_id"] == sought["id"]
    )
    for erased in (subject, sought_subject):
        create(eraser, f"/v1/partnerships/{P}/subjects/{erased}/erase", {"reason": "erasure request"})
    world.caught_up()
    for reader in world.readers("coordinator"):
        after = shown(reader)
        assert not [w for w in words.values() if w in after], "free text outlived its subject's erasure"
    for node in world.nodes:
        replayed = Live(node, bearer(world, "police"), {P: 0})
        old_frames = replayed.drain(1.0)
        replayed.close()
        assert old_frames and not [w for w in words.values() if w in json.dumps(old_frames)]


def test_a_token_from_before_a_revocation_stays_dead_when_the_name_is_enrolled_again(world: World) -> None:
    """Revoked, then enrolled again (at another venue): the old token, which still names the
    old venue, opens nothing; a new sign-in does."""
    coordinator, name = world["coordinator"], f"{P}.returning.{time.monotonic_ns()}"
    body = {"username": name, "password": PASSWORD, "role": "door_staff", "venue": PUB}
    create(coordinator, f"/v1/partnerships/{P}/members", body)
    old = httpx.post(world.server.url + "/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert old.status_code == 200, old.text
    old_token = old.json()["access_token"]
    assert coordinator.post(f"/v1/partnerships/{P}/members/{name}/revoke").status_code == 201
    time.sleep(1.1)  # tokens tell time in whole seconds: the new enrolment is a later one
    again = {**body, "venue": CLUB, "password": "a new passphrase 7"}
    create(coordinator, f"/v1/partnerships/{P}/members", again)
    me = httpx.get(world.server.url + "/v1/me", headers={"Authorization": f"Bearer {old_token}"})
    assert me.status_code == 401, me.text
    with pytest.raises(ConnectionClosed):
        Live(world.server, old_token, {P: 0}).next(timeout=5)
    new = httpx.post(
        world.server.url + "/v1/auth/token", data={"username": name, "password": again["password"]}
    )
    assert new.status_code == 200, new.text
    headers = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert httpx.get(world.server.url + "/v1/me", headers=headers).json()["venue"] == CLUB
