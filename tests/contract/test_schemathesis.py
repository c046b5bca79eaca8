"""The OpenAPI document is true to what the API answers: schemathesis makes requests from
it, well-formed and malformed, to a real `hub serve` as each role with its token, and
every answer must be one the document gives (its status, content type, body schema and
headers), a malformed request must be refused with a 4xx, an operation the document says
needs a token must refuse a request without one, and nothing may be a 5xx.

Bounded: a few requests per operation for the roles that may call it (one or two for
the rest, who get the 403), derandomised so every run makes the same requests. The ids
in paths and bodies are drawn from things this hub really holds, with an unknown one
among them, so requests reach the hub's rules rather than stopping at a 404. Members
and venues a request may revoke or remove are spares: no run can lock itself out.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import ROLES, Server, create, make_admin, running_server, set_up_partnership

P = "north"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]
# requests per operation and kind (well-formed, malformed): for a role that may call it, and not
MAY, MAY_NOT = 5, 1
UNKNOWN = "0000000000000000"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Hub:
    """A real hub with a partnership of every role, and things in it to name."""

    server: Server
    tokens: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)


def seed(server: Server, users: dict[str, str]) -> dict[str, list[str]]:
    """Subjects with photos, a sighting with a still, an incident, an alert, exclusions;
    spare members and venues to revoke and remove."""
    coordinator = server.login(users["coordinator"])
    cctv = server.login(users["cctv_operator"])
    base = f"/v1/partnerships/{P}"
    subjects = [create(coordinator, f"{base}/subjects", {"name": f"Sam {n}"})["id"] for n in range(4)]
    photos = [
        coordinator.post(f"{base}/subjects/{s}/photos", files={"image": ("a.png", png(), "image/png")})
        for s in subjects[:2]
    ]
    assert all(answer.status_code == 201 for answer in photos), [a.text for a in photos]
    sought = cctv.post(f"{base}/sightings", data={"venue": f"{P}-pub"}, files={"still": ("s.png", png())})
    assert sought.status_code == 201, sought.text
    incident = {"category": "theft", "venue": f"{P}-shop", "description": "two bottles", "subject_ids": []}
    warning = {"kind": "warning", "subject_id": subjects[0], "reason": "abusive to staff"}
    exclusion = {"kind": "exclusion", "subject_id": subjects[1], "reason": "assault", "venues": []}
    for n in range(3):
        create(coordinator, f"{base}/venues", {"id": f"spare-{n}", "name": f"Spare {n}", "kind": "retail"})
        member = {"username": f"spare.{n}", "password": "spare-password-1", "role": "retail_staff"}
        create(coordinator, f"{base}/members", {**member, "venue": f"spare-{n}"})
    view = coordinator.get(base + "/subjects/" + subjects[0]).json()
    ids = {
        "p": [P, P, P, P, "south", "nowhere"],
        "subject_id": [*subjects, UNKNOWN],
        "photo_id": [*view["photos"], UNKNOWN],
        "sighting_id": [s["sighting_id"] for s in coordinator.get(f"{base}/sightings").json()] + [UNKNOWN],
        "incident_id": [create(cctv, f"{base}/incidents", incident)["id"], UNKNOWN],
        "alert_id": [create(cctv, f"{base}/alerts", {"text": "male, red cap"})["id"], UNKNOWN],
        "exclusion_id": [create(coordinator, f"{base}/exclusions", exclusion)["id"], UNKNOWN],
        "username": [f"spare.{n}" for n in range(3)] + ["nobody"],
        "venue": [f"spare-{n}" for n in range(3)] + ["no-such-venue"],
    }
    create(coordinator, f"{base}/exclusions", warning)
    return ids


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data = tmp_path_factory.mktemp("schemathesis")
    make_admin(data)
    with running_server(data) as server:
        admin = server.login("admin")
        users = set_up_partnership(admin, P)
        set_up_partnership(admin, "south")
        tokens = {role: server.token(users[role]) for role in ROLES} | {"admin": server.token("admin")}
        yield Hub(server, tokens, seed(server, users))


@pytest.fixture(scope="module")
def schema(hub: Hub) -> Any:
    return schemathesis.openapi.from_url(hub.server.url + "/openapi.json")


def may(operation: Any, role: str) -> bool:
    roles = operation.definition.raw.get("x-roles")
    return roles is None or role in roles


def malformable(operation: Any) -> bool:
    """Whether a malformed request can be made: only text path parameters cannot."""
    raw = operation.definition.raw
    return "requestBody" in raw or any(p["in"] != "path" for p in raw.get("parameters", []))


def signed_in(token: str) -> AuthStorage[str]:
    """The role's token on every request, as schemathesis's own auth: its checks then know
    the credentials are real (and `ignored_auth` tries the request without them)."""

    class Token:
        def get(self, case: Any, context: Any) -> str:
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    storage: AuthStorage[str] = AuthStorage()
    storage.auth(refresh_interval=None)(Token)
    return storage


def real(hub: Hub, operation: Any, role: str, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Cases with the path's ids drawn from what the hub holds."""
    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
    chosen = {name: st.sampled_from(hub.ids[name]) for name in names if name in hub.ids}
    auth = signed_in(hub.tokens[role])
    cases = st.fixed_dictionaries(chosen).flatmap(
        lambda path: operation.as_strategy(mode, path_parameters=path or None, auth_storage=auth)
    )
    if mode is not GenerationMode.POSITIVE:
        return cases
    venues = st.sampled_from([None, f"{P}-pub", f"{P}-shop"])
    subjects = st.sampled_from([None, *hub.ids["subject_id"][:2]])
    return st.tuples(cases, venues, subjects, st.booleans()).map(lambda drawn: named(*drawn))


def named(case: Any, venue: str | None, subject: str | None, image: bool) -> Any:
    """A well-formed body that names a real venue or subject, and sends a real image."""
    if isinstance(case.body, dict):
        if "venue" in case.body and venue is not None:
            case.body["venue"] = venue
        if "subject_id" in case.body and subject is not None:
            case.body["subject_id"] = subject
        for key in ("image", "still"):
            if key in case.body and image:
                case.body[key] = png()
    return case


def run(hub: Hub, operation: Any, role: str, mode: GenerationMode, failures: list[str]) -> int:
    """Make the bounded number of requests for one operation; note each failure."""
    made = 0

    @given(case=real(hub, operation, role, mode))
    @settings(
        max_examples=MAY if may(operation, role) else MAY_NOT,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def each(case: Any) -> None:
        nonlocal made
        made += 1
        try:
            case.call_and_validate(base_url=hub.server.url, checks=CHECKS, timeout=60)
        except (AssertionError, BaseExceptionGroup) as error:
            failures.append(f"{role} {operation.label} ({mode.name.lower()}): {error}")

    each()
    return made


@pytest.mark.parametrize("role", [*ROLES, "admin"])
def test_every_answer_is_one_the_openapi_document_gives(hub: Hub, schema: Any, role: str) -> None:
    failures: list[str] = []
    made = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        made += run(hub, operation, role, GenerationMode.POSITIVE, failures)
        if malformable(operation):
            made += run(hub, operation, role, GenerationMode.NEGATIVE, failures)
    assert len(operations) >= 45
    assert made >= 2 * len(operations)
    assert failures == [], "\n\n".join(failures[:20])


def test_an_answer_the_document_does_not_give_fails_the_checks(hub: Hub) -> None:
    """The control: with /v1/me's 401 taken out of the document, the same checks fail
    the 401 a bad token gets."""
    document = httpx.get(hub.server.url + "/openapi.json", timeout=30).json()
    del document["paths"]["/v1/me"]["get"]["responses"]["401"]
    case = schemathesis.openapi.from_dict(document)["/v1/me"]["GET"].Case()
    with pytest.raises(BaseExceptionGroup) as caught:
        case.call_and_validate(base_url=hub.server.url, headers={"Authorization": "Bearer x"}, checks=CHECKS)
    assert [type(failure) for failure in caught.value.exceptions] == [UndefinedStatusCode]
