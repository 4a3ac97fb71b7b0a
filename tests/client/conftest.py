"""Fixtures the client tests share: the command pointed at both servers, a silent server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.silent import silent_server
from tests.servers import ServerThread


@pytest.fixture
def servers(
    time_server: ServerThread, date_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both servers running, and the environment pointing the command at them."""
    monkeypatch.setenv("TIME_SERVICE_TARGET", time_server.target)
    monkeypatch.setenv("DATE_SERVICE_TARGET", date_server.target)


@pytest.fixture
def silent_target() -> Iterator[str]:
    """The target of a server that accepts connections and never answers."""
    with silent_server() as target:
        yield target
