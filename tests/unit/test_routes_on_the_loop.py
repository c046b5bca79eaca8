"""Routes that read the views run on the event loop, where the views change.

A plain `def` route runs on a worker thread while the event loop applies new events to
the same dicts: a list iterated there can change size under it ("dictionary changed size
during iteration", a 500 found by the soak). Only routes that read the log, files or a
view folded for themselves may run on a thread.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from fastapi.routing import APIRoute

import api.routes

OFF_THE_LOOP = {
    "events",  # streams the log
    "verify",  # reads the log
    "state",  # folds its own view from the log
    "get_still",  # reads and decrypts a file
    "get_photo",  # reads and decrypts a file
}


def routes() -> list[APIRoute]:
    found = []
    for module in pkgutil.iter_modules(api.routes.__path__):
        router = getattr(importlib.import_module(f"api.routes.{module.name}"), "router", None)
        found += [r for r in getattr(router, "routes", []) if isinstance(r, APIRoute)]
    return found


def test_every_route_that_reads_the_views_runs_on_the_event_loop() -> None:
    on_a_thread = sorted(r.endpoint.__name__ for r in routes() if not inspect.iscoroutinefunction(r.endpoint))
    assert set(on_a_thread) <= OFF_THE_LOOP, on_a_thread
    assert len(routes()) > 30, "the routes were not found"
