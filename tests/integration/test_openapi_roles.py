"""The OpenAPI document describes the role matrix the server enforces: every route that
needs a capability names the roles that may call it (`x-roles`, from schemas/roles.py)
and documents the 403 the others get."""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from schemas.roles import CAN


def test_every_guarded_route_names_its_roles_and_its_403(tmp_path: Path) -> None:
    document = create_app(tmp_path).openapi()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    guarded = {key: op for key, op in operations.items() if "x-roles" in op}
    assert len(guarded) >= 35
    for key, operation in guarded.items():
        assert operation["x-roles"] in [sorted(roles) for roles in CAN.values()], key
        assert "403" in operation["responses"], key
    assert operations[("POST", "/v1/partnerships/{p}/exclusions")]["x-roles"] == ["coordinator"]
    assert operations[("GET", "/v1/partnerships/{p}/audit/verify")]["x-roles"] == sorted(CAN["audit"])
    assert operations[("POST", "/v1/partnerships/{p}/alerts")]["x-roles"] == sorted(CAN["broadcast"])
