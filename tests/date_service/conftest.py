"""Fixtures for the DateService tests: a server whose clock the test pins; calendar stores."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from chrono.date.v1 import date_service_pb2_grpc
from date_service.options import DateOptions
from date_service.server import SPEC
from tests.chrono_server.helpers import PinnedServer, pinned_server, running
from tests.pg import postgres_cluster, postgres_url, private_postgres
from tests.servers import ServerThread, server_settings

__all__ = ["postgres_cluster", "postgres_url", "private_postgres"]


@pytest.fixture(scope="module")
def pinned() -> Iterator[PinnedServer]:
    """A DateService server whose clock the test sets, shared by a module's tests."""
    with pinned_server(SPEC) as server:
        yield server


@pytest.fixture
def pinned_stub(pinned: PinnedServer) -> date_service_pb2_grpc.DateServiceStub:
    """A stub on the pinned server's channel."""
    return date_service_pb2_grpc.DateServiceStub(pinned.channel)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh calendar store of the test's own: an SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'calendars.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A write token file holding one random bearer token."""
    path = tmp_path / "write-tokens"
    path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def writes(token_file: Path) -> tuple[tuple[str, str], ...]:
    """The call metadata that authorises a write with the token in ``token_file``."""
    return (("authorization", f"Bearer {token_file.read_text(encoding='utf-8').strip()}"),)


@pytest.fixture
def calendar_server(database_url: str, token_file: Path) -> Iterator[ServerThread]:
    """A DateService server on ``database_url`` taking writes with ``token_file``'s token."""
    options = DateOptions(database=database_url, write_token_file=token_file)
    with running(SPEC, server_settings(service=options)) as server:
        yield server


@pytest.fixture
def calendar_stub(calendar_server: ServerThread) -> Iterator[date_service_pb2_grpc.DateServiceStub]:
    """A stub on a channel to ``calendar_server``."""
    with grpc.insecure_channel(calendar_server.target) as channel:
        yield date_service_pb2_grpc.DateServiceStub(channel)
