from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, make_admin, running_server, set_up_partnership


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `hub serve` with an admin and partnerships 'north' and 'south' set up."""
    data: Path = tmp_path_factory.mktemp("hub")
    make_admin(data)
    with running_server(data) as server:
        admin = server.login("admin")
        server.users = {p: set_up_partnership(admin, p) for p in ("north", "south")}  # type: ignore[attr-defined]
        yield server
