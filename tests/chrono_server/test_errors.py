"""Bad requests on both services: rich INVALID_ARGUMENT statuses, no tracebacks, no harm."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Literal

import grpc
import pytest

from chrono.date.v1 import date_service_pb2, date_service_pb2_grpc
from chrono.time.v1 import time_service_pb2, time_service_pb2_grpc
from chrono_server.spec import Resources
from tests.chrono_server.helpers import (
    access_lines,
    assert_invalid_argument,
    health_status,
    rich_error,
    running,
    served,
    tracebacks_and_errors,
)
from tests.servers import ServerThread, server_settings, with_servicer
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import Context, TimeServicer

ZoneRpc = Literal["GetTime", "WatchTime", "GetDate"]


def call_with_zone(rpc: ZoneRpc, channel: grpc.Channel, zone: str) -> str:
    """Call ``rpc`` for ``zone``; the zone name the answer was computed for."""
    if rpc == "GetDate":
        stub = date_service_pb2_grpc.DateServiceStub(channel)
        return stub.GetDate(date_service_pb2.GetDateRequest(time_zone=zone), timeout=5).time_zone
    time_stub = time_service_pb2_grpc.TimeServiceStub(channel)
    if rpc == "GetTime":
        request = time_service_pb2.GetTimeRequest(time_zone=zone)
        return time_stub.GetTime(request, timeout=5).time_zone
    watch = time_service_pb2.WatchTimeRequest(time_zone=zone, max_updates=1)
    (update,) = time_stub.WatchTime(watch, timeout=5)
    return update.time_zone


def server_for(
    rpc: ZoneRpc, shared_time_server: ServerThread, shared_date_server: ServerThread
) -> ServerThread:
    """The shared server that serves ``rpc``."""
    return shared_date_server if rpc == "GetDate" else shared_time_server


ZONE_RPCS: list[ZoneRpc] = ["GetTime", "WatchTime", "GetDate"]
# Under the server's 4 KiB request limit: the servicer itself must refuse it.
LONG = "x" * 3_000


@pytest.mark.parametrize("rpc", ZONE_RPCS)
@pytest.mark.parametrize(
    ("zone", "reason", "must_say"),
    [
        ("Mars/Olympus_Mons", "UNKNOWN_TIME_ZONE", "'Mars/Olympus_Mons' is not an IANA time zone"),
        ("europe/paris", "UNKNOWN_TIME_ZONE", "did you mean 'Europe/Paris'?"),
        ("AMERICA/NEW_YORK", "UNKNOWN_TIME_ZONE", "did you mean 'America/New_York'?"),
        ("utc", "UNKNOWN_TIME_ZONE", "did you mean 'UTC'?"),
        (LONG, "TIME_ZONE_TOO_LONG", "3000 characters long"),
        ("Europe/" + "x" * 121, "UNKNOWN_TIME_ZONE", "(128 characters)"),
        ("../etc/passwd", "UNKNOWN_TIME_ZONE", "'../etc/passwd'"),
        ("/etc/localtime", "UNKNOWN_TIME_ZONE", "'/etc/localtime'"),
        ("localtime", "UNKNOWN_TIME_ZONE", "'localtime'"),
        ("posixrules", "UNKNOWN_TIME_ZONE", "'posixrules'"),
        ("right/UTC", "UNKNOWN_TIME_ZONE", "'right/UTC'"),
        ("America", "UNKNOWN_TIME_ZONE", "'America'"),
        ("Europe//Paris", "UNKNOWN_TIME_ZONE", "'Europe//Paris'"),
        ("a\x00b", "UNKNOWN_TIME_ZONE", "'a\\x00b'"),
        (" UTC", "UNKNOWN_TIME_ZONE", "' UTC'"),
        ("UTC\n", "UNKNOWN_TIME_ZONE", "'UTC\\n'"),
    ],
    ids=[
        "unknown",
        "wrong-case",
        "all-caps",
        "lower-utc",
        "3000-characters",
        "128-characters",
        "path-traversal",
        "absolute-path",
        "host-localtime",
        "posixrules",
        "right-prefix",
        "directory",
        "double-slash",
        "nul-byte",
        "leading-space",
        "trailing-newline",
    ],
)
def test_bad_zone_is_invalid_argument(
    shared_time_server: ServerThread,
    shared_date_server: ServerThread,
    caplog: pytest.LogCaptureFixture,
    rpc: ZoneRpc,
    zone: str,
    reason: str,
    must_say: str,
) -> None:
    """A zone that is not a known IANA name fails naming time_zone; serving goes on."""
    caplog.set_level(logging.DEBUG)
    server = server_for(rpc, shared_time_server, shared_date_server)
    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            call_with_zone(rpc, channel, zone)
        error = rich_error(failure.value)
        assert_invalid_argument(error, "time_zone", reason)
        assert must_say in error.message
        assert "x" * 100 not in error.message
        assert tracebacks_and_errors(caplog) == []
        assert health_status(channel) == "SERVING"
        assert call_with_zone(rpc, channel, "Asia/Kathmandu") == "Asia/Kathmandu"


def length_delimited(field_number: int, payload: bytes, declared: int | None = None) -> bytes:
    """A length-delimited field as wire bytes, declaring ``declared`` bytes if given."""
    length = len(payload) if declared is None else declared
    return bytes([field_number << 3 | 2, length]) + payload


Kind = Literal["unary", "stream", "bidi"]


def send_raw(channel: grpc.Channel, method: str, kind: Kind, data: bytes) -> None:
    """Call ``method`` with ``data`` as the request body, unserialised, and read the answer."""
    if kind == "stream":
        stream: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(method)
        list(stream(data, timeout=5))
    elif kind == "bidi":
        bidi: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(method)
        list(bidi(iter([data]), timeout=5))
    else:
        unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        unary(data, timeout=5)


# Each method with the number of a string field its request has.
METHODS: list[tuple[str, Kind, int]] = [
    ("/chrono.time.v1.TimeService/GetTime", "unary", 1),
    ("/chrono.time.v1.TimeService/WatchTime", "stream", 1),
    ("/chrono.time.v1.TimeService/ListTimeZones", "unary", 2),
    ("/chrono.date.v1.DateService/GetDate", "unary", 1),
    # The services every server adds: health and reflection parse like chrono's own.
    ("/grpc.health.v1.Health/Check", "unary", 1),
    ("/grpc.health.v1.Health/Watch", "stream", 1),
    ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "bidi", 1),
]


@pytest.mark.parametrize(
    ("method", "kind", "string_field"), METHODS, ids=[m[0].rsplit("/")[-1] for m in METHODS]
)
@pytest.mark.parametrize("body", ["unterminated-varint", "truncated-field", "invalid-utf8"])
def test_malformed_body_is_invalid_argument(
    shared_time_server: ServerThread,
    shared_date_server: ServerThread,
    caplog: pytest.LogCaptureFixture,
    method: str,
    kind: Kind,
    string_field: int,
    body: str,
) -> None:
    """A request body that does not parse is INVALID_ARGUMENT with its reason, logs no error."""
    caplog.set_level(logging.DEBUG)
    data = {
        "unterminated-varint": b"\xff\xff",
        "truncated-field": length_delimited(string_field, b"ab", declared=5),
        "invalid-utf8": length_delimited(string_field, b"\xc3\x28"),
    }[body]
    server = shared_date_server if "DateService" in method else shared_time_server
    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            send_raw(channel, method, kind, data)
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "request body is not a valid" in error.message
        assert error.reasons == ["MALFORMED_REQUEST"]
        assert error.domains == [method.split("/")[1]]
        assert tracebacks_and_errors(caplog) == []
        assert health_status(channel) == "SERVING"


class BrokenTimeServicer(TimeServicer):
    """A TimeServicer with a bug in each of two methods."""

    async def GetTime(  # noqa: N802 (the RPC's name)
        self, request: time_service_pb2.GetTimeRequest, context: Context
    ) -> time_service_pb2.GetTimeResponse:
        """Fail as a bug would."""
        raise RuntimeError("a bug in GetTime")

    async def WatchTime(  # noqa: N802 (the RPC's name)
        self, request: time_service_pb2.WatchTimeRequest, context: Context
    ) -> AsyncIterator[time_service_pb2.WatchTimeResponse]:
        """Send one update, then fail as a bug would."""
        yield time_service_pb2.WatchTimeResponse(time_zone="first")
        raise RuntimeError("a bug in WatchTime")


def call_broken(stub: time_service_pb2_grpc.TimeServiceStub, rpc: str, received: list[str]) -> None:
    """Call ``rpc``, appending the zone of each update received to ``received``."""
    if rpc == "GetTime":
        stub.GetTime(time_service_pb2.GetTimeRequest(), timeout=5)
        return
    for update in stub.WatchTime(time_service_pb2.WatchTimeRequest(), timeout=5):
        received.append(update.time_zone)


@pytest.mark.parametrize("rpc", ["GetTime", "WatchTime"])
def test_servicer_bug_is_internal_and_logged_once(
    caplog: pytest.LogCaptureFixture, rpc: str
) -> None:
    """An unexpected exception becomes INTERNAL (not UNKNOWN) and one logged traceback."""

    def make(resources: Resources) -> BrokenTimeServicer:
        return BrokenTimeServicer(resources)

    spec = with_servicer(TIME_SPEC, make)
    with running(spec) as server, grpc.insecure_channel(server.target) as channel:
        stub = time_service_pb2_grpc.TimeServiceStub(channel)
        received: list[str] = []
        with pytest.raises(grpc.RpcError) as failure:
            call_broken(stub, rpc, received)
        assert received == ([] if rpc == "GetTime" else ["first"])
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.INTERNAL
        assert error.message == "internal error; see the server log"
        assert "bug" not in error.message
        assert error.reasons == ["INTERNAL_ERROR"]
        assert error.domains == ["chrono.time.v1.TimeService"]
        logged = tracebacks_and_errors(caplog)
        assert [(record.name, record.getMessage()) for record in logged] == [
            ("chrono_server.observe", f"/chrono.time.v1.TimeService/{rpc} failed")
        ]
        assert logged[0].exc_info is not None
        assert str(logged[0].exc_info[1]) == f"a bug in {rpc}"


def test_malformed_bodies_to_health_and_reflection_are_logged_as_calls() -> None:
    """Health and reflection calls whose body does not parse get one access line each."""
    with served() as (channel, process):
        for method, kind, _ in METHODS[4:]:
            with pytest.raises(grpc.RpcError) as failure:
                send_raw(channel, method, kind, b"\xff\xff")
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    lines = [(line["method"], line["code"]) for line in access_lines(process)]
    assert lines == [(method, "INVALID_ARGUMENT") for method, _, _ in METHODS[4:]]
    assert not [line for line in process.lines if "Traceback" in line]


def test_malformed_bodies_to_health_and_reflection_are_counted() -> None:
    """Health and reflection calls whose body does not parse count as INVALID_ARGUMENT."""
    with (
        running(TIME_SPEC, server_settings(metrics_port=0)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        for method, kind, _ in METHODS[4:]:
            with pytest.raises(grpc.RpcError):
                send_raw(channel, method, kind, b"\xff\xff")
        assert server.app.metrics is not None
        registry = server.app.metrics.registry
        for method, _, _ in METHODS[4:]:
            service, name = method.lstrip("/").split("/")
            labels = {"grpc_service": service, "grpc_method": name, "grpc_code": "INVALID_ARGUMENT"}
            labels["grpc_type"] = {"Check": "unary", "Watch": "server_stream"}.get(
                name, "bidi_stream"
            )
            assert registry.get_sample_value("grpc_server_handled_total", labels) == 1, method
