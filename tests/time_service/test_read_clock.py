"""ReadClock over a real server on the system clock: its timestamps and the kernel's clock state."""

from __future__ import annotations

import time
from datetime import timedelta

from google.protobuf import timestamp_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono_domain.kernel_clock import ClockStatus, LeapSecond, read_kernel_clock
from tests.time_service.conftest import LiveServer

STATUSES = {
    ClockStatus.SYNCHRONIZED: pb.CLOCK_STATUS_SYNCHRONIZED,
    ClockStatus.UNSYNCHRONIZED: pb.CLOCK_STATUS_UNSYNCHRONIZED,
    ClockStatus.UNKNOWN: pb.CLOCK_STATUS_UNKNOWN,
}
LEAPS = {
    LeapSecond.NONE: pb.LEAP_SECOND_NONE,
    LeapSecond.INSERT: pb.LEAP_SECOND_INSERT,
    LeapSecond.DELETE: pb.LEAP_SECOND_DELETE,
}


def ns(stamp: timestamp_pb2.Timestamp) -> int:
    """A Timestamp in nanoseconds since the epoch."""
    return stamp.seconds * 1_000_000_000 + stamp.nanos


def test_server_times_lie_within_the_call(live: LiveServer) -> None:
    """receive_time <= transmit_time, both between the client's wall clock before and after."""
    for _ in range(50):
        sent = time.time_ns()
        response = live.stub.ReadClock(pb.ReadClockRequest(), timeout=5)
        received = time.time_ns()
        assert sent <= ns(response.receive_time) <= ns(response.transmit_time) <= received
        assert 0 <= response.receive_time.nanos < 1_000_000_000
        assert 0 <= response.transmit_time.nanos < 1_000_000_000


def test_client_transmit_time_is_echoed(live: LiveServer) -> None:
    """client_transmit_time comes back unchanged, whatever it says; unset stays unset."""
    for seconds, nanos in [(1_700_000_000, 123_456_789), (-2_208_988_800, 1), (0, 0)]:
        request = pb.ReadClockRequest()
        request.client_transmit_time.seconds = seconds
        request.client_transmit_time.nanos = nanos
        response = live.stub.ReadClock(request, timeout=5)
        assert response.HasField("client_transmit_time")
        assert response.client_transmit_time == request.client_transmit_time
    response = live.stub.ReadClock(pb.ReadClockRequest(), timeout=5)
    assert not response.HasField("client_transmit_time")


def test_clock_state_is_the_kernels(live: LiveServer) -> None:
    """Status, error bound and leap second agree with adjtimex read here around the call."""
    before = read_kernel_clock()
    response = live.stub.ReadClock(pb.ReadClockRequest(), timeout=5)
    after = read_kernel_clock()
    assert response.clock_status in {STATUSES[before.status], STATUSES[after.status]}
    assert response.clock_status != pb.CLOCK_STATUS_UNSPECIFIED
    assert response.leap_second in {LEAPS[before.leap], LEAPS[after.leap]}
    assert response.timescale == pb.TIMESCALE_UTC
    errors = sorted(e for e in (before.max_error, after.max_error) if e is not None)
    if not errors:
        assert not response.HasField("error_bound")
    else:
        # The kernel grows maxerror by 500 µs a second until its discipline resets it.
        assert response.HasField("error_bound")
        assert errors[0] <= response.error_bound.ToTimedelta() <= errors[-1]
    if before.status is ClockStatus.UNSYNCHRONIZED and after.status is ClockStatus.UNSYNCHRONIZED:
        # An unsynchronised kernel keeps maxerror at its 16 s ceiling.
        assert response.error_bound.ToTimedelta() == timedelta(seconds=16)
