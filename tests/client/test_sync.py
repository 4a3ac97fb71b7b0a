"""The blocking clients against real servers."""

from __future__ import annotations

import gc
import time
import zoneinfo
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest

from client import DateClient, TimeClient
from tests.chrono_server.helpers import eventually
from tests.client.checks import check_date, check_time
from tests.servers import ServerThread


@pytest.fixture
def time_client(time_server: ServerThread) -> Iterator[TimeClient]:
    """A TimeClient of the test server, closed at the end."""
    with TimeClient(time_server.target) as client:
        yield client


def test_get_time_is_now_in_the_zone(time_client: TimeClient) -> None:
    """get_time answers the current time in the requested zone, every field as zoneinfo says."""
    check_time(time_client.get_time("Asia/Kathmandu"), "Asia/Kathmandu")


def test_get_time_defaults_to_utc(time_client: TimeClient) -> None:
    """get_time with no zone answers in UTC."""
    check_time(time_client.get_time(), "UTC")


def test_watch_time_gives_exactly_max_updates(time_client: TimeClient) -> None:
    """A bounded watch yields max_updates updates of the zone's time, then ends."""
    interval = timedelta(milliseconds=100)
    updates = list(time_client.watch_time("America/Sao_Paulo", interval, max_updates=3))
    assert len(updates) == 3
    for update in updates:
        check_time(update, "America/Sao_Paulo")
    instants = [update.current_time.ToDatetime() for update in updates]
    assert instants == sorted(instants)


def test_unbounded_watch_ends_when_closed(time_client: TimeClient) -> None:
    """An unbounded watch runs until the caller closes its iterator, which cancels the call."""
    updates = time_client.watch_time(interval=timedelta(milliseconds=100))
    for _ in range(2):
        check_time(next(updates), "UTC")
    updates.close()
    assert next(updates, None) is None


def test_list_time_zones_pages_cover_every_zone(time_client: TimeClient) -> None:
    """Walking small pages gives the same names as one full page: all the zones zoneinfo knows."""
    page = time_client.list_time_zones(page_size=10)
    assert len(page.time_zones) == 10
    assert page.next_page_token
    everything = time_client.list_all_time_zones(page_size=100)
    full = time_client.list_time_zones()
    assert list(everything.time_zones) == list(full.time_zones)
    assert set(full.time_zones) == zoneinfo.available_timezones()
    assert everything.total_size == len(full.time_zones)
    assert everything.next_page_token == ""
    assert everything.tzdata_version == full.tzdata_version != ""


def test_get_date_is_today_in_the_zone(date_server: ServerThread) -> None:
    """get_date answers today's date in the requested zone, with its calendar facts."""
    with DateClient(date_server.target) as client:
        check_date(client.get_date("Pacific/Kiritimati"), "Pacific/Kiritimati")
        check_date(client.get_date(), "UTC")


def test_invalid_zone_is_invalid_argument(
    time_client: TimeClient, date_server: ServerThread
) -> None:
    """An unknown zone raises RpcError INVALID_ARGUMENT from both services."""
    with pytest.raises(grpc.RpcError) as caught:
        time_client.get_time("Mars/Base")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with DateClient(date_server.target) as client, pytest.raises(grpc.RpcError) as caught:
        client.get_date("Mars/Base")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_dead_target_is_unavailable_within_the_deadline(dead_target: str) -> None:
    """With nothing listening, a call fails UNAVAILABLE (after its retries) before its deadline."""
    with TimeClient(dead_target, timeout=3) as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            client.get_time()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 3


def test_wait_for_ready_waits_until_the_deadline(dead_target: str) -> None:
    """With wait_for_ready, a call to a dead target waits and fails DEADLINE_EXCEEDED."""
    with DateClient(dead_target, timeout=0.3, wait_for_ready=True) as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            client.get_date()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - started < 2


def test_context_manager_closes_the_channel(time_server: ServerThread) -> None:
    """Leaving the with block closes the channel: a later call is refused."""
    with TimeClient(time_server.target) as client:
        client.get_time()
    with pytest.raises(ValueError, match="closed"):
        client.get_time()


def live_calls() -> list[object]:
    """The grpc client calls still in memory, garbage included."""
    return [item for item in gc.get_objects() if isinstance(item, grpc.Call)]


def test_a_finished_watch_leaves_its_call_to_no_garbage_collector(
    time_server: ServerThread,
) -> None:
    """A watch that ended frees its call at once, not through a reference cycle.

    Left to the garbage collector, grpc's finalizer of the call ran at interpreter exit
    and could deadlock on the call's lock: the chrono command hung after printing its
    last update in about 1 run of 10.
    """
    gc.collect()
    gc.disable()
    try:
        with TimeClient(time_server.target) as client:
            updates = list(client.watch_time("UTC", timedelta(milliseconds=100), 2))
        assert len(updates) == 2
        # The first-update timer's thread may take a moment to end and let go.
        assert eventually(lambda: live_calls() == [], timeout=2), live_calls()
    finally:
        gc.enable()
