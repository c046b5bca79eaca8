"""Signed short-lived tokens (JWT HS256), and who is asking."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import jwt
from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from projections.audience import Viewer

ALGORITHM = "HS256"
TOKEN_SECONDS = 3600
EVERY_PARTNERSHIP = "*"


def issue_token(secret: str, viewer: Viewer, seconds: int = TOKEN_SECONDS) -> str:
    now = int(time.time())
    claims = {
        "sub": viewer.user,
        "role": viewer.role,
        "partnerships": sorted(viewer.partnerships),
        "venue": viewer.venue,
        "iat": now,
        "exp": now + seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class Unauthorised(Exception):
    """A missing, expired, tampered or revoked token."""


def read_token(secret: str, token: str) -> Viewer:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub", "role"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorised("token expired") from error
    except jwt.PyJWTError as error:
        raise Unauthorised("invalid token") from error
    partnerships = claims.get("partnerships")
    if not isinstance(partnerships, list) or not all(isinstance(p, str) for p in partnerships):
        raise Unauthorised("invalid token")
    venue = claims.get("venue")
    return Viewer(
        str(claims["sub"]),
        str(claims["role"]),
        frozenset(partnerships),
        venue,
        int(claims["exp"]),
        int(claims["iat"]),
    )


# How the OpenAPI document (and its Swagger UI) says to sign in: a bearer JWT, which the
# OAuth2 password flow at /v1/auth/token hands out. Either names the same header.
BEARER = HTTPBearer(
    scheme_name="bearer", bearerFormat="JWT", description="A token from /v1/auth/token", auto_error=False
)
PASSWORD_FLOW = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", scheme_name="password", description="Sign in as a member", auto_error=False
)


async def viewer_from(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(BEARER),
    _: str | None = Security(PASSWORD_FLOW),
) -> Viewer:
    """The signed-in user for an HTTP request, still enrolled and not revoked (or 401).

    `async`, so FastAPI calls it on the event loop: a plain function would be sent to a
    worker thread on every request (it takes microseconds; the hop took far more)."""
    if credentials is None:
        raise HTTPException(401, "not signed in", headers={"WWW-Authenticate": "Bearer"})
    try:
        viewer = read_token(request.app.state.secret, credentials.credentials.strip())
    except Unauthorised as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    if not still_enrolled(request.app.state.hub, viewer):
        raise HTTPException(401, "access revoked", headers={"WWW-Authenticate": "Bearer"})
    return viewer


def still_enrolled(hub: Any, viewer: Viewer) -> bool:
    """The token's member is enrolled in the role it names, not revoked, and signed in
    since their enrolment: a token from before a revocation stays dead when the same
    username is enrolled again."""
    where = None if EVERY_PARTNERSHIP in viewer.partnerships else viewer.partnerships
    member = hub.queries.member(viewer.user, where)
    if not (member and member["active"] and member["role"] == viewer.role):
        return False
    return viewer.issued >= int(datetime.fromisoformat(member["enrolled_at"]).timestamp())
