"""Offset estimates against a time-service whose clock runs 2.5 s ahead, through libfaketime."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import client.__main__ as cli
from client import AsyncTimeClient, TimeClient
from client._offset import OffsetEstimate
from tests.chrono_server.helpers import ServiceProcess
from tests.faketime import faketime_prefix, libfaketime

pytestmark = pytest.mark.skipif(
    libfaketime() is None, reason="libfaketime is not installed (Debian package faketime)"
)

SHIFT = timedelta(seconds=2.5)
SHIFT_NS = 2_500_000_000
MILLISECOND = timedelta(milliseconds=1)
MICROSECOND = timedelta(microseconds=1)


@pytest.fixture(scope="module")
def ahead() -> Iterator[str]:
    """The target of a time-service process whose clock reads 2.5 s ahead of this one's."""
    with ServiceProcess(
        ["-m", "time_service", "--port", "0"], prefix=faketime_prefix(SHIFT.total_seconds())
    ) as process:
        port = process.wait_for_port()
        yield f"127.0.0.1:{port}"
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0


def check_ahead(found: OffsetEstimate, samples: int = 8) -> None:
    """The estimate finds the 2.5 s shift within its measurement bound, which is tight."""
    assert found.samples == samples
    assert abs(found.offset - SHIFT) <= found.measurement_bound
    assert timedelta(0) < found.measurement_bound < 10 * MILLISECOND


def test_read_clock_is_shifted(ahead: str) -> None:
    """The server's receive and transmit times are this clock's during the call, plus 2.5 s."""
    with TimeClient(ahead) as client:
        before = time.time_ns()
        response = client.read_clock()
        after = time.time_ns()
    receive = response.receive_time.seconds * 10**9 + response.receive_time.nanos
    transmit = response.transmit_time.seconds * 10**9 + response.transmit_time.nanos
    assert before + SHIFT_NS <= receive <= transmit <= after + SHIFT_NS
    # The client's own send time comes back as it was, unshifted.
    sent = response.client_transmit_time.seconds * 10**9 + response.client_transmit_time.nanos
    assert before <= sent <= after


def test_blocking_client_finds_the_shift(ahead: str) -> None:
    """TimeClient.estimate_offset puts the server 2.5 s ahead, within a bound under 10 ms."""
    with TimeClient(ahead) as client:
        check_ahead(client.estimate_offset())
        check_ahead(client.estimate_offset(samples=3), samples=3)


def test_now_interval_is_the_servers_clock(ahead: str) -> None:
    """now_interval is centred 2.5 s (the estimated offset) ahead of this machine's clock."""
    with TimeClient(ahead) as client:
        found = client.estimate_offset()
        before = datetime.now(UTC)
        earliest, latest = client.now_interval(found)
        after = datetime.now(UTC)
    check_ahead(found)
    middle = earliest + (latest - earliest) / 2
    assert before + found.offset - MICROSECOND <= middle <= after + found.offset + MICROSECOND


async def test_async_client_finds_the_shift(ahead: str) -> None:
    """AsyncTimeClient.estimate_offset puts the server 2.5 s ahead, within a bound under 10 ms."""
    async with AsyncTimeClient(ahead) as client:
        found = await client.estimate_offset()
        before = datetime.now(UTC)
        earliest, latest = await client.now_interval(found)
        after = datetime.now(UTC)
    check_ahead(found)
    middle = earliest + (latest - earliest) / 2
    assert before + found.offset - MICROSECOND <= middle <= after + found.offset + MICROSECOND


def test_offset_command_finds_the_shift(ahead: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono offset --json` reports 2.5 s within its measurement bound, under 10 ms."""
    status = cli.main(["--time-target", ahead, "offset", "--json"])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    found = json.loads(out)
    assert found["samples"] == 8
    bound = found["measurementBoundSeconds"]
    assert abs(found["offsetSeconds"] - SHIFT.total_seconds()) <= bound < 0.01
