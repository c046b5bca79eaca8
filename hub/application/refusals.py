"""The one table from a refusal to its HTTP status, for every mode: the API answers with
it, the relay and the Kafka worker send refusals between processes by it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hub.domain import Forbidden, Invalid, NotFound, Rejected
from hub.log.port import Conflict, Unavailable

# The first row an error is an instance of gives its status; anything else is a 500.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (Forbidden, 403),
    (NotFound, 404),
    (Rejected, 409),
    (Conflict, 409),
    (Invalid, 422),
    (ValidationError, 422),  # a malformed command from another process
    (Unavailable, 503),
)
# The exception a status becomes when it arrives from another process.
EXCEPTION: dict[int, type[Exception]] = {
    403: Forbidden,
    404: NotFound,
    409: Rejected,
    422: Invalid,
    503: Unavailable,
}


def status_of(error: BaseException) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def detail_of(error: BaseException) -> Any:
    if isinstance(error, ValidationError):
        return error.errors(include_url=False, include_context=False, include_input=False)
    return str(error)


def refused(error: BaseException) -> dict[str, Any]:
    """A refusal as it travels between processes: its status and its reason."""
    status = status_of(error)
    return {"status": status, "detail": detail_of(error) if status < 500 else type(error).__name__}


def refusal(error: dict[str, Any]) -> Exception:
    """The exception for a refusal that came from another process (see `refused`)."""
    status, detail = error["status"], error["detail"]
    kind = EXCEPTION.get(status)
    if kind is None:
        return RuntimeError(f"the hub's writer failed on this command: {detail}")
    return kind(detail if isinstance(detail, str) else _words(detail))


def _words(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg')}" for e in errors)
