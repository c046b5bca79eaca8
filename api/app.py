"""The FastAPI application: routes, error handling, limits, lifespan of the embedded hub."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.routes
from api import docs, live, tracing, web
from api.access import describe_roles
from api.answers import PROMETHEUS, describe_refusals
from api.metrics import EVENTS, LATENCY, REGISTRY, REQUESTS, replica_metrics
from api.throttle import SignIns
from hub import __version__, push
from hub.application.refusals import STATUS, detail_of
from hub.bootstrap import Hub, kafka_url, secret, start
from hub.clock import Clock
from hub.push.sender import PushSender
from hub.push.sender import enabled as push_enabled
from hub.push.vapid import Vapid, vapid_key
from hub.schemas_export import asyncapi

log = logging.getLogger("hub.api")

JSON_LIMIT = 64 * 1024
UPLOAD_LIMIT = 9 * 1024 * 1024
SNAPSHOT_EVERY_SECONDS = 60


class BodyLimit:
    """413 for a body over the limit, whether it declares its length or streams it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").decode("latin-1")
        limit = UPLOAD_LIMIT if kind.startswith("multipart/") else JSON_LIMIT
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(limit, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(limit, send)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on as 413 rather than a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse({"detail": f"request body is larger than {limit} bytes"}, status_code=413)
    await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _replica_state(hub: Hub) -> dict[str, Any] | None:
    state = getattr(hub.log, "replica_state", None)
    return state() if callable(state) else None


def create_app(data: Path, clock: Clock | None = None, role: str = "serve") -> FastAPI:
    """The API over the hub on the data folder `data` (embedded, or a Kafka-mode node);
    `role` "leader" or "follower" for the processes of `hub serve --processes N`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        running = await start(data, clock, role)
        log.info("hub ready in %.2fs", time.perf_counter() - started)
        app.state.hub = running.hub
        app.state.secret = secret(data)
        app.state.role = role
        app.state.vapid = vapid_key(data, kafka_url() is not None)
        sender = _push_sender(running.hub, app.state.vapid)
        background = [asyncio.create_task(_snapshots(running.hub))]
        traced = tracing.enabled()
        if traced is not None:  # opt-in: what grows (api/tracing.py)
            background.append(asyncio.create_task(tracing.trace_memory(traced)))
        if running.ticks and running.hub.processors is not None:
            background.append(asyncio.create_task(running.hub.processors.run_clock()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if sender is not None:
                await sender.close()
            await running.stop()

    app = FastAPI(
        title="The hub",
        version=__version__,
        summary="Radio and incident intelligence hub for Business Crime Reduction Partnerships",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py from local files, not a CDN
        redoc_url=None,
    )
    app.state.sign_ins = SignIns()
    for module in _route_modules():
        describe_roles(module.router)
        describe_refusals(module.router)
        app.include_router(module.router)
    app.include_router(live.router)
    web.mount(app)
    docs.mount(app)
    _errors(app)
    app.add_middleware(BodyLimit)
    _operations(app)
    return app


def _push_sender(hub: Hub, vapid: Vapid) -> PushSender | None:
    """Pushes go out where the processors run (one process of `hub serve --processes`;
    in Kafka mode the worker, streams/worker.py), so each goes out once."""
    if hub.processors is None or not push_enabled():
        return None
    return push.attach(hub.processors, hub.log, hub.queries.open_sealed, vapid)


def _route_modules() -> list[ModuleType]:
    """Every module of api/routes (each has a `router`): a new one needs no line here."""
    names = sorted(info.name for info in pkgutil.iter_modules(api.routes.__path__))
    return [importlib.import_module(f"api.routes.{name}") for name in names]


async def _snapshots(hub: Hub) -> None:
    """Save the views every minute something changed."""
    saved_at = hub.publisher.published
    while True:
        await asyncio.sleep(SNAPSHOT_EVERY_SECONDS)
        if hub.publisher.published != saved_at:
            saved_at = hub.publisher.published
            await hub.save_snapshot_aside()


def _errors(app: FastAPI) -> None:
    """Refusals answered by the one table of hub/application/refusals.py."""

    def handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def answer(request: Request, error: Exception) -> Response:
            return JSONResponse({"detail": jsonable_encoder(detail_of(error))}, status_code=status)

        return answer

    for kind, status in STATUS:
        app.add_exception_handler(kind, handler(status))

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        detail = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in error.errors()]
        return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)


class Measured:
    """Counts requests by method and status and times them, for `/metrics`; and marks
    every answer `nosniff`, and every API answer not to be stored by a browser or proxy
    (they carry personal data: each read must pass the server's checks again).

    A fault no handler answers is logged and answered 500 here, and the connection kept:
    past this the server would answer it and then drop the connection, so a client's
    next request on it would be reset. (An answer already under way when it fails is cut
    off: it cannot be finished.)

    Plain ASGI: Starlette's BaseHTTPMiddleware runs each request in a task group of its
    own, which cost more than the hub's whole command path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0
        api = scope["path"].startswith("/v1/")

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if api and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sent)
        except Exception:
            if status:
                raise
            log.exception("no answer for %s %s", scope["method"], scope["path"])
            failed = JSONResponse({"detail": "the hub failed on this request"}, status_code=500)
            await failed(scope, receive, sent)
        finally:
            LATENCY.labels(scope["method"]).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], str(status or 500)).inc()


def _operations(app: FastAPI) -> None:
    app.add_middleware(Measured)

    @app.get("/healthz", tags=["operations"])
    def healthz(request: Request) -> dict[str, Any]:
        hub: Hub = request.app.state.hub
        health: dict[str, Any] = {
            "ok": True,
            "partnerships": len(hub.views),
            "live_connections": hub.live.count(),
            "process": request.app.state.role,
        }
        replica = _replica_state(hub)
        if replica is not None:
            # a Kafka-mode node: following the event topic, how far behind, what it voided
            lag = [at["lag"] for at in replica["partitions"].values() if at["lag"] is not None]
            health["event_feed"] = {
                "following": replica["following"],
                "lag": sum(lag) if lag else None,
                "void_records": replica["void_records"],
            }
            health["ok"] = bool(replica["following"])
        return health

    @app.get("/metrics", tags=["operations"], response_class=Response, responses=PROMETHEUS)
    def metrics(request: Request) -> Response:
        """Prometheus metrics of the whole hub: requests, latency, live sockets, events.
        Open to scrape, so nothing here names a partnership or a member."""
        hub: Hub = request.app.state.hub
        EVENTS.set(hub.publisher.published)
        replica_metrics(_replica_state(hub))
        return Response(generate_latest(REGISTRY), media_type="text/plain; version=0.0.4")

    @app.get("/asyncapi.json", tags=["operations"])
    def asyncapi_document() -> dict[str, Any]:
        return asyncapi()
