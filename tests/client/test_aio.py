"""The asyncio clients against real servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from client import AsyncDateClient, AsyncTimeClient
from tests.client.checks import check_date, check_time
from tests.servers import ServerThread


@pytest.fixture
async def time_client(time_server: ServerThread) -> AsyncIterator[AsyncTimeClient]:
    """An AsyncTimeClient of the test server, closed at the end."""
    async with AsyncTimeClient(time_server.target) as client:
        yield client


async def test_get_time_is_now_in_the_zone(time_client: AsyncTimeClient) -> None:
    """get_time answers the current time in the requested zone, every field as zoneinfo says."""
    check_time(await time_client.get_time("Asia/Kathmandu"), "Asia/Kathmandu")
    check_time(await time_client.get_time(), "UTC")


async def test_watch_time_gives_exactly_max_updates(time_client: AsyncTimeClient) -> None:
    """A bounded watch yields max_updates updates of the zone's time, then ends."""
    interval = timedelta(milliseconds=100)
    updates = [u async for u in time_client.watch_time("Europe/Paris", interval, max_updates=3)]
    assert len(updates) == 3
    for update in updates:
        check_time(update, "Europe/Paris")


async def test_unbounded_watch_ends_when_closed(time_client: AsyncTimeClient) -> None:
    """An unbounded watch runs until the caller closes its iterator, which cancels the call."""
    updates = time_client.watch_time(interval=timedelta(milliseconds=100))
    for _ in range(2):
        check_time(await anext(updates), "UTC")
    await updates.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(updates)


async def test_list_time_zones_pages_cover_every_zone(time_client: AsyncTimeClient) -> None:
    """Walking small pages gives the same names as one full page."""
    page = await time_client.list_time_zones(page_size=10)
    assert len(page.time_zones) == 10
    assert page.next_page_token
    everything = await time_client.list_all_time_zones(page_size=100)
    full = await time_client.list_time_zones()
    assert list(everything.time_zones) == list(full.time_zones)
    assert everything.total_size == len(full.time_zones) > 500
    assert everything.next_page_token == ""


async def test_get_date_is_today_in_the_zone(date_server: ServerThread) -> None:
    """get_date answers today's date in the requested zone, with its calendar facts."""
    async with AsyncDateClient(date_server.target) as client:
        check_date(await client.get_date("Pacific/Kiritimati"), "Pacific/Kiritimati")
        check_date(await client.get_date(), "UTC")


async def test_invalid_zone_is_invalid_argument(
    time_client: AsyncTimeClient, date_server: ServerThread
) -> None:
    """An unknown zone raises RpcError INVALID_ARGUMENT from both services."""
    with pytest.raises(grpc.RpcError) as caught:
        await time_client.get_time("Mars/Base")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with AsyncDateClient(date_server.target) as client:
        with pytest.raises(grpc.RpcError) as caught:
            await client.get_date("Mars/Base")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_dead_target_is_unavailable_within_the_deadline(dead_target: str) -> None:
    """With nothing listening, a call fails UNAVAILABLE (after its retries) before its deadline."""
    async with AsyncTimeClient(dead_target, timeout=3) as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            await client.get_time()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 3


async def test_wait_for_ready_waits_until_the_deadline(dead_target: str) -> None:
    """With wait_for_ready, a call to a dead target waits and fails DEADLINE_EXCEEDED."""
    async with AsyncDateClient(dead_target, timeout=0.3, wait_for_ready=True) as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            await client.get_date()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - started < 2


async def test_context_manager_closes_the_channel(time_server: ServerThread) -> None:
    """Leaving the async with block closes the channel: a later call is refused."""
    async with AsyncTimeClient(time_server.target) as client:
        await client.get_time()
    with pytest.raises(grpc.aio.UsageError):
        await client.get_time()
