"""The Web Push sender: each pushed event encrypted (RFC 8291, aes128gcm) for every
subscription that may see it and posted to its push service (RFC 8030) with a VAPID
signature (RFC 8292), `Urgency: high` and a TTL.

It runs where the processors run, as one more reaction to published events (the
embedded hub; the leader of `hub serve --processes`; the Kafka worker that writes the
partnership), so each push goes out once however many API nodes there are. Sending
happens in tasks: the event loop never waits for a push service. Encryption runs in a
thread, a hundred pushes at a time, each hundred sent while the next is encrypted. A
404 or 410 removes the subscription (an event, through the processors' gateway); 429,
5xx and network failures are retried a few times with backoff; anything else is logged
and dropped.

The client is aiohttp's (already the hub's, through Faust), not httpx: on this machine
httpx.AsyncClient took 6.8-7.1 ms a request with 32 connections to a local server,
aiohttp 0.5-0.7 ms, and 1,000 pushes an alert is the load. Its resolver refuses every
name that resolves to a non-public address when it connects (`PublicResolver`), so the
address connected to is the one checked, whatever DNS answered a moment before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import http_ece
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from cryptography.hazmat.primitives.asymmetric import ec

from hub.application.push import PushIndex, Recipient, payload, pushed, recipients
from hub.domain import Refusal, parse
from hub.push.endpoints import Resolver, Target, check, insecure_endpoints, refused_address, resolve
from hub.push.vapid import Vapid, unb64url
from projections.views import PartnershipView
from schemas.commands import Submission, UnsubscribePush

log = logging.getLogger("hub.push")

TTL_SECONDS = 900  # an alert not delivered within 15 minutes is no longer news
FRESH_SECONDS = 120  # an event published again later (a worker catching up) is not pushed
RETRIES = 3
BACKOFF_SECONDS = 1.0
RETRY_AFTER_MAX = 30.0
CONNECTIONS = 100
BATCH = 100  # pushes encrypted in one go in the thread
GONE = frozenset({404, 410})
Opener = Callable[[dict[str, str]], dict[str, Any] | None]


def encrypt(message: bytes, p256dh: str, auth: str) -> bytes:
    """`message` encrypted for one browser (RFC 8291): a fresh sender key per message,
    its public key in the header as the key id (http_ece's default for aes128gcm)."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        message, private_key=sender, dh=unb64url(p256dh), auth_secret=unb64url(auth), version="aes128gcm"
    )
    return body


@dataclass(frozen=True)
class Push:
    """One request to make: to whom, where, what."""

    p: str
    recipient: Recipient
    target: Target
    body: bytes


class PushSender:
    def __init__(
        self,
        index: PushIndex,
        views: dict[str, PartnershipView],
        open_sealed: Opener,
        vapid: Vapid,
        carry_out: Callable[[str, Submission], Awaitable[None]],
        owns: Callable[[str], bool] = lambda p: True,
        now: Callable[[], datetime] = datetime.now,
        resolver: Resolver = resolve,
    ) -> None:
        self.index = index
        self.views = views
        self.open_sealed = open_sealed
        self.vapid = vapid
        self.carry_out = carry_out  # Processors.carry_out: as the processor, refusals logged
        self.owns = owns
        self.now = now
        self.resolver = resolver
        self.insecure = insecure_endpoints()
        self._client: aiohttp.ClientSession | None = None
        self.counts = {"sent": 0, "gone": 0, "failed": 0, "refused": 0}
        self._tasks: set[asyncio.Task[Any]] = set()

    def __call__(self, view: PartnershipView, event: dict[str, Any]) -> None:
        """A reaction to each published event (see hub/application/processors.py)."""
        self.index.apply(event)
        p = event["partnership"]
        if pushed(event) and self.owns(p) and self._fresh(event):
            self._spawn(self.deliver(p, event))

    def _fresh(self, event: dict[str, Any]) -> bool:
        age = self.now().astimezone() - parse(event["recorded_at"])
        return age.total_seconds() < FRESH_SECONDS

    async def deliver(self, p: str, event: dict[str, Any]) -> None:
        """Push `event` to every subscription that may see it (the views as now applied)."""
        view = self.views.get(p)
        if view is None:
            return
        chosen = recipients(self.index, view, event)
        if not chosen:
            return
        message = orjson.dumps(payload(view, event))
        targets = await self._targets(chosen)
        sending = []
        for start in range(0, len(targets), BATCH):
            pushes = await asyncio.to_thread(self._encrypt_all, p, targets[start : start + BATCH], message)
            sending += [asyncio.ensure_future(self._send(push)) for push in pushes]
        await asyncio.gather(*sending)

    async def _targets(self, chosen: list[Recipient]) -> list[tuple[Recipient, Target, dict[str, Any]]]:
        """Each subscription opened and its endpoint checked again (one lookup per host)."""
        looked_up: dict[tuple[str, int], list[str]] = {}

        async def cached(host: str, port: int) -> list[str]:
            if (host, port) not in looked_up:
                looked_up[(host, port)] = await self.resolver(host, port)
            return looked_up[(host, port)]

        found = []
        for recipient in chosen:
            keys = self.open_sealed(recipient.sealed)
            if keys is None:
                continue
            try:
                target = await check(keys["endpoint"], self.insecure, cached)
            except Refusal as why:
                self.counts["refused"] += 1
                log.warning("push to subscription %s refused: %s", recipient.subscription_id, why)
                continue
            found.append((recipient, target, keys))
        return found

    @staticmethod
    def _encrypt_all(
        p: str, targets: list[tuple[Recipient, Target, dict[str, Any]]], message: bytes
    ) -> list[Push]:
        return [Push(p, r, t, encrypt(message, keys["p256dh"], keys["auth"])) for r, t, keys in targets]

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:  # made on the event loop that sends
            connector = aiohttp.TCPConnector(limit=CONNECTIONS, resolver=PublicResolver(self.insecure))
            timeout = aiohttp.ClientTimeout(total=15, connect=5, sock_read=10)
            self._client = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._client

    def _headers(self, push: Push) -> dict[str, str]:
        return {
            "TTL": str(TTL_SECONDS),
            "Urgency": "high",
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.vapid.authorization(push.target.origin),
        }

    async def _post(self, push: Push) -> tuple[int, float]:
        """One request: its status and how long it asks us to wait (Retry-After)."""
        async with self.client.post(
            push.target.url, data=push.body, headers=self._headers(push), allow_redirects=False
        ) as answer:
            await answer.read()
            return answer.status, _retry_after(answer.headers.get("retry-after", ""))

    async def _send(self, push: Push) -> None:
        subscription = push.recipient.subscription_id
        for attempt in range(RETRIES + 1):
            wait = BACKOFF_SECONDS * 2**attempt
            try:
                status, asked = await self._post(push)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.info("push to %s failed (%s), attempt %d", subscription, error, attempt + 1)
            else:
                if status < 300:
                    self.counts["sent"] += 1
                    return
                if status in GONE:
                    self.counts["gone"] += 1
                    await self._unsubscribe(push)
                    return
                if status != 429 and status < 500:
                    break
                wait = max(wait, min(asked, RETRY_AFTER_MAX))
                log.info("push to %s answered %d, attempt %d", subscription, status, attempt + 1)
            if attempt < RETRIES:
                await asyncio.sleep(wait)
        self.counts["failed"] += 1
        log.warning("push to subscription %s not delivered", subscription)

    async def _unsubscribe(self, push: Push) -> None:
        """The push service says the subscription is gone: remove it, once."""
        r = push.recipient
        command = UnsubscribePush(subscription_id=r.subscription_id, username=r.username, reason="gone")
        submission = Submission(f"push-gone:{r.subscription_id}:{r.subscribed_position}", command)
        await self.carry_out(push.p, submission)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no event loop (offline replay): nothing is pushed
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a push delivery failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for every delivery in flight (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._client is not None:
            await self._client.close()


def _retry_after(value: str) -> float:
    return float(value) if value.isdigit() else 0.0


class PublicResolver(AbstractResolver):
    """The connector's resolver: a name that resolves to any address off the public
    internet is refused as the connection is made (an IP literal never comes here: it
    was checked just before the send, and cannot change)."""

    def __init__(self, insecure: frozenset[str]) -> None:
        self.insecure = insecure
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if f"{host.lower()}:{port}" in self.insecure:
            return found
        for item in found:
            why = refused_address(item["host"])
            if why is not None:
                raise OSError(f"push endpoint {host} refused: {why}")
        return found

    async def close(self) -> None:
        await self.inner.close()


def enabled() -> bool:
    """Pushes are sent unless HUB_PUSH=off (a hub with no way out to push services)."""
    return os.environ.get("HUB_PUSH", "on").strip().lower() not in ("off", "0", "false", "no")
