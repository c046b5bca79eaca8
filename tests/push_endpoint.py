"""A local push service for tests and the bench: an HTTP server on loopback that records
every push request (path, headers, body, when it arrived) and answers 201, or 410 for a
path under /gone/; and a browser's side of a subscription (its P-256 key pair and auth
secret), which decrypts what the hub sent."""

from __future__ import annotations

import base64
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request's body had arrived


class _Handler(BaseHTTPRequestHandler):
    server: PushService  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        at = time.time()
        self.server.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, at))
        status = 410 if self.path.startswith("/gone/") else 201
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class PushService(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    @property
    def origin(self) -> str:
        return f"http://{self.host_port}"

    def record(self, item: Received) -> None:
        with self.changed:
            self.received.append(item)
            self.changed.notify_all()

    def wait_for(self, count: int, path_prefix: str = "/", timeout: float = 30) -> list[Received]:
        """Until `count` requests under `path_prefix` have arrived; those requests."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                got = [r for r in self.received if r.path.startswith(path_prefix)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(got)} of {count} pushes under {path_prefix} within {timeout}s"
                    )
                self.changed.wait(min(left, 0.5))

    def to(self, path: str) -> list[Received]:
        with self.changed:
            return [r for r in self.received if r.path == path]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class Browser:
    """A browser's push subscription: the keys it makes, the endpoint it was given."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return dict(orjson.loads(plain))


def vapid_claims(authorization: str, public_key: str, audience: str) -> dict[str, Any]:
    """The claims of a `vapid t=...,k=...` header, its signature checked with `public_key`
    (base64url raw P-256 point) and its audience with `audience`; raises if either fails."""
    scheme, _, rest = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    parts = dict(part.split("=", 1) for part in rest.split(","))
    assert parts["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    return dict(jwt.decode(parts["t"], key, algorithms=["ES256"], audience=audience))
