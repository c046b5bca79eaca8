"""The web app: static files from web/, served by the API itself (no build step).

`/` is the app's page, `/sw.js` its service worker (scope `/`), `/manifest.webmanifest`
its manifest, and everything else under `/static/`. Only these exact paths are taken,
so the API's own routes (`/v1`, `/healthz`, `/metrics`, `/docs`) are never shadowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"

# The page and the worker are checked on every load so a new version reaches devices
# at once; the worker itself keeps the shell for offline use.
FRESH = {"Cache-Control": "no-cache"}
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}


class _Static(StaticFiles):
    """web/ files, revalidated on each use (they are small and change with releases)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI, folder: Path = WEB) -> None:
    """Serve the web app from `folder` at `/`."""
    if not (folder / "index.html").is_file():
        return

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/index.html", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        return FileResponse(folder / "index.html", media_type="text/html", headers=FRESH | SECURITY)

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        headers = FRESH | {"Service-Worker-Allowed": "/", "X-Content-Type-Options": "nosniff"}
        return FileResponse(folder / "sw.js", media_type="text/javascript", headers=headers)

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest() -> Response:
        return FileResponse(
            folder / "manifest.webmanifest", media_type="application/manifest+json", headers=FRESH
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(folder / "icons" / "icon-192.png", media_type="image/png")

    app.mount("/static", _Static(directory=folder), name="web")
