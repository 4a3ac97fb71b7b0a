"""A servicer that does not fit its service stops the server at start, naming the method."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.app import create_server
from chrono_server.handlers import RegistrationError
from chrono_server.spec import Resources
from tests.chrono_server.helpers import rich_error, running
from tests.servers import server_settings, with_servicer
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import TimeServicer


class Lacking:
    """Serves GetTime and WatchTime, but has no ListTimeZones."""

    def __init__(self, resources: Resources) -> None:
        """Take nothing from ``resources``."""

    async def GetTime(self, request: Any, context: Any) -> pb.GetTimeResponse:  # noqa: N802
        """Answer an empty response."""
        return pb.GetTimeResponse()

    async def WatchTime(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        """Send nothing."""
        return
        yield


class PlainDef(TimeServicer):
    """Defines GetTime as a plain def."""

    def GetTime(self, request: Any, context: Any) -> pb.GetTimeResponse:  # type: ignore[override]  # noqa: N802
        """Answer at once, blocking the loop."""
        return pb.GetTimeResponse()


class PlainGenerator(TimeServicer):
    """Defines WatchTime as a plain generator."""

    def WatchTime(self, request: Any, context: Any) -> Iterator[Any]:  # type: ignore[override]  # noqa: N802
        """Send one empty update."""
        yield pb.WatchTimeResponse()


class Partial(pb_grpc.TimeServiceServicer):
    """Implements GetTime only; the rest is inherited from the generated base class."""

    def __init__(self, resources: Resources) -> None:
        """Take nothing from ``resources``."""

    async def GetTime(self, request: Any, context: Any) -> pb.GetTimeResponse:  # noqa: N802
        """Answer an empty response."""
        return pb.GetTimeResponse(time_zone="partial")


@pytest.mark.parametrize(
    ("servicer", "message"),
    [
        (Lacking, "Lacking.ListTimeZones is missing: chrono.time.v1.TimeService.ListTimeZones"),
        (PlainDef, "PlainDef.GetTime must be an async def"),
        (PlainGenerator, "PlainGenerator.WatchTime must be an async generator"),
    ],
)
def test_a_servicer_that_cannot_serve_a_method_fails_at_start(servicer: type, message: str) -> None:
    """Building the server fails with a message naming the class and the method."""

    async def build() -> None:
        # grpc.aio servers are made inside the event loop that runs them.
        create_server(server_settings(), with_servicer(TIME_SPEC, servicer))

    with pytest.raises(RegistrationError) as failure:
        asyncio.run(build())
    assert str(failure.value).startswith(message)


def test_a_method_left_unimplemented_answers_unimplemented() -> None:
    """Methods a servicer inherits from the generated base answer UNIMPLEMENTED, not INTERNAL."""
    with (
        running(with_servicer(TIME_SPEC, Partial)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.TimeServiceStub(channel)
        assert stub.GetTime(pb.GetTimeRequest(), timeout=5).time_zone == "partial"
        with pytest.raises(grpc.RpcError) as unary:
            stub.ListTimeZones(pb.ListTimeZonesRequest(), timeout=5)
        with pytest.raises(grpc.RpcError) as stream:
            list(stub.WatchTime(pb.WatchTimeRequest(), timeout=5))
    for failure in (unary, stream):
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.UNIMPLEMENTED
        assert "is not implemented by this server" in error.message
        assert error.reasons == ["METHOD_NOT_IMPLEMENTED"]
        assert error.domains == ["chrono.time.v1.TimeService"]
