"""Web Push, the pure parts: the push stream's decider, who is pushed what and what it
says, the endpoint checks (no request forgery), the encryption a browser can open, and
the VAPID key's sources."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.application.push import PushIndex, payload, recipients
from hub.domain import Context, Invalid, NotFound, Rejected
from hub.domain.partnership import Partnership
from hub.domain.push import decider
from hub.push.endpoints import check, parse, refused_address
from hub.push.sender import encrypt
from hub.push.vapid import _from_secret, vapid_key
from projections.views import PartnershipView, apply
from schemas.commands import SubscribePush, UnsubscribePush
from schemas.events import PushSubscribed, PushUnsubscribed
from tests.push_endpoint import Browser, vapid_claims

SEALED = {"key": "member-door", "ct": "c2VhbGVk"}
CTX = Context("door", "door_staff", datetime(2026, 12, 3, tzinfo=UTC))
MEMBERS = {
    "door": {"role": "door_staff", "venue": "pub", "active": True},
    "auditor": {"role": "auditor", "venue": None, "active": True},
    "gone": {"role": "police", "venue": None, "active": False},
}
SETUP = Partnership(registered=True, members=MEMBERS)


def subscribe(state: Any, username: str = "door", sid: str = "s1") -> list[Any]:
    command = SubscribePush(username=username, subscription_id=sid, subscription=SEALED)
    return decider.decide(command, state, CTX, SETUP)


def test_a_receiving_member_subscribes_once_and_removes_only_their_own() -> None:
    (event,) = subscribe(decider.initial())
    assert isinstance(event, PushSubscribed) and event.subscription.key == "member-door"
    state = decider.evolve(decider.initial(), event.TYPE, event.data)
    assert subscribe(state) == []  # the same browser again: nothing new
    with pytest.raises(NotFound):
        decider.decide(UnsubscribePush(subscription_id="s1", username="someone"), state, CTX, SETUP)
    (removed,) = decider.decide(UnsubscribePush(subscription_id="s1", username="door"), state, CTX, SETUP)
    assert isinstance(removed, PushUnsubscribed) and removed.reason == "removed"
    state = decider.evolve(state, removed.TYPE, removed.data)
    with pytest.raises(NotFound):
        decider.decide(UnsubscribePush(subscription_id="s1", username="door"), state, CTX, SETUP)


def test_members_who_receive_no_alerts_or_are_revoked_may_not_subscribe() -> None:
    with pytest.raises(Rejected):
        subscribe(decider.initial(), "auditor")
    with pytest.raises(NotFound):
        subscribe(decider.initial(), "gone")
    with pytest.raises(NotFound):
        subscribe(decider.initial(), "nobody")


def _event(
    position: int, type: str, data: dict[str, Any], at: str = "2026-12-03T10:00:00.000000Z"
) -> dict[str, Any]:
    return {
        "id": f"e{position}",
        "partnership": "p",
        "position": position,
        "type": type,
        "data": data,
        "occurred_at": at,
        "recorded_at": at,
        "actor": {"user": "x", "role": "coordinator"},
    }


def _view() -> tuple[PartnershipView, PushIndex]:
    view = PartnershipView("p", name="P")
    view.venues = {
        "pub": {"name": "The Red Lion", "kind": "night_time"},
        "club": {"name": "Vault", "kind": "night_time"},
    }
    view.channels = {"main": "Main net"}
    for name, role, venue in (
        ("door", "door_staff", "pub"),
        ("club", "door_staff", "club"),
        ("cctv", "cctv_operator", None),
        ("auditor", "auditor", None),
    ):
        view.members[name] = {
            "username": name,
            "role": role,
            "venue": venue,
            "active": True,
            "enrolled_at": "2026-12-01T00:00:00.000000Z",
        }
    index = PushIndex()
    for n, name in enumerate(("door", "club", "cctv", "auditor"), start=1):
        index.apply(
            _event(
                n,
                PushSubscribed.TYPE,
                {"subscription_id": f"s-{name}", "username": name, "subscription": SEALED},
            )
        )
    return view, index


def _alert(position: int, priority: str, **more: Any) -> dict[str, Any]:
    data = {
        "alert_id": f"a{position}",
        "channel": "main",
        "priority": priority,
        "text": "Dan Example, red cap",
        "venue": None,
        "location": None,
        "subject_id": None,
        "breach_of": None,
    }
    return _event(position, "alert.broadcast", data | more)


def test_urgent_alerts_reach_everyone_who_would_see_their_frame_routine_ones_nobody() -> None:
    view, index = _view()
    assert recipients(index, view, _alert(10, "routine")) == []
    names = {r.username for r in recipients(index, view, _alert(11, "urgent"))}
    assert names == {"door", "club", "cctv"}  # not the auditor, who receives no alerts
    breach = _alert(12, "urgent", venue="pub", breach_of="x1", subject_id="s9")
    assert {r.username for r in recipients(index, view, breach)} == {"door", "cctv"}


def test_revoked_members_and_subscriptions_from_an_earlier_enrolment_are_not_pushed() -> None:
    view, index = _view()
    view.members["door"]["active"] = False
    view.members["cctv"]["enrolled_at"] = "2026-12-03T11:00:00.000000Z"  # enrolled again since
    assert {r.username for r in recipients(index, view, _alert(11, "urgent"))} == {"club"}
    index.apply(
        _event(13, PushUnsubscribed.TYPE, {"subscription_id": "s-club", "username": "club", "reason": "gone"})
    )
    assert recipients(index, view, _alert(14, "urgent")) == []


def test_the_payload_names_no_subject_and_carries_no_free_text() -> None:
    view, _ = _view()
    breach = _alert(12, "urgent", venue="pub", breach_of="x1", subject_id="s9")
    assert payload(view, breach) == {
        "partnership": "p",
        "position": 12,
        "type": "alert.broadcast",
        "title": "Urgent: exclusion breach",
        "body": "The Red Lion · Main net",
    }
    assert payload(view, _alert(13, "emergency"))["title"] == "Emergency alert"
    assert "Dan" not in str(payload(view, _alert(14, "urgent", venue="club")))


def test_a_view_folds_push_events_without_showing_them() -> None:
    view = PartnershipView("p")
    apply(
        view,
        _event(1, PushSubscribed.TYPE, {"subscription_id": "s", "username": "door", "subscription": SEALED}),
    )
    assert view.position == 1 and "subscription" not in str(view.to_dict()["members"])


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "not public"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("ff02::1", "multicast"),
    ],
)
def test_addresses_off_the_public_internet_are_refused(address: str, why: str) -> None:
    assert why in (refused_address(address) or "")


@pytest.mark.parametrize("address", ["142.250.180.10", "2a00:1450:4009:81f::200a", "17.253.144.10"])
def test_public_addresses_pass(address: str) -> None:
    assert refused_address(address) is None


def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["142.250.180.10", "127.0.0.1"]

    async def public(host: str, port: int) -> list[str]:
        return ["142.250.180.10"]

    url = "https://fcm.googleapis.com/fcm/send/abc"
    with pytest.raises(Invalid, match="loopback"):
        asyncio.run(check(url, frozenset(), rebinding))
    target = asyncio.run(check(url, frozenset(), public))
    assert (target.address, target.origin, target.host) == (
        "142.250.180.10",
        "https://fcm.googleapis.com",
        "fcm.googleapis.com",
    )


def test_plain_http_only_to_the_endpoints_listed_as_insecure() -> None:
    with pytest.raises(Invalid, match="https"):
        parse("http://127.0.0.1:9000/x", frozenset({"127.0.0.1:9001"}))
    listed = parse("http://127.0.0.1:9000/x", frozenset({"127.0.0.1:9000"}))
    assert (listed.address, listed.origin) == (None, "http://127.0.0.1:9000")
    assert parse("https://push.example.com:8443/x", frozenset()).origin == "https://push.example.com:8443"


def test_a_browser_decrypts_what_the_hub_encrypts() -> None:
    browser = Browser("https://push.example.com/x")
    keys = browser.subscription()["keys"]
    body = encrypt(b'{"title": "Urgent alert"}', keys["p256dh"], keys["auth"])
    assert browser.decrypt(body) == {"title": "Urgent alert"}
    assert encrypt(b"{}", keys["p256dh"], keys["auth"]) != encrypt(b"{}", keys["p256dh"], keys["auth"])


def test_vapid_key_from_the_shared_secret_is_the_same_on_every_node(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("HUB_PUSH_VAPID_KEY", raising=False)
    monkeypatch.setenv("HUB_SECRET", "a-long-random-secret-shared-by-every-node-0123456789")
    a, b = vapid_key(tmp_path / "a", kafka=True), vapid_key(tmp_path / "b", kafka=True)
    assert a.public_key == b.public_key
    assert (
        _from_secret("another secret entirely, also long enough").private_numbers() != a.key.private_numbers()
    )
    (tmp_path / "c").mkdir()
    c = vapid_key(tmp_path / "c", kafka=False)
    assert vapid_key(tmp_path / "c", kafka=False).public_key == c.public_key != a.public_key
    claims = vapid_claims(
        c.authorization("https://push.example.com"), c.public_key, "https://push.example.com"
    )
    assert claims["aud"] == "https://push.example.com"


def test_the_senders_resolver_refuses_a_name_that_resolves_off_the_public_internet() -> None:
    from hub.push.sender import PublicResolver

    async def connect(insecure: frozenset[str]) -> list[Any]:
        resolver = PublicResolver(insecure)
        try:
            return await resolver.resolve("localhost", 8443)
        finally:
            await resolver.close()

    with pytest.raises(OSError, match="loopback"):
        asyncio.run(connect(frozenset()))
    assert asyncio.run(connect(frozenset({"localhost:8443"})))
