"""The partnership's words that commands, events and REST bodies share."""

from __future__ import annotations

from typing import Literal

VenueKind = Literal["night_time", "retail", "control_room", "other"]
Priority = Literal["routine", "urgent", "emergency"]
IncidentCategory = Literal["theft", "violence", "asb", "fraud", "criminal_damage", "refused_entry", "other"]
