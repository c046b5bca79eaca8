"""Sealing personal data and secrets: the one seam between clear text and the log.

A command's `SEALED` fields are sealed here with the key it names, and its free text
about the subject it names (`ABOUT_SUBJECT`) with that subject's key, where the command
enters the hub and before it is decided or sent to another process; nothing else in
the hub encrypts. Screens open what they show through hub/application/queries.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from hub.application.gateway import CommandGateway
from hub.domain import Actor, Refusal
from hub.privacy.cipher import Cipher
from schemas.commands import Command, Submission
from schemas.events import Sealed


def _clear(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # a password or code hash
        return {"hash": value}
    if isinstance(value, BaseModel):
        return value.model_dump()
    return dict(value)


def seal_command(cipher: Cipher, command: Command) -> Command:
    """`command` with its personal fields, and its free text about the subject it names,
    sealed (those sealed already are kept)."""
    clear = {name: getattr(command, name) for name in command.SEALED}
    clear = {name: value for name, value in clear.items() if not isinstance(value, Sealed)}
    sealed = {}
    if clear:
        key = command.seal_key()
        sealed = {name: Sealed(**cipher.seal(key, _clear(value))) for name, value in clear.items()}
    subject = getattr(command, "subject_id", None)
    texts = {name: getattr(command, name) for name in command.ABOUT_SUBJECT}
    texts = {name: text for name, text in texts.items() if isinstance(text, str) and text}
    if subject and texts:
        sealed |= {name: Sealed(**cipher.seal(subject, {"text": text})) for name, text in texts.items()}
    return command.model_copy(update=sealed) if sealed else command


class SealingGateway:
    """A command gateway that seals each command's personal fields, then passes it on:
    every command enters the hub through one of these, whatever decides it.

    A subject erased since a command was first answered cannot be sealed for again; a
    retry of that command still gets its first answer (`first_answer`, the log's)."""

    def __init__(
        self, cipher: Cipher, inner: CommandGateway, first_answer: Callable[[str, str], dict[str, Any] | None]
    ) -> None:
        self.cipher = cipher
        self.inner = inner
        self.first_answer = first_answer

    async def submit(self, p: str, submission: Submission, actor: Actor) -> dict[str, Any]:
        try:
            command = seal_command(self.cipher, submission.command)
        except Refusal:
            first = self.first_answer(p, submission.id)
            if first is not None:
                return first
            raise
        if command is not submission.command:
            submission = replace(submission, command=command)
        return await self.inner.submit(p, submission, actor)
