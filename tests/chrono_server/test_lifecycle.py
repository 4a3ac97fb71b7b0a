"""Health, reflection and graceful shutdown, observed over real channels."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from chrono.time.v1 import time_service_pb2, time_service_pb2_grpc
from chrono_server.spec import Resources, ServiceSpec
from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import (
    health_check,
    health_status,
    health_watch,
    running,
    status_name,
)
from tests.servers import ServerThread, server_settings, with_servicer
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import Context, TimeServicer

SPECS = [pytest.param(TIME_SPEC, id="time"), pytest.param(DATE_SPEC, id="date")]
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


@pytest.mark.parametrize("spec", SPECS)
def test_health_reports_serving(spec: ServiceSpec) -> None:
    """Health Check answers SERVING for the server as a whole and for its service by name."""
    with running(spec) as server, grpc.insecure_channel(server.target) as channel:
        assert health_status(channel, "") == "SERVING"
        assert health_status(channel, spec.descriptor.full_name) == "SERVING"
        with pytest.raises(grpc.RpcError) as failure:
            health_status(channel, "no.such.Service")
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("spec", SPECS)
def test_health_turns_not_serving_on_shutdown(spec: ServiceSpec) -> None:
    """Health Watch streams see NOT_SERVING, then end, so they do not hold up shutdown."""
    with running(spec) as server, grpc.insecure_channel(server.target) as channel:
        watches = [
            health_watch(channel)(health_pb2.HealthCheckRequest(service=name), timeout=30)
            for name in ("", spec.descriptor.full_name)
        ]
        assert [status_name(next(watch)) for watch in watches] == ["SERVING", "SERVING"]
        shutdown = server.submit(server.app.shutdown(30))
        assert [status_name(next(watch)) for watch in watches] == ["NOT_SERVING", "NOT_SERVING"]
        for watch in watches:
            with pytest.raises(grpc.RpcError) as ended:
                next(watch)
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        # Well within the 30 s grace: the server ended the health streams itself.
        shutdown.result(timeout=10)


@pytest.mark.parametrize("spec", SPECS)
def test_reflection_lists_service_health_and_reflection(spec: ServiceSpec) -> None:
    """Reflection lists the service, health and reflection, and describes the service's methods."""
    with running(spec) as server, grpc.insecure_channel(server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert sorted(database.get_services()) == sorted(
            [spec.descriptor.full_name, HEALTH, REFLECTION]
        )
        described = DescriptorPool(database).FindServiceByName(spec.descriptor.full_name)
        assert [method.name for method in described.methods] == [
            method.name for method in spec.descriptor.methods
        ]
        assert described.file.name == spec.descriptor.file.name


@pytest.mark.parametrize("spec", SPECS)
def test_no_reflection_serves_no_reflection(spec: ServiceSpec) -> None:
    """With reflection off, the reflection service is UNIMPLEMENTED and the rest still serves."""
    settings = server_settings(reflection=False)
    with running(spec, settings) as server, grpc.insecure_channel(server.target) as channel:
        info: grpc.StreamStreamMultiCallable[
            reflection_pb2.ServerReflectionRequest, reflection_pb2.ServerReflectionResponse
        ] = channel.stream_stream(
            f"/{REFLECTION}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        with pytest.raises(grpc.RpcError) as failure:
            list(info(requests, timeout=5))
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert health_status(channel, spec.descriptor.full_name) == "SERVING"


class GatedTimeServicer(TimeServicer):
    """A TimeServicer whose GetTime holds each call until the test opens the gate."""

    def __init__(self, resources: Resources) -> None:
        """Serve as TimeServicer does, with the gate closed."""
        super().__init__(resources)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def GetTime(  # noqa: N802 (the RPC's name)
        self, request: time_service_pb2.GetTimeRequest, context: Context
    ) -> time_service_pb2.GetTimeResponse:
        """Note the call, wait for the gate, then answer as TimeServicer does."""
        self.entered.set()
        await self.gate.wait()
        return await super().GetTime(request, context)


class LogLineSeen(logging.Handler):
    """Sets ``seen`` once a record whose message starts with ``prefix`` is logged."""

    def __init__(self, prefix: str) -> None:
        """Wait for records starting with ``prefix``."""
        super().__init__()
        self.prefix = prefix
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        """Note a matching record."""
        if record.getMessage().startswith(self.prefix):
            self.seen.set()


@pytest.fixture
def gated() -> Iterator[tuple[ServerThread, GatedTimeServicer]]:
    """A TimeService server whose GetTime calls wait at a gate, and its servicer."""
    servicers: list[GatedTimeServicer] = []

    def make(resources: Resources) -> GatedTimeServicer:
        servicers.append(GatedTimeServicer(resources))
        return servicers[0]

    with running(with_servicer(TIME_SPEC, make)) as server:
        try:
            yield server, servicers[0]
        finally:
            # Never leave a call parked at the gate, whatever the test did.
            server.run(open_gate(servicers[0]))


async def open_gate(servicer: GatedTimeServicer) -> None:
    """Let held GetTime calls go on."""
    servicer.gate.set()


async def wait_entered(servicer: GatedTimeServicer) -> None:
    """Wait until a GetTime call is held at the gate."""
    await asyncio.wait_for(servicer.entered.wait(), 10)


def new_call_outcome(target: str) -> grpc.StatusCode:
    """The status of a health Check on a new channel to ``target``."""
    with grpc.insecure_channel(target) as channel:
        try:
            health_check(channel)(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK


def new_call_outcomes_until_refused(target: str, within: float = 5) -> list[grpc.StatusCode]:
    """Make new calls until one is refused (UNAVAILABLE), for at most ``within`` seconds."""
    outcomes: list[grpc.StatusCode] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        outcomes.append(new_call_outcome(target))
        if outcomes[-1] == grpc.StatusCode.UNAVAILABLE:
            break
    return outcomes


def test_in_flight_call_completes_during_shutdown(
    gated: tuple[ServerThread, GatedTimeServicer], caplog: pytest.LogCaptureFixture
) -> None:
    """During the grace, a call already in flight completes OK while new calls are refused."""
    server, servicer = gated
    caplog.set_level(logging.INFO, logger="chrono_server.components")
    draining = LogLineSeen("refusing new calls")
    logging.getLogger("chrono_server.components").addHandler(draining)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = time_service_pb2_grpc.TimeServiceStub(channel)
            request = time_service_pb2.GetTimeRequest(time_zone="Asia/Kathmandu")
            in_flight = stub.GetTime.future(request, timeout=30)
            server.run(wait_entered(servicer))
            shutdown = server.submit(server.app.shutdown(5))
            assert draining.seen.wait(10)

            # The listener closes within moments of shutdown starting; a call racing it
            # may still be served or cancelled, but from then on every new call is refused.
            outcomes = new_call_outcomes_until_refused(server.target)
            assert set(outcomes[:-1]) <= {grpc.StatusCode.OK, grpc.StatusCode.CANCELLED}
            assert outcomes[-1] == grpc.StatusCode.UNAVAILABLE
            assert [new_call_outcome(server.target) for _ in range(3)] == [
                grpc.StatusCode.UNAVAILABLE
            ] * 3
            assert not in_flight.done()

            server.run(open_gate(servicer))
            answer = in_flight.result(timeout=10)
            assert answer.time_zone == "Asia/Kathmandu"
            assert in_flight.code() == grpc.StatusCode.OK
            # Nothing is left in flight: shutdown returns without waiting out the grace.
            released = time.monotonic()
            shutdown.result(timeout=10)
            assert time.monotonic() - released < 4
    finally:
        logging.getLogger("chrono_server.components").removeHandler(draining)
