"""The hub: an event-sourced radio and incident intelligence hub for BCRPs."""

__version__ = "0.1.0"
