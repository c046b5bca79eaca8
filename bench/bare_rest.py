"""The floor for REST writes: a bare FastAPI endpoint doing what every hub write must do.

`python -m bench.bare_rest --port PORT` (secret in $BENCH_SECRET): one uvicorn process,
the same server settings as `hub serve` (uvloop, httptools, log level warning), and one
`async` POST route at the hub's path that

- takes the bearer token from the Authorization header and decodes it with PyJWT
  (HS256, the same secret, the same required claims as api/auth.py), in an `async`
  dependency (a plain `def` one FastAPI runs in its thread pool: measured here, that hop
  alone took the endpoint from ~4,400 to ~2,100 requests/s),
- validates the body against a pydantic model of the same incident fields and rules as
  the hub's (unknown fields refused, whitespace stripped, the same bounds),
- answers 201 with a small JSON.

No log, no domain, no view: what is left of the hub's time per write above this is the
hub's own. Nothing here imports the hub, so it measures the libraries only.
"""

from __future__ import annotations

import argparse
import itertools
import os
from datetime import datetime
from typing import Any, Literal

import jwt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

ALGORITHM = "HS256"
Identifier = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Category = Literal["theft", "violence", "asb", "fraud", "criminal_damage", "refused_entry", "other"]


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Category
    venue: str = Identifier
    occurred_at: datetime | None = None
    description: str = Field(min_length=1, max_length=5000)
    loss_value: float = Field(default=0, ge=0, le=10_000_000)
    subject_ids: list[str] = Field(default_factory=list, max_length=50)


def app(secret: str) -> FastAPI:
    api = FastAPI()
    numbers = itertools.count(1)

    async def viewer(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "not signed in")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(), secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]}
            )
        except jwt.PyJWTError as error:
            raise HTTPException(401, "invalid token") from error
        return claims

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/v1/partnerships/{p}/incidents", status_code=201)
    async def report(p: str, body: Incident, claims: dict[str, Any] = Depends(viewer)) -> dict[str, Any]:
        if p not in claims.get("partnerships", ()):
            raise HTTPException(403, f"you are not a member of partnership {p}")
        n = next(numbers)
        return {"incident_id": f"{n:032x}", "partnership": p, "position": n, "venue": body.venue}

    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app(os.environ["BENCH_SECRET"]), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
