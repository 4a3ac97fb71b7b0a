"""Fixtures shared by every test package: running servers, always stopped."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from date_service.server import SPEC as DATE_SPEC
from tests.devcerts import DevCerts, write_dev_certs
from tests.servers import ServerThread
from time_service.server import SPEC as TIME_SPEC


@pytest.fixture(scope="session", autouse=True)
def _hermetic_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run's own state folder, and no OpenTelemetry settings from the shell.

    Date services started with no --database keep their SQLite file in the run's tmp; an
    exported OTEL_EXPORTER_OTLP_ENDPOINT would turn tracing on in every test server.
    """
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        del os.environ[name]
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def time_server() -> Iterator[ServerThread]:
    """A TimeService server on 127.0.0.1:0 with the system clock."""
    server = ServerThread(TIME_SPEC)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def date_server() -> Iterator[ServerThread]:
    """A DateService server on 127.0.0.1:0 with the system clock."""
    server = ServerThread(DATE_SPEC)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_target() -> str:
    """An address on which nothing listens: a port the kernel just handed out and took back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    """A development CA, a server certificate for localhost and 127.0.0.1, a client one."""
    return write_dev_certs(tmp_path_factory.mktemp("certs"))
