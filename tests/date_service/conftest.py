"""Fixtures for the DateService tests: a server whose clock the test pins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chrono.date.v1 import date_service_pb2_grpc
from date_service.server import SPEC
from date_service.servicer import DateServicer
from tests.chrono_server.helpers import PinnedServer, pinned_server


@pytest.fixture(scope="module")
def pinned() -> Iterator[PinnedServer]:
    """A DateService server whose clock the test sets, shared by a module's tests."""
    with pinned_server(SPEC, DateServicer) as server:
        yield server


@pytest.fixture
def pinned_stub(pinned: PinnedServer) -> date_service_pb2_grpc.DateServiceStub:
    """A stub on the pinned server's channel."""
    return date_service_pb2_grpc.DateServiceStub(pinned.channel)
