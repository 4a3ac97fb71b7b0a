"""How many streams one connection may hold: every watch a process allows, none waiting silently.

At the old default of 100 streams per connection, 500 watches over one channel failed by
the hundred with REFUSED_STREAM, and a client's watches past its 99th (its health-check
stream holds a slot too) waited forever without an error.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from client import AsyncTimeClient
from tests.chrono_server.helpers import running
from tests.servers import server_settings
from time_service.options import TimeOptions
from time_service.server import SPEC as TIME_SPEC

WATCHES = 500
# Unbounded watches through one client: more than the old limit of 100 slots.
UNBOUNDED = 150
# Bounds the whole of each load, so that a watch that never answers fails the test
# instead of hanging it; every watch here answers within about a second.
LOAD_LIMIT = 30.0
ONE_SECOND = timedelta(seconds=1)


def outcome(error: grpc.RpcError) -> str:
    """How a failed call is counted: its status code's name."""
    return error.code().name


async def plain_watches(target: str, count: int) -> collections.Counter[str]:
    """Open ``count`` watches of 2 updates, 1 s apart, over one grpc.aio channel; their endings."""
    endings: collections.Counter[str] = collections.Counter()
    request = pb.WatchTimeRequest(max_updates=2)
    request.interval.FromTimedelta(ONE_SECOND)

    async def one(stub: pb_grpc.TimeServiceAsyncStub) -> None:
        try:
            updates = [update async for update in stub.WatchTime(request, timeout=LOAD_LIMIT)]
            endings["OK" if len(updates) == 2 else f"{len(updates)} updates"] += 1
        except grpc.RpcError as error:
            endings[outcome(error)] += 1

    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TimeServiceStub(channel)
        await asyncio.wait_for(asyncio.gather(*(one(stub) for _ in range(count))), LOAD_LIMIT)
    return endings


async def client_watches(target: str, count: int) -> collections.Counter[str]:
    """Open ``count`` watches of 2 updates, 1 s apart, through one AsyncTimeClient."""
    endings: collections.Counter[str] = collections.Counter()

    async def one(client: AsyncTimeClient) -> None:
        try:
            updates = [u async for u in client.watch_time(interval=ONE_SECOND, max_updates=2)]
            endings["OK" if len(updates) == 2 else f"{len(updates)} updates"] += 1
        except grpc.RpcError as error:
            endings[outcome(error)] += 1

    async with AsyncTimeClient(target) as client:
        await asyncio.wait_for(asyncio.gather(*(one(client) for _ in range(count))), LOAD_LIMIT)
    return endings


async def first_updates(target: str, count: int) -> collections.Counter[str]:
    """Open ``count`` unbounded watches through one AsyncTimeClient; how each one began.

    Every watch stays open until all have begun, with an update or an error, so that
    they all hold their streams at once.
    """
    began: collections.Counter[str] = collections.Counter()

    async def begin(watch: AsyncIterator[pb.WatchTimeResponse]) -> None:
        try:
            await anext(watch)
            began["update"] += 1
        except grpc.RpcError as error:
            began[outcome(error)] += 1

    async with AsyncTimeClient(target) as client:
        watches = [client.watch_time(interval=ONE_SECOND) for _ in range(count)]
        try:
            await asyncio.wait_for(asyncio.gather(*(begin(w) for w in watches)), LOAD_LIMIT)
        finally:
            for watch in watches:
                await watch.aclose()
    return began


def test_default_stream_limit_leaves_room_for_every_watch() -> None:
    """One connection may open more streams than --max-watches, with room for other calls."""
    headroom = ServerSettings().max_concurrent_streams - TimeOptions().max_watches
    # The client's own health-check stream, and unary calls beside the watches.
    assert headroom >= 100


def test_500_watches_over_one_plain_channel_all_succeed() -> None:
    """500 watches of 2 updates over one plain grpc.aio channel all end OK at the defaults."""
    with running(TIME_SPEC, server_settings()) as server:
        endings = asyncio.run(plain_watches(server.target, WATCHES))
    assert endings == {"OK": WATCHES}


def test_500_watches_through_the_chrono_client_all_succeed() -> None:
    """500 watches of 2 updates through one AsyncTimeClient all end OK at the defaults."""
    with running(TIME_SPEC, server_settings()) as server:
        endings = asyncio.run(client_watches(server.target, WATCHES))
    assert endings == {"OK": WATCHES}


def test_unbounded_watches_through_one_client_all_get_updates() -> None:
    """150 unbounded watches through one client, beside its health-check stream, all begin."""
    with running(TIME_SPEC, server_settings()) as server:
        began = asyncio.run(first_updates(server.target, UNBOUNDED))
    assert began == {"update": UNBOUNDED}


def test_watches_past_the_process_limit_fail_at_once_on_one_connection() -> None:
    """Past --max-watches, a client's further watches on its one connection get RESOURCE_EXHAUSTED.

    Neither they nor the ones within the limit wait for a free slot: the guard answers.
    """
    settings = server_settings(service=TimeOptions(max_watches=100))
    with running(TIME_SPEC, settings) as server:
        began = asyncio.run(first_updates(server.target, 120))
    assert began == {"update": 100, "RESOURCE_EXHAUSTED": 20}
