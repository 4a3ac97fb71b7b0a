"""Fixtures for the shared-server tests: one server of each service, on the system clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import running
from tests.servers import ServerThread
from time_service.server import SPEC as TIME_SPEC


@pytest.fixture(scope="module")
def shared_time_server() -> Iterator[ServerThread]:
    """A TimeService server shared by a module's tests that do not stop it."""
    with running(TIME_SPEC) as server:
        yield server


@pytest.fixture(scope="module")
def shared_date_server() -> Iterator[ServerThread]:
    """A DateService server shared by a module's tests that do not stop it."""
    with running(DATE_SPEC) as server:
        yield server
