"""A watch's first update, connection included, must come within the client's timeout."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest

from client import AsyncTimeClient, TimeClient
from client._common import CallPolicy
from client._watch import WatchResume

TIMEOUT = 0.5
SLACK = 2.0


def resume(max_updates: int = 0, timeout: float | None = None) -> WatchResume:
    """A watch of 1 s ticks by a client whose timeout is 5 s."""
    interval = timedelta(seconds=1)
    return WatchResume(CallPolicy(timeout=5), "UTC", interval, max_updates, timeout, reconnect=True)


def test_first_stream_gets_the_client_timeout_for_its_first_update() -> None:
    """The first stream, bounded or not, must bring an update within the client's timeout."""
    assert resume().first_update_limit() == 5
    assert resume(max_updates=3).first_update_limit() == 5
    assert resume(timeout=1).first_update_limit() <= 1


def test_first_stream_without_an_update_fails_deadline_exceeded() -> None:
    """A first stream cut off for bringing no update is not reopened: DEADLINE_EXCEEDED."""
    watch = resume()
    assert watch.reopen_delay(None) is None
    assert watch.failure().code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no update within 5 s" in (watch.failure().details() or "")


def test_sync_watch_of_a_silent_server_fails_within_the_timeout(silent_target: str) -> None:
    """A blocking unbounded watch of a server that never speaks fails DEADLINE_EXCEEDED in time."""
    start = time.monotonic()
    with (
        TimeClient(silent_target, timeout=TIMEOUT) as client,
        pytest.raises(grpc.RpcError) as failure,
    ):
        next(client.watch_time("UTC"))
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < TIMEOUT + SLACK


async def test_async_watch_of_a_silent_server_fails_within_the_timeout(silent_target: str) -> None:
    """An asyncio unbounded watch of a server that never speaks fails DEADLINE_EXCEEDED in time."""
    start = time.monotonic()
    async with AsyncTimeClient(silent_target, timeout=TIMEOUT) as client:
        with pytest.raises(grpc.RpcError) as failure:
            await anext(client.watch_time("UTC"))
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < TIMEOUT + SLACK
