"""/docs works with no network: Swagger UI's scripts and styles come from the hub itself,
and the page shows every operation of the OpenAPI document and how to sign in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Server

pytestmark = pytest.mark.browser


def test_the_api_docs_render_with_nothing_but_the_hub(browser: Any, demo: Server) -> None:
    context = browser.new_context(base_url=demo.url)
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_hub(route: Any) -> None:
        if route.request.url.startswith(demo.url + "/"):
            route.continue_()
        else:  # no network: anything not from the hub fails, as it would offline
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock").count()
        authorize = page.get_by_role("button", name="Authorize").count()
    finally:
        context.close()
    document = httpx.get(demo.url + "/openapi.json", timeout=30).json()
    expected = sum(len(item) for item in document["paths"].values())
    assert elsewhere == [] and errors == []
    assert operations == expected >= 45
    assert authorize >= 1  # the document's security schemes: a bearer token, the password flow
