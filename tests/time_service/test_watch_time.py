"""WatchTime over a real channel: pacing on interval boundaries, limits, cancel, shutdown."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import pairwise

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from chrono.time.v1 import time_service_pb2 as pb
from tests.chrono_server.helpers import assert_invalid_argument, rich_error
from tests.time_service.conftest import LiveServer
from time_service.servicer import TimeServicer

MS = 1000  # microseconds
SECOND = 1_000_000  # microseconds
# How late after its boundary a tick may land: generous for a loaded two-core machine.
LATENESS = 300 * MS


def micros(stamp: timestamp_pb2.Timestamp) -> int:
    """A Timestamp as whole microseconds since the epoch (the server's precision)."""
    return stamp.seconds * SECOND + stamp.nanos // 1000


def open_watches(live: LiveServer) -> int:
    """The servicer's count of open watches, read on the server's own loop."""

    async def read() -> int:
        return live.servicer.open_watches

    return live.server.run(read())


def wait_for_no_open_watches(live: LiveServer, within: float = 5) -> None:
    """Wait, on the server's loop and at most ``within`` seconds, until no watch is open."""

    async def poll(servicer: TimeServicer) -> None:
        async with asyncio.timeout(within):
            # The servicer offers only a counter, no event: poll it, boundedly.
            while servicer.open_watches:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    live.server.run(poll(live.servicer), timeout=within + 5)


def test_first_update_comes_at_once(live: LiveServer) -> None:
    """The first update is sent at once, not at the first boundary of an hour-long interval."""
    before = datetime.now(UTC)
    request = pb.WatchTimeRequest(interval=duration_pb2.Duration(seconds=3600), max_updates=1)
    (update,) = live.stub.WatchTime(request, timeout=10)
    after = datetime.now(UTC)
    assert before <= update.current_time.ToDatetime(tzinfo=UTC) <= after
    assert update.time_zone == "UTC"


@pytest.mark.parametrize(
    ("interval", "updates"),
    [
        (None, 3),
        (duration_pb2.Duration(seconds=1), 3),
        (duration_pb2.Duration(nanos=250_000_000), 6),
    ],
    ids=["unset-means-1s", "1s", "250ms"],
)
def test_updates_land_on_interval_boundaries(
    live: LiveServer, interval: duration_pb2.Duration | None, updates: int
) -> None:
    """Each update after the first lands on the next multiple of the interval, a little after."""
    step = SECOND if interval is None else interval.seconds * SECOND + interval.nanos // 1000
    request = pb.WatchTimeRequest(time_zone="Asia/Kathmandu", max_updates=updates)
    if interval is not None:
        request.interval.CopyFrom(interval)
    call = live.stub.WatchTime(request, timeout=30)
    stamps = [micros(update.current_time) for update in call]
    assert len(stamps) == updates
    assert call.code() == grpc.StatusCode.OK
    tolerance = min(LATENESS, step)
    for previous, current in pairwise(stamps):
        boundary = (previous // step + 1) * step
        # The server computes the next tick just after it sent the previous update: if
        # that update was read a hair before a boundary, the tick after it is fair too.
        fair = [boundary] + ([boundary + step] if boundary - previous < 10 * MS else [])
        assert any(tick <= current < tick + tolerance for tick in fair), (previous, current)
        if step == SECOND:
            assert 0 <= current % SECOND < LATENESS


def test_max_updates_ends_the_stream_with_ok(live: LiveServer) -> None:
    """max_updates=3 yields exactly three updates, then the stream ends with OK."""
    request = pb.WatchTimeRequest(interval=duration_pb2.Duration(nanos=100_000_000), max_updates=3)
    call = live.stub.WatchTime(request, timeout=10)
    updates = list(call)
    assert len(updates) == 3
    assert call.code() == grpc.StatusCode.OK
    stamps = [micros(update.current_time) for update in updates]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    "interval",
    [duration_pb2.Duration(nanos=100_000_000), duration_pb2.Duration(seconds=3600)],
    ids=["100ms", "1h"],
)
def test_interval_limits_are_inclusive(live: LiveServer, interval: duration_pb2.Duration) -> None:
    """Intervals of exactly 100 ms and exactly 1 h are accepted."""
    request = pb.WatchTimeRequest(interval=interval, max_updates=1)
    call = live.stub.WatchTime(request, timeout=10)
    assert len(list(call)) == 1
    assert call.code() == grpc.StatusCode.OK


@pytest.mark.parametrize(
    "interval",
    [
        duration_pb2.Duration(),
        duration_pb2.Duration(seconds=-1),
        duration_pb2.Duration(nanos=-500_000_000),
        duration_pb2.Duration(nanos=50_000_000),
        duration_pb2.Duration(nanos=99_999_999),
        duration_pb2.Duration(seconds=3600, nanos=1000),
        duration_pb2.Duration(seconds=7200),
        duration_pb2.Duration(seconds=2**63 - 1),
        duration_pb2.Duration(seconds=-(2**63)),
    ],
    ids=[
        "zero",
        "minus-1s",
        "minus-500ms",
        "50ms",
        "just-under-100ms",
        "just-over-1h",
        "2h",
        "int64-max",
        "int64-min",
    ],
)
def test_interval_out_of_range_is_invalid_argument(
    live: LiveServer, interval: duration_pb2.Duration, caplog: pytest.LogCaptureFixture
) -> None:
    """An interval outside [100 ms, 1 h] fails with a BadRequest naming interval, no traceback."""
    request = pb.WatchTimeRequest(interval=interval)
    with pytest.raises(grpc.RpcError) as failure:
        list(live.stub.WatchTime(request, timeout=5))
    assert_invalid_argument(rich_error(failure.value), "interval", "INTERVAL_OUT_OF_RANGE")
    assert not [record for record in caplog.records if record.exc_info]
    assert open_watches(live) == 0


@pytest.mark.parametrize("max_updates", [-1, -(2**31)])
def test_negative_max_updates_is_invalid_argument(live: LiveServer, max_updates: int) -> None:
    """A negative max_updates fails with a BadRequest naming max_updates."""
    request = pb.WatchTimeRequest(max_updates=max_updates)
    with pytest.raises(grpc.RpcError) as failure:
        list(live.stub.WatchTime(request, timeout=5))
    error = rich_error(failure.value)
    assert_invalid_argument(error, "max_updates", "MAX_UPDATES_NEGATIVE")
    assert str(max_updates) in error.message


def test_client_cancel_frees_the_server(live: LiveServer) -> None:
    """Watches the client cancels are ended on the server: its open-watch count returns to 0."""
    calls = [live.stub.WatchTime(pb.WatchTimeRequest(), timeout=30) for _ in range(3)]
    for call in calls:
        next(call)
    assert open_watches(live) == 3
    for call in calls:
        call.cancel()
    wait_for_no_open_watches(live)
    assert open_watches(live) == 0
    # The server still serves watches afterwards.
    assert len(list(live.stub.WatchTime(pb.WatchTimeRequest(max_updates=1), timeout=5))) == 1


def test_shutdown_ends_open_watch_promptly_with_unavailable(live: LiveServer) -> None:
    """Shutdown ends an open watch at once with UNAVAILABLE, long before a 30 s grace is over."""
    call = live.stub.WatchTime(pb.WatchTimeRequest(), timeout=60)
    next(call)
    started = time.monotonic()
    shutdown = live.server.submit(live.server.app.shutdown(30))
    with pytest.raises(grpc.RpcError) as failure:
        for _ in call:
            pass
    ended_after = time.monotonic() - started
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "reconnect" in (failure.value.details() or "")
    assert ended_after < 5
    # With the watch gone nothing is in flight, so shutdown does not wait out the grace.
    shutdown.result(timeout=10)
    assert open_watches(live) == 0
