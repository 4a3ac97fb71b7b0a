"""Fixtures for the TimeService tests: servers with a pinned clock or a visible servicer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import grpc
import pytest

from chrono.time.v1 import time_service_pb2_grpc
from chrono_server.spec import Resources
from tests.chrono_server.helpers import PinnedServer, pinned_server, running
from tests.servers import ServerThread, with_servicer
from time_service.server import SPEC
from time_service.servicer import TimeServicer


@pytest.fixture(scope="module")
def pinned() -> Iterator[PinnedServer]:
    """A TimeService server whose clock the test sets, shared by a module's tests."""
    with pinned_server(SPEC) as server:
        yield server


@pytest.fixture
def pinned_stub(pinned: PinnedServer) -> time_service_pb2_grpc.TimeServiceStub:
    """A stub on the pinned server's channel."""
    return time_service_pb2_grpc.TimeServiceStub(pinned.channel)


@dataclasses.dataclass(frozen=True)
class LiveServer:
    """A TimeService server on the system clock, its servicer and a stub."""

    server: ServerThread
    servicer: TimeServicer
    channel: grpc.Channel
    stub: time_service_pb2_grpc.TimeServiceStub


@pytest.fixture
def live() -> Iterator[LiveServer]:
    """A TimeService server on the system clock whose servicer the test can inspect."""
    servicers: list[TimeServicer] = []

    def make(resources: Resources) -> TimeServicer:
        servicer = TimeServicer(resources)
        servicers.append(servicer)
        return servicer

    spec = with_servicer(SPEC, make)
    with running(spec) as server, grpc.insecure_channel(server.target) as channel:
        (servicer,) = servicers
        yield LiveServer(server, servicer, channel, time_service_pb2_grpc.TimeServiceStub(channel))
