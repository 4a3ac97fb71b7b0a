"""A draining server answers every call it accepted: none is cut off as CANCELLED."""

from __future__ import annotations

import asyncio
import collections
import signal

import grpc

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from client._common import TIME_SERVICE, channel_options
from tests.chrono_server.helpers import ServiceProcess

CHANNELS = 4
CALLERS_PER_CHANNEL = 16
WARM_UP = 0.5
# Calls go on this long after the drained server has exited.
TAIL = 0.3
# No load runs longer than this, whatever happens.
LOAD_LIMIT = 20.0


def backend() -> ServiceProcess:
    """A time-service process on a free port, draining for up to 5 s."""
    return ServiceProcess(["-m", "time_service", "--port", "0", "--grace", "5"])


async def load_while_draining(target: str, drained: ServiceProcess) -> collections.Counter[str]:
    """Keep 64 GetTime calls in flight, SIGTERM ``drained`` mid-load; count the outcomes."""
    # The client library's own options (round_robin, health checking), with retries off:
    # nothing may be hidden by a retry.
    options = channel_options(TIME_SERVICE, [("grpc.enable_retries", 0)])
    outcomes: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()

    async def caller(stub: pb_grpc.TimeServiceAsyncStub) -> None:
        while not stop.is_set():
            try:
                await stub.GetTime(pb.GetTimeRequest(), timeout=5, wait_for_ready=True)
                outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                outcomes[error.code().name] += 1

    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(CHANNELS)]
    try:
        stubs = [pb_grpc.TimeServiceStub(channel) for channel in channels]
        callers = [
            asyncio.ensure_future(caller(stub))
            for stub in stubs
            for _ in range(CALLERS_PER_CHANNEL)
        ]
        await asyncio.sleep(WARM_UP)
        drained.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(drained.process.wait, LOAD_LIMIT)
        await asyncio.sleep(TAIL)
        stop.set()
        await asyncio.gather(*callers)
    finally:
        for channel in channels:
            await channel.close()
    return outcomes


def test_a_drain_under_load_fails_no_call() -> None:
    """Three drains of one of two backends under load fail no call, with retries off.

    Without waiting for the calls it had accepted, a draining grpc.aio server cancelled
    the ones still queued in grpc core: CANCELLED in 9 of 10 such drains.
    """
    with backend() as staying:
        staying_port = staying.wait_for_port()
        for _ in range(3):
            with backend() as drained:
                port = drained.wait_for_port()
                target = f"ipv4:127.0.0.1:{port},127.0.0.1:{staying_port}"
                outcomes = asyncio.run(load_while_draining(target, drained))
                assert drained.finish() == 0, drained.lines
            assert set(outcomes) == {"OK"}, outcomes
            assert outcomes["OK"] > 100, outcomes
