"""Fixtures for the HTTP/JSON tests: servers with ``--http-port``, and a plain HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from chrono_server.http.server import HttpServer
from chrono_server.spec import ServiceSpec
from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import PinnedClock, running
from tests.servers import ServerThread, server_settings, with_clock
from time_service.server import SPEC as TIME_SPEC

PINNED = datetime(2026, 7, 3, 12, 34, 56, 789000, tzinfo=UTC)
"""The instant the pinned servers' clocks read."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: its status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of an error body."""
        found: dict[str, Any] = self.json()["error"]
        return found


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send one request to 127.0.0.1:``port`` on a connection of its own; its answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        found = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, found, response.read())
    finally:
        connection.close()


@contextlib.contextmanager
def stream(
    port: int, path: str, headers: Mapping[str, str] | None = None
) -> Iterator[http.client.HTTPResponse]:
    """A GET whose answer the test reads line by line; the connection closes on the way out."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        yield connection.getresponse()
    finally:
        connection.close()


def http_port(server: ServerThread) -> int:
    """The port a server's HTTP/JSON listener got."""
    return next(c.port for c in server.app.components if isinstance(c, HttpServer))


@dataclass(frozen=True)
class Served:
    """A running server with HTTP/JSON on, and the port of each protocol."""

    server: ServerThread
    http_port: int

    @property
    def target(self) -> str:
        """The gRPC address."""
        return self.server.target

    def call(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request to the HTTP/JSON listener."""
        return call(self.http_port, method, path, body, headers)


@contextlib.contextmanager
def serving(spec: ServiceSpec, **settings: Any) -> Iterator[Served]:
    """A started server of ``spec`` with HTTP/JSON on a free port; stopped on the way out."""
    with running(spec, server_settings(http_port=0, **settings)) as server:
        yield Served(server, http_port(server))


@pytest.fixture(scope="module")
def time_http() -> Iterator[Served]:
    """A TimeService server with HTTP/JSON whose clock reads :data:`PINNED`."""
    with serving(with_clock(TIME_SPEC, PinnedClock(PINNED))) as served:
        yield served


@pytest.fixture(scope="module")
def date_http() -> Iterator[Served]:
    """A DateService server with HTTP/JSON whose clock reads :data:`PINNED`."""
    with serving(with_clock(DATE_SPEC, PinnedClock(PINNED))) as served:
        yield served
