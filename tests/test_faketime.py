"""The faketime helper: a child's clock shifted exactly, and a time-service that works under it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import grpc
import pytest
from google.protobuf import duration_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as rpc
from tests.chrono_server.helpers import ServiceProcess
from tests.faketime import faketime_command, faketime_prefix, libfaketime

pytestmark = pytest.mark.skipif(
    libfaketime() is None, reason="libfaketime is not installed (Debian package faketime)"
)

SECOND = 1_000_000_000
# The server reads its clock as a datetime: whole microseconds, rounded down.
MICROSECOND = 1000

CHILD = """
import json, time
start = time.monotonic_ns()
wall = time.time_ns()
realtime = time.clock_gettime_ns(time.CLOCK_REALTIME)
time.sleep(0.05)
print(json.dumps({"wall": wall, "realtime": realtime, "slept": time.monotonic_ns() - start}))
"""


@pytest.mark.parametrize("shift", [2.5, -2.5, 0.125])
def test_child_wall_clock_is_shifted_by_exactly_the_shift(shift: float) -> None:
    """A child's wall clock, read between two of the parent's readings, is shifted by ``shift``."""
    before = time.time_ns()
    output = subprocess.run(
        faketime_command(shift, [sys.executable, "-c", CHILD]),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    after = time.time_ns()
    child = json.loads(output)
    shift_ns = round(shift * SECOND)
    for reading in (child["wall"], child["realtime"]):
        assert before <= reading - shift_ns <= after, (before, reading, after)
    # Its monotonic clock still times a sleep: at least as long as asked.
    assert child["slept"] >= 50_000_000


def read_time_ns(stub: rpc.TimeServiceStub) -> int:
    """The server's clock, from GetTime, in nanoseconds since the epoch."""
    response = stub.GetTime(pb.GetTimeRequest(), timeout=5)
    return response.current_time.seconds * SECOND + response.current_time.nanos


def test_time_service_under_faketime_serves_its_shifted_clock() -> None:
    """A time-service run under faketime answers 2.5 s ahead, streams, and stops on SIGTERM."""
    with ServiceProcess(
        ["-m", "time_service", "--port", "0"], prefix=faketime_prefix(2.5)
    ) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = rpc.TimeServiceStub(channel)
            before = time.time_ns()
            server = read_time_ns(stub)
            after = time.time_ns()
            assert before - MICROSECOND < server - 5 * SECOND // 2 <= after
            # WatchTime's ticks wait on the server's (faked) monotonic clock.
            request = pb.WatchTimeRequest(
                interval=duration_pb2.Duration(nanos=100_000_000), max_updates=4
            )
            updates = list(stub.WatchTime(request, timeout=10))
            assert len(updates) == 4
            stamps = [u.current_time.seconds * SECOND + u.current_time.nanos for u in updates]
            assert stamps == sorted(stamps)
            now = time.time_ns()
            assert all(before - MICROSECOND < stamp - 5 * SECOND // 2 <= now for stamp in stamps)
        # The process started is the service itself, so the signal reaches it.
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
