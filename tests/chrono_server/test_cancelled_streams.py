"""Streams whose callers leave mid-stream never take the server process down."""

from __future__ import annotations

import asyncio
import random
import socket
import time

import grpc
import h2.config
import h2.connection
import h2.settings
from google.protobuf.duration_pb2 import Duration

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import ServiceProcess

WATCH = "/chrono.time.v1.TimeService/WatchTime"
# 0.1 s watches: the fastest the service allows, so that calls end mid-write often.
FAST = pb.WatchTimeRequest(time_zone="UTC", interval=Duration(nanos=100_000_000))


async def _cancel_watches(target: str, rounds: int, per_round: int) -> None:
    """Open ``per_round`` watches at once, cancel each after 0.05 to 0.6 s, ``rounds`` times."""
    rng = random.Random(8)

    async def one(stub: pb_grpc.TimeServiceAsyncStub) -> None:
        call = stub.WatchTime(FAST)

        async def read() -> None:
            async for _ in call:
                pass

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(rng.uniform(0.05, 0.6))
        call.cancel()
        await asyncio.gather(reader, return_exceptions=True)

    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TimeServiceStub(channel)
        for _ in range(rounds):
            await asyncio.gather(*(one(stub) for _ in range(per_round)))


def _grpc_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _tiny_window_watch(port: int, linger: float) -> int:
    """A raw HTTP/2 client with a 16-byte window opens a watch, reads, and drops its socket.

    Returns how many bytes of the stream it saw before it left.
    """
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 16}
    )
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", f"127.0.0.1:{port}"),
                (":path", WATCH),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        connection.send_data(stream, _grpc_frame(FAST.SerializeToString()), end_stream=True)
        sock.sendall(connection.data_to_send())
        sock.settimeout(0.05)
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            received += len(data)
            connection.receive_data(data)
            # Never acknowledge the stream's data: its window stays 16 bytes.
            sock.sendall(connection.data_to_send())
    return received


def _assert_serving(process: ServiceProcess, port: int) -> None:
    assert process.process.poll() is None, (process.process.returncode, process.lines[-5:])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = pb_grpc.TimeServiceStub(channel).GetTime(pb.GetTimeRequest(), timeout=5)
    assert reply.time_zone == "UTC"


def test_cancelled_watches_leave_the_server_running() -> None:
    """Rounds of 100 watches cancelled mid-stream by a grpc.aio client do not crash the server.

    With the access log on (the default), a server that read the peer of a finished stream
    died with SIGSEGV within 5 to 45 such rounds.
    """
    with ServiceProcess(["-m", "time_service", "--port", "0"]) as process:
        port = process.wait_for_port()
        asyncio.run(_cancel_watches(f"127.0.0.1:{port}", rounds=40, per_round=100))
        _assert_serving(process, port)


def test_clients_that_drop_their_socket_with_a_tiny_window_leave_the_server_running() -> None:
    """A raw HTTP/2 client with a 16-byte window that drops its socket mid-watch is harmless.

    One such client killed a default server at once.
    """
    with ServiceProcess(["-m", "time_service", "--port", "0"]) as process:
        port = process.wait_for_port()
        seen = [_tiny_window_watch(port, linger=0.3) for _ in range(10)]
        assert all(seen), seen
        _assert_serving(process, port)
