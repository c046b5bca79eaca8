"""The roles of DESIGN.md and what each may do: the one definition the server enforces,
the OpenAPI describes and the web app reads (through `/v1/me`)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["door_staff", "retail_staff", "cctv_operator", "police", "coordinator", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

# Door and retail staff belong to one venue and see what happens there.
VENUE_ROLES = frozenset({"door_staff", "retail_staff"})
# The control room, police and the coordinator see the whole partnership.
CONTROL = frozenset({"cctv_operator", "police", "coordinator"})
# Everyone on the radio net: live alerts and breaches reach them.
RECEIVERS = VENUE_ROLES | CONTROL
COORDINATOR = frozenset({"coordinator"})
# Members a coordinator may enrol, issue device codes for and revoke; coordinators,
# auditors (and county leads) only an admin manages.
MANAGED_BY_COORDINATOR = frozenset({"door_staff", "retail_staff", "cctv_operator", "police"})

CAN: dict[str, frozenset[str]] = {
    "receive": RECEIVERS,
    "broadcast": RECEIVERS,
    "report": RECEIVERS,
    "gallery": RECEIVERS | {"auditor"},
    "manage_subjects": COORDINATOR,
    "exclude": COORDINATOR,
    "close_alert": CONTROL,
    "crime_reference": frozenset({"police", "coordinator"}),
    "follow": CONTROL,
    "audit": frozenset({"coordinator", "auditor"}),
    "statistics": frozenset({"coordinator", "auditor", "police"}),
    "manage_members": frozenset({"coordinator", "admin"}),
    "manage_partnerships": frozenset({"admin"}),
    "record_inspection": COORDINATOR,
    "awards": CONTROL | {"auditor"},
}


def may(role: str, action: str) -> bool:
    """Whether `role` may do `action` (a key of CAN)."""
    return role in CAN[action]


def capabilities(role: str) -> list[str]:
    """Every action `role` may do, as `/v1/me` lists them for the web app."""
    return sorted(action for action, roles in CAN.items() if role in roles)


def enrols(role: str) -> list[str]:
    """The roles a member of `role` may enrol and revoke (admins are made by `hub admin create`)."""
    if role == "admin":
        return [r for r in ROLES if r != "admin"]
    if role == "coordinator":
        return [r for r in ROLES if r in MANAGED_BY_COORDINATOR]
    return []
