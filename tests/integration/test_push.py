"""Web Push on a real `hub serve`: browsers subscribe, an urgent alert or a breach is
pushed, encrypted for each browser (the test decrypts it with the browser's key),
signed with the hub's VAPID key, to a local push service on loopback
(HUB_PUSH_INSECURE_ENDPOINTS); nobody who may not see it is pushed, a revoked member is
not, a 410 removes the subscription, and endpoints into private networks are refused."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.push_endpoint import Browser, PushService, vapid_claims
from tests.support import PASSWORD, Server, create, make_admin, set_up_partnership

P, Q = "pn", "pq"


class Story:
    def __init__(self, server: Server, service: PushService) -> None:
        self.server = server
        self.service = service
        admin = server.login("admin")
        self.users = {P: set_up_partnership(admin, P), Q: set_up_partnership(admin, Q)}
        self.clients: dict[str, httpx.Client] = {}
        self.browsers: dict[str, Browser] = {}
        self.ids: dict[str, str] = {}

    def client(self, p: str, role: str) -> httpx.Client:
        name = self.users[p][role]
        if name not in self.clients:
            self.clients[name] = self.server.login(name)
        return self.clients[name]

    def subscribe(self, p: str, role: str, path: str | None = None) -> Browser:
        name = self.users[p][role]
        browser = Browser(f"{self.service.origin}{path or '/sub/' + name}")
        answer = self.client(p, role).post("/v1/push/subscriptions", json=browser.subscription())
        assert answer.status_code == 201, answer.text
        self.browsers[name], self.ids[name] = browser, answer.json()["id"]
        return browser

    def alert(self, p: str, priority: str, venue: str | None = None) -> int:
        body = {"channel": "main", "priority": priority, "text": "male, red cap, heading to the market"}
        answer = create(
            self.client(p, "cctv_operator"), f"/v1/partnerships/{p}/alerts", body | {"venue": venue}
        )
        return int(answer["positions"][-1])


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    data = tmp_path_factory.mktemp("push")
    make_admin(data)
    service = PushService()
    server = Server(data, env={"HUB_PUSH_INSECURE_ENDPOINTS": service.host_port})
    server.start()
    try:
        yield Story(server, service)
    finally:
        server.stop()
        service.stop()


def public_key(story: Story) -> str:
    answer = httpx.get(story.server.url + "/v1/push/key")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["public_key"])


def test_the_vapid_key_is_kept_owner_only_and_served_as_a_raw_point(story: Story) -> None:
    key = public_key(story)
    assert len(key) == 87 and "=" not in key  # 65 bytes, base64url without padding
    mode = (story.server.data / "vapid.pem").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_an_urgent_alert_is_pushed_encrypted_signed_and_to_its_audience_only(story: Story) -> None:
    for role in ("door_staff", "door_staff_club", "cctv_operator", "coordinator"):
        story.subscribe(P, role)
    story.subscribe(Q, "police")  # another partnership: must hear nothing of P's alerts
    routine = story.alert(P, "routine")
    urgent = story.alert(P, "urgent", venue=f"{P}-pub")
    receivers = [story.users[P][r] for r in ("door_staff", "door_staff_club", "cctv_operator", "coordinator")]
    story.service.wait_for(len(receivers), "/sub/")
    key = public_key(story)
    for name in receivers:
        (push,) = story.service.to(f"/sub/{name}")
        assert push.headers["urgency"] == "high"
        assert int(push.headers["ttl"]) > 0
        assert push.headers["content-encoding"] == "aes128gcm"
        claims = vapid_claims(push.headers["authorization"], key, story.service.origin)
        assert claims["exp"] > time.time() and claims["sub"].startswith(("mailto:", "https:"))
        message = story.browsers[name].decrypt(push.body)
        assert message == {
            "partnership": P,
            "position": urgent,
            "type": "alert.broadcast",
            "title": "Urgent alert",
            "body": f"{P} pub · Main net",
        }
        assert b"red cap" not in push.body
    assert urgent > routine
    assert story.service.to(f"/sub/{story.users[Q]['police']}") == []


def test_the_same_browser_subscribing_again_adds_nothing(story: Story) -> None:
    name = story.users[P]["door_staff"]
    again = story.client(P, "door_staff").post(
        "/v1/push/subscriptions", json=story.browsers[name].subscription()
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] == story.ids[name]
    assert again.json()["positions"] == []


def test_a_breach_is_pushed_to_the_venue_control_room_and_coordinator_not_another_venue(
    story: Story,
) -> None:
    coordinator = story.client(P, "coordinator")
    subject = create(coordinator, f"/v1/partnerships/{P}/subjects", {"name": "Dan Example"})
    create(
        coordinator,
        f"/v1/partnerships/{P}/exclusions",
        {"subject_id": subject["id"], "kind": "exclusion", "venues": [f"{P}-pub"], "reason": "violence"},
    )
    before = {name: len(story.service.to(f"/sub/{name}")) for name in story.browsers}
    create(
        story.client(P, "cctv_operator"),
        f"/v1/partnerships/{P}/sightings",
        {"subject_id": subject["id"], "venue": f"{P}-pub", "camera": "cam 12"},
    )
    door, cctv = story.users[P]["door_staff"], story.users[P]["cctv_operator"]
    story.service.wait_for(before[door] + 1, f"/sub/{door}")
    story.service.wait_for(before[cctv] + 1, f"/sub/{cctv}")
    message = story.browsers[door].decrypt(story.service.to(f"/sub/{door}")[-1].body)
    assert message["title"] == "Urgent: exclusion breach"
    assert "Dan" not in str(message)
    # a later urgent alert to everyone reaches the club's door: the breach never did
    club = story.users[P]["door_staff_club"]
    last = story.alert(P, "emergency")
    story.service.wait_for(before[club] + 1, f"/sub/{club}")
    got = [story.browsers[club].decrypt(r.body) for r in story.service.to(f"/sub/{club}")[before[club] :]]
    assert [(m["position"], m["title"]) for m in got] == [(last, "Emergency alert")]


def test_a_revoked_member_is_pushed_nothing(story: Story) -> None:
    door, cctv = story.users[P]["door_staff"], story.users[P]["cctv_operator"]
    before = {name: len(story.service.to(f"/sub/{name}")) for name in (door, cctv)}
    create(story.client(P, "coordinator"), f"/v1/partnerships/{P}/members/{door}/revoke", {})
    story.alert(P, "urgent")
    story.service.wait_for(before[cctv] + 1, f"/sub/{cctv}")
    story.alert(P, "urgent")  # a second one, after the first was pushed everywhere
    story.service.wait_for(before[cctv] + 2, f"/sub/{cctv}")
    assert len(story.service.to(f"/sub/{door}")) == before[door]


def test_a_member_enrolled_again_subscribes_afresh_and_is_pushed_again(story: Story) -> None:
    door = story.users[P]["door_staff"]
    old_id, browser = story.ids[door], story.browsers[door]
    body = {"username": door, "password": PASSWORD, "role": "door_staff", "venue": f"{P}-pub"}
    create(story.client(P, "coordinator"), f"/v1/partnerships/{P}/members", body)
    story.clients[door] = story.server.login(door)
    again = story.client(P, "door_staff").post("/v1/push/subscriptions", json=browser.subscription())
    assert again.status_code == 201, again.text
    assert again.json()["id"] != old_id and again.json()["positions"]
    before = len(story.service.to(f"/sub/{door}"))
    position = story.alert(P, "urgent")
    story.service.wait_for(before + 1, f"/sub/{door}")
    pushes = story.service.to(f"/sub/{door}")[before:]
    assert [browser.decrypt(r.body)["position"] for r in pushes] == [position]  # once, not per id


def test_a_gone_subscription_is_removed(story: Story) -> None:
    story.subscribe(P, "police", path=f"/gone/{P}.police")
    story.alert(P, "urgent")
    story.service.wait_for(1, "/gone/")
    police = story.client(P, "police")
    deadline = time.monotonic() + 30
    while True:  # the removal is the hub's own command, just after the 410
        events = story.client(P, "coordinator").get(f"/v1/partnerships/{P}/audit/events")
        gone = [line for line in events.text.splitlines() if '"push.unsubscribed"' in line]
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(gone) == 1 and '"gone"' in gone[0]
    assert police.delete(f"/v1/push/subscriptions/{story.ids[f'{P}.police']}").status_code == 404
    assert story.service.origin not in events.text  # endpoints are sealed in the log
    assert "/sub/" not in events.text and "/gone/" not in events.text


def test_only_the_owner_removes_a_subscription(story: Story) -> None:
    cctv = story.users[P]["cctv_operator"]
    other = story.client(P, "coordinator").delete(f"/v1/push/subscriptions/{story.ids[cctv]}")
    assert other.status_code == 404, other.text
    made_up = story.client(P, "cctv_operator").delete("/v1/push/subscriptions/nothing-like-it")
    assert made_up.status_code == 404, made_up.text
    own = story.client(P, "cctv_operator").delete(f"/v1/push/subscriptions/{story.ids[cctv]}")
    assert own.status_code == 200, own.text
    assert own.json()["id"] == story.ids[cctv]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/push/1",
        "https://10.1.2.3/push/1",
        "https://192.168.0.10/push/1",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/push/1",
        "https://[fd00::1]/push/1",
        "https://[::ffff:127.0.0.1]/push/1",
        "https://224.0.0.1/push/1",
        "https://0.0.0.0/push/1",
        "https://localhost/push/1",
        "http://push.example.com/push/1",
        "https://user:pw@push.example.com/push/1",
        "ftp://push.example.com/1",
        "not a url",
    ],
)
def test_endpoints_off_the_public_internet_are_refused(story: Story, endpoint: str) -> None:
    body = Browser(endpoint).subscription()
    answer = story.client(P, "cctv_operator").post("/v1/push/subscriptions", json=body)
    assert answer.status_code == 422, answer.text
    assert "push endpoint" in answer.json()["detail"]


@pytest.mark.parametrize(
    "keys",
    [
        {"p256dh": "A" * 87, "auth": "B" * 22},  # not a point on the curve
        {"p256dh": Browser("x").subscription()["keys"]["p256dh"], "auth": "B" * 20},  # 15 bytes
        {"p256dh": "!" * 87, "auth": "B" * 22},
        {"auth": "B" * 22},
    ],
)
def test_bad_keys_are_refused_with_a_reason(story: Story, keys: dict[str, Any]) -> None:
    body = {"endpoint": f"{story.service.origin}/sub/bad", "keys": keys}
    answer = story.client(P, "cctv_operator").post("/v1/push/subscriptions", json=body)
    assert answer.status_code == 422, answer.text


def test_roles_that_receive_no_alerts_may_not_subscribe(story: Story) -> None:
    body = Browser(f"{story.service.origin}/sub/auditor").subscription()
    for client in (story.client(P, "auditor"), story.server.login("admin")):
        assert client.post("/v1/push/subscriptions", json=body).status_code == 403
        assert client.delete("/v1/push/subscriptions/x").status_code == 403
    assert httpx.post(story.server.url + "/v1/push/subscriptions", json=body).status_code == 401
