"""The rules a watch follows across streams: what it reopens, when, and what it drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from chrono.time.v1 import time_service_pb2 as time_pb
from client._common import CallPolicy
from client._watch import MAX_FAILED_REOPENS, WatchResume

INTERVAL = timedelta(seconds=1)
START = datetime(2026, 11, 27, 21, 0, 0, tzinfo=UTC)


class StatusError(grpc.RpcError):
    """An error value with a status, as a failed stream raises one (these tests run no calls)."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        """The status code."""
        return self._code

    def details(self) -> str:
        """The status message."""
        return self._details


UNAVAILABLE = StatusError(grpc.StatusCode.UNAVAILABLE, "reconnect to continue the watch")


def at(seconds: float) -> time_pb.WatchTimeResponse:
    """An update stamped ``seconds`` after START."""
    update = time_pb.WatchTimeResponse()
    update.current_time.FromDatetime(START + timedelta(seconds=seconds))
    return update


def watch(max_updates: int = 0, timeout: float | None = None, **kwargs: bool) -> WatchResume:
    """A watch of 1 s ticks with a client timeout of 5 s."""
    reconnect = kwargs.get("reconnect", True)
    return WatchResume(
        CallPolicy(timeout=5), "UTC", INTERVAL, max_updates, timeout, reconnect=reconnect
    )


def test_first_stream_delivers_every_update() -> None:
    """Within the first stream nothing is dropped, even an early update a hair before a tick."""
    resume = watch()
    assert all(resume.accept(at(t)) for t in (0.9995, 1.0, 2.0, 3.0))
    assert resume.delivered == 4


def test_reopened_stream_drops_a_repeat_of_the_last_interval() -> None:
    """A new stream's first update in the interval already shown is dropped, the next tick not."""
    resume = watch()
    assert resume.accept(at(0.3))
    assert resume.accept(at(1.0))
    assert resume.reopen_delay(UNAVAILABLE) == 0
    assert not resume.accept(at(1.6))  # reconnected within the same second
    assert resume.accept(at(2.0))
    assert resume.delivered == 3


def test_reopened_stream_delivers_a_late_first_update() -> None:
    """When the reconnection took past the next tick, the new stream's first update is shown."""
    resume = watch()
    resume.accept(at(1.0))
    resume.reopen_delay(UNAVAILABLE)
    assert resume.accept(at(2.4))
    assert resume.accept(at(3.0))


def test_first_request_asks_for_max_updates_and_a_reopen_for_one_more_than_remain() -> None:
    """A reopened stream asks for the updates still due plus one, the one it may drop."""
    resume = watch(max_updates=5)
    request, call = resume.call()
    assert request.max_updates == 5
    assert call["wait_for_ready"] is False
    resume.accept(at(0))
    resume.accept(at(1))
    resume.reopen_delay(UNAVAILABLE)
    request, call = resume.call()
    assert request.max_updates == 4
    assert call["wait_for_ready"] is True
    for second in (2, 3, 4):
        resume.accept(at(second))
    assert resume.done


def test_unbounded_reopen_stays_unbounded() -> None:
    """An unbounded watch reopens unbounded, with no deadline, but a first-update limit."""
    resume = watch()
    # Even the first stream must bring its first update within the client's timeout.
    assert resume.first_update_limit() == 5
    resume.accept(at(0))
    resume.reopen_delay(UNAVAILABLE)
    request, call = resume.call()
    assert request.max_updates == 0
    assert call["timeout"] is None
    assert resume.first_update_limit() == 5


def test_reopens_back_off_and_stop_after_the_limit() -> None:
    """Reopens go at once, then after growing back-offs, and stop after MAX_FAILED_REOPENS."""
    resume = watch()
    resume.accept(at(0))
    delays = [resume.reopen_delay(None if n % 2 else UNAVAILABLE) for n in range(10)]
    assert delays[0] == 0
    waits = [delay for delay in delays if delay is not None]
    assert len(waits) == MAX_FAILED_REOPENS
    assert all(0.08 <= wait <= 1.2 for wait in waits[1:])
    assert waits[1:] == sorted(waits[1:])
    assert resume.failure() is UNAVAILABLE


def test_an_update_resets_the_failed_reopens() -> None:
    """A reopened stream that brings an update clears the count of failed reopens."""
    resume = watch()
    resume.accept(at(0))
    for _ in range(MAX_FAILED_REOPENS - 1):
        resume.reopen_delay(UNAVAILABLE)
    resume.accept(at(1))
    assert resume.reopen_delay(UNAVAILABLE) == 0


@pytest.mark.parametrize(
    ("code", "updates", "reconnect"),
    [
        (grpc.StatusCode.UNAVAILABLE, 0, True),
        (grpc.StatusCode.UNAVAILABLE, 1, False),
        (grpc.StatusCode.INVALID_ARGUMENT, 1, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 1, True),
        (grpc.StatusCode.CANCELLED, 1, True),
    ],
)
def test_what_is_not_reopened(code: grpc.StatusCode, updates: int, reconnect: bool) -> None:
    """Only UNAVAILABLE after an update, with reconnect on, reopens; anything else is raised."""
    resume = watch(reconnect=reconnect)
    for second in range(updates):
        resume.accept(at(second))
    error = StatusError(code)
    assert resume.reopen_delay(error) is None
    assert resume.failure() is error


def test_no_reopen_once_the_deadline_has_passed() -> None:
    """A watch whose own deadline is spent raises instead of reopening."""
    resume = watch(timeout=1e-9)
    resume.accept(at(0))
    assert resume.reopen_delay(UNAVAILABLE) is None
