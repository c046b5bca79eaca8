"""Request bodies of the REST API. Unknown fields are refused, every field is checked.

A route turns a body into a command (schemas/commands.py): the REST shape is not the
event shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from schemas.commands import ROUTINE_ALERT_MINUTES
from schemas.roles import Role
from schemas.vocabulary import IncidentCategory, Priority, VenueKind

Identifier = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# The years a moment may fall in: the log writes four-digit years, and a 12-month term
# from the last of them still fits.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2199


def _written(value: object) -> object:
    """A moment is ISO 8601 text, as the OpenAPI document says; a bare number (which
    pydantic would take for seconds since 1970) is refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 moment, e.g. 2026-11-26T21:00:00Z")
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*", value, re.IGNORECASE):
        raise ValueError("must be an ISO 8601 moment, e.g. 2026-11-26T21:00:00Z")
    return value


# A moment in a request: ISO 8601 text only.
Moment = Annotated[datetime, BeforeValidator(_written)]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return value
    if value.tzinfo is None:
        raise ValueError("must include a timezone, e.g. 2026-11-26T21:00:00Z")
    if not EARLIEST_YEAR <= value.astimezone(UTC).year <= LATEST_YEAR:
        raise ValueError(f"must be a moment in a year from {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


class RegisterPartnership(Body):
    id: str = Identifier
    name: str = Field(min_length=1, max_length=200)
    retention_days: int = Field(default=365, ge=30, le=3650)
    routine_alert_minutes: int | None = Field(
        default=ROUTINE_ALERT_MINUTES,
        ge=5,
        le=10080,
        description="a routine alert closes by itself this many minutes after it was posted (null: never)",
    )


class AddVenue(Body):
    id: str = Identifier
    name: str = Field(min_length=1, max_length=200)
    kind: VenueKind


class ChangeVenue(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: VenueKind | None = None


class OpenChannel(Body):
    id: str = Identifier
    name: str = Field(min_length=1, max_length=200)


class EnrolMember(Body):
    # a password is taken as typed: never trimmed (NIST SP 800-63B)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    username: str = Identifier
    password: str = Field(min_length=8, max_length=200)
    role: Role
    venue: str | None = Field(default=None, max_length=64)


class EnrolmentCode(Body):
    hours: int = Field(default=24, ge=1, le=168)


class BroadcastAlert(Body):
    channel: str = Field(default="main", min_length=1, max_length=64)
    priority: Priority = "routine"
    text: str = Field(min_length=1, max_length=2000)
    venue: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=200)
    subject_id: str | None = Field(default=None, max_length=64)


class ResolveAlert(Body):
    note: str | None = Field(default=None, max_length=2000)
    cancelled: bool = False


class RegisterSubject(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    date_of_birth: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    description: str = Field(default="", max_length=2000)


class IdentifySubject(Body):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    date_of_birth: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class EraseSubject(Body):
    reason: str = Field(default="erasure request", min_length=1, max_length=500)


class IssueExclusion(Body):
    subject_id: str = Identifier
    kind: Literal["warning", "exclusion"]
    venues: list[str] = Field(default_factory=list, max_length=200)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    reason: str = Field(min_length=1, max_length=2000)

    _tz = field_validator("starts_at", "ends_at")(_aware)


class ExclusionStep(Body):
    note: str | None = Field(default=None, max_length=2000)


class PostSighting(Body):
    subject_id: str | None = Field(default=None, max_length=64)
    venue: str = Identifier
    seen_at: Moment | None = None
    camera: str | None = Field(default=None, max_length=100)
    note: str = Field(default="", max_length=2000)

    _tz = field_validator("seen_at")(_aware)


class ReportIncident(Body):
    category: IncidentCategory
    venue: str = Identifier
    occurred_at: Moment | None = None
    description: str = Field(min_length=1, max_length=5000)
    loss_value: float = Field(default=0, ge=0, le=10_000_000)
    subject_ids: list[str] = Field(default_factory=list, max_length=50)

    _tz = field_validator("occurred_at")(_aware)


class CrimeReference(Body):
    crime_reference: str = Field(min_length=1, max_length=64)


class LinkSubject(Body):
    subject_id: str = Identifier


class CloseIncident(Body):
    outcome: str = Field(default="closed", min_length=1, max_length=500)


__all__ = [
    "AddVenue",
    "BroadcastAlert",
    "ChangeVenue",
    "CloseIncident",
    "CrimeReference",
    "EnrolMember",
    "EnrolmentCode",
    "EraseSubject",
    "ExclusionStep",
    "IdentifySubject",
    "IssueExclusion",
    "LinkSubject",
    "OpenChannel",
    "PostSighting",
    "RegisterPartnership",
    "RegisterSubject",
    "ReportIncident",
    "ResolveAlert",
]


Criterion = Annotated[str, Field(min_length=1, max_length=200)]


class RecordInspection(Body):
    """A Safer Socialising Award inspection of a night-time venue, by its panel."""

    venue: str = Identifier
    inspected_at: Moment | None = None
    panel: list[Literal["partnership", "police", "licensing", "fire"]] = Field(min_length=1, max_length=4)
    criteria: dict[Criterion, bool] = Field(min_length=1, max_length=40)
    outcome: Literal["passed", "failed"]
    actions: str = Field(default="", max_length=5000)

    _tz = field_validator("inspected_at")(_aware)
