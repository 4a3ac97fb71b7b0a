"""Limits that protect the server: each one set low enough here to be seen biting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from tests.chrono_server.helpers import access_lines, eventually, rich_error, running, served
from tests.servers import ServerThread
from time_service.options import TimeOptions
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import TimeServicer


def settings(**overrides: Any) -> ServerSettings:
    """Test server settings: a free port, a short grace, and ``overrides``."""
    return ServerSettings(port=0, grace=0.5, **overrides)


def open_watches(server: ServerThread) -> int:
    """How many watches the server's TimeService counts open."""
    servicer = server.app.servicer
    assert isinstance(servicer, TimeServicer)
    return servicer.open_watches


def watch(
    stub: pb_grpc.TimeServiceStub, seconds: float = 3600, timeout: float | None = 10
) -> Iterator[pb.WatchTimeResponse]:
    """A watch whose first update has arrived; later ones come every ``seconds``."""
    request = pb.WatchTimeRequest()
    request.interval.FromTimedelta(timedelta(seconds=seconds))
    stream = stub.WatchTime(request, timeout=timeout)
    next(stream)
    return stream


def test_oversized_request_is_resource_exhausted(time_server: ServerThread) -> None:
    """A request over --max-request-bytes (4 KiB by default) is refused before any work."""
    with grpc.insecure_channel(time_server.target) as channel:
        stub = pb_grpc.TimeServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failure:
            stub.GetTime(pb.GetTimeRequest(time_zone="x" * 5000), timeout=5)
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "this server accepts at most 4096 (--max-request-bytes)" in error.message
        assert error.reasons == ["REQUEST_TOO_LARGE"]
        assert error.domains == ["chrono.time.v1.TimeService"]
        # Just under the limit the servicer itself answers.
        with pytest.raises(grpc.RpcError) as failure:
            stub.GetTime(pb.GetTimeRequest(time_zone="x" * 4000), timeout=5)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watches_beyond_the_limit_are_resource_exhausted() -> None:
    """With --max-watches 2 a third watch fails with a QuotaFailure; closing one makes room."""
    with (
        running(TIME_SPEC, settings(service=TimeOptions(max_watches=2))) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.TimeServiceStub(channel)
        first, _second = watch(stub), watch(stub)
        with pytest.raises(grpc.RpcError) as failure:
            watch(stub)
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "already has 2 open watches, its limit (--max-watches 2)" in error.message
        assert error.reasons == ["TOO_MANY_WATCHES"]
        first.cancel()  # type: ignore[attr-defined]
        assert eventually(lambda: open_watches(server) == 1)
        watch(stub).cancel()  # type: ignore[attr-defined]


def test_streams_per_connection_are_capped() -> None:
    """With --max-concurrent-streams 2 a third call on one connection waits for a free slot."""
    with (
        running(TIME_SPEC, settings(max_concurrent_streams=2)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.TimeServiceStub(channel)
        first, _second = watch(stub), watch(stub)
        with pytest.raises(grpc.RpcError) as failure:
            stub.GetTime(pb.GetTimeRequest(), timeout=0.5)
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        first.cancel()  # type: ignore[attr-defined]
        assert stub.GetTime(pb.GetTimeRequest(), timeout=5).time_zone == "UTC"


def test_client_pinging_within_the_limit_keeps_its_connection() -> None:
    """A client pinging every 0.3 s keeps a quiet watch open under --keepalive-min-interval 0.2."""
    steady = [
        ("grpc.keepalive_time_ms", 300),
        ("grpc.keepalive_timeout_ms", 1000),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with (
        running(TIME_SPEC, settings(keepalive_min_interval=0.2)) as server,
        grpc.insecure_channel(server.target, options=steady) as channel,
    ):
        stream = watch(pb_grpc.TimeServiceStub(channel), timeout=10)
        # Pings go on over a stream with no data on it for this long; gRPC's default
        # limit (one per five minutes) would have ended the connection by the third.
        time.sleep(4)
        assert open_watches(server) == 1
        stream.cancel()  # type: ignore[attr-defined]


def test_client_pinging_too_often_is_disconnected() -> None:
    """A client whose keepalive pings come faster than --keepalive-min-interval is cut off.

    grpc's client was not seen to ping faster than about once a second here, whatever it
    was asked for, so the limit is set well above that.
    """
    pushy = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_timeout_ms", 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with (
        running(TIME_SPEC, settings(keepalive_min_interval=5.0)) as server,
        grpc.insecure_channel(server.target, options=pushy) as channel,
    ):
        stream = watch(pb_grpc.TimeServiceStub(channel), timeout=10)
        with pytest.raises(grpc.RpcError) as failure:
            next(stream)
        # GOAWAY (too_many_pings) ends the connection, long before the 10 s deadline.
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_connections_are_closed_at_their_max_age() -> None:
    """Past --max-connection-age plus its grace a stream ends and calls move to a new connection."""
    aged = ("--max-connection-age", "0.3", "--max-connection-age-grace", "0.3")
    with served(*aged) as (channel, process):
        stub = pb_grpc.TimeServiceStub(channel)
        stream = watch(stub, seconds=0.1, timeout=10)
        with pytest.raises(grpc.RpcError) as failure:
            for _ in stream:
                pass
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        ended = time.monotonic() + 1.5
        while time.monotonic() < ended:
            stub.GetTime(pb.GetTimeRequest(), timeout=5, wait_for_ready=True)
    peers = {line["peer"] for line in access_lines(process) if line["method"].endswith("/GetTime")}
    # Each new connection comes from a new client port: calls went over several.
    assert len(peers) >= 2, peers


def test_watch_past_its_deadline_stops_on_the_server(time_server: ServerThread) -> None:
    """When a watch's deadline passes the server stops working on it at once."""
    with grpc.insecure_channel(time_server.target) as channel:
        stream = watch(pb_grpc.TimeServiceStub(channel), seconds=0.1, timeout=0.5)
        with pytest.raises(grpc.RpcError) as failure:
            for _ in stream:
                pass
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert eventually(lambda: open_watches(time_server) == 0, timeout=1)
