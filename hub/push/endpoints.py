"""Which push endpoints the hub will send to: https on public addresses only, so that
nobody can make the hub send requests into its own network (request forgery).

Refused: any scheme but https, credentials in the URL, and a host that is, or whose
name resolves to, a loopback, private, link-local, unique-local, shared, multicast,
reserved or unspecified address. Checked when a browser subscribes, again before each
send, and by the sender's resolver as it connects (hub/push/sender.py), so the address
connected to is one checked (a name that resolves elsewhere later, DNS rebinding,
changes nothing). `HUB_PUSH_INSECURE_ENDPOINTS
=host:port,...` lets plain http reach exactly those (tests: a push service on loopback).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.domain import Invalid

MAX_LENGTH = 2048
RESOLVE_SECONDS = 3.0
Resolver = Callable[[str, int], Awaitable[list[str]]]


def insecure_endpoints() -> frozenset[str]:
    """The host:port pairs HUB_PUSH_INSECURE_ENDPOINTS lets through, lower-cased."""
    given = os.environ.get("HUB_PUSH_INSECURE_ENDPOINTS", "")
    return frozenset(part.strip().lower() for part in given.split(",") if part.strip())


@dataclass(frozen=True)
class Target:
    """Where a push goes: the endpoint, its origin (VAPID's audience), and the address
    checked (None for an endpoint HUB_PUSH_INSECURE_ENDPOINTS names)."""

    url: str
    origin: str
    host: str
    port: int
    address: str | None


def refused_address(text: str) -> str | None:
    """Why an address is not a public one, or None if it is."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_unspecified, "unspecified"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not public"),
    )
    return next((f"{address} is a {why} address" for bad, why in checks if bad), None)


def parse(url: str, insecure: frozenset[str]) -> Target:
    """The endpoint's parts, or Invalid with the reason (no DNS yet)."""
    if len(url) > MAX_LENGTH:
        raise Invalid(f"the push endpoint is longer than {MAX_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise Invalid(f"the push endpoint is not a URL: {error}") from error
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise Invalid("the push endpoint must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise Invalid("the push endpoint may not carry credentials")
    listed = f"{host}:{port}" in insecure
    if parts.scheme != "https" and not listed:
        raise Invalid("the push endpoint must be an https URL")
    shown = f"[{host}]" if ":" in host else host
    default = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
    origin = f"{parts.scheme}://{shown}" + ("" if default else f":{port}")
    return Target(url, origin, host, port, None if listed else "")


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system's resolver, bounded in time)."""
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
    except (OSError, TimeoutError) as error:
        raise Invalid(f"the push endpoint's host {host} does not resolve") from error
    return sorted({str(info[4][0]) for info in found})


async def check(url: str, insecure: frozenset[str], resolver: Resolver = resolve) -> Target:
    """The endpoint to send to, with the public address to connect to; Invalid (422) with
    the reason for one the hub must not send to."""
    target = parse(url, insecure)
    if target.address is None:
        return target
    try:
        addresses = [str(ipaddress.ip_address(target.host))]
    except ValueError:
        addresses = await resolver(target.host, target.port)
    if not addresses:
        raise Invalid(f"the push endpoint's host {target.host} does not resolve")
    for address in addresses:
        why = refused_address(address)
        if why is not None:
            raise Invalid(f"the push endpoint must be on a public address: {why}")
    return Target(target.url, target.origin, target.host, target.port, addresses[0])
