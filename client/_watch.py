"""One watch across the WatchTime streams it is made of: when to reopen, what to drop.

The sync and async clients run the streams; this decides everything else, once.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

import grpc

from chrono.time.v1 import time_service_pb2 as time_pb
from client._common import DEFAULT_INTERVAL, CallKwargs, CallPolicy, watch_time_request

logger = logging.getLogger(__name__)

MAX_FAILED_REOPENS = 5
"""Reopened streams in a row that may fail before their first update; then the watch fails."""

_TICK_TOLERANCE_NS = 1_000_000
"""A tick computed in floating point may be stamped a hair before its boundary: counted
as on it."""


class NoUpdateInTime(grpc.RpcError):
    """DEADLINE_EXCEEDED for a watch whose first stream brought no update in time.

    That stream has no deadline of its own (an unbounded watch) or a later one (the
    whole watch's): without this limit, a server that accepts the connection and never
    answers would hold it until grpc gives up on the connection, about 20 s later.
    """

    def __init__(self, limit: float) -> None:
        self._details = f"no update within {limit:g} s"
        super().__init__(self._details)

    def code(self) -> grpc.StatusCode:
        """DEADLINE_EXCEEDED, as for any call that ran out of time."""
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        """How long the watch waited."""
        return self._details


class WatchResume:
    """The state of one watch, and the rules for carrying it over to a new stream.

    A stream that ends with UNAVAILABLE after the watch delivered at least one update (a
    draining server ends watches so, "reconnect to continue the watch"; so does a lost
    connection) is reopened at once with ``wait_for_ready``, so that it waits for a
    server rather than failing while none is connected. Every stream, the first
    included, must bring its first update within the client's timeout, connecting
    included: if the first stream does not, the watch fails with DEADLINE_EXCEEDED
    (:class:`NoUpdateInTime`). A reopened stream that fails, or brings no update in
    time, counts as a failed attempt; after
    :data:`MAX_FAILED_REOPENS` in a row, or when the watch's own deadline has passed,
    the watch fails with the last error a stream ended with. Attempts after a failed one
    wait 0.1 s, 0.2 s, 0.4 s... (at most 1 s, jittered).

    A new stream starts with the time now, which may fall in the same interval as the
    last update delivered (servers tick on multiples of the interval since the epoch):
    such an update is dropped, so that each interval is shown once. ``max_updates``
    counts delivered updates across all streams.
    """

    def __init__(
        self,
        policy: CallPolicy,
        time_zone: str,
        interval: timedelta | None,
        max_updates: int,
        timeout: float | None,
        *,
        reconnect: bool,
    ) -> None:
        """Start a watch; ``timeout`` bounds all of it, reopens included (see CallPolicy)."""
        self._policy = policy
        self._time_zone = time_zone
        self._interval = interval
        self._max_updates = max_updates
        self._reconnect = reconnect
        first = policy.watch(interval, max_updates, timeout)
        self._deadline = None if first["timeout"] is None else time.monotonic() + first["timeout"]
        self._wait_for_ready = first["wait_for_ready"]
        self._tick_ns = (interval or DEFAULT_INTERVAL) // timedelta(microseconds=1) * 1000
        self.delivered = 0
        self.error: grpc.RpcError | None = None
        """The error the last failed stream ended with: what the watch raises if it gives up."""
        self._last_tick: int | None = None
        self._failed_reopens = 0
        self._resumed = False
        self._limit = policy.timeout
        """The first-update limit last handed out, for the error when it passes."""

    @property
    def done(self) -> bool:
        """True once ``max_updates`` updates have been delivered (never for 0)."""
        return 0 < self._max_updates <= self.delivered

    def call(self) -> tuple[time_pb.WatchTimeRequest, CallKwargs]:
        """The request and call settings for the next stream."""
        max_updates = self._max_updates
        if self._resumed and max_updates:
            # One more than remain: the new stream's first update may be dropped.
            max_updates += 1 - self.delivered
        request = watch_time_request(self._time_zone, self._interval, max_updates)
        wait = self._wait_for_ready or self._resumed
        return request, CallKwargs(timeout=self._remaining(), wait_for_ready=wait)

    def first_update_limit(self) -> float:
        """Seconds the next stream may take to bring its first update: the client's timeout.

        Less if the watch's own deadline comes sooner. An unbounded watch has no deadline,
        and a reopened stream waits for a server (wait_for_ready): without this limit a
        watch whose servers are all gone, or never answer, would wait forever.
        """
        remaining = self._remaining()
        limit = self._policy.timeout if remaining is None else min(self._policy.timeout, remaining)
        self._limit = max(0.0, limit)
        return self._limit

    def accept(self, update: time_pb.WatchTimeResponse) -> bool:
        """Note a received update; True to deliver it, False to drop it as a repeat."""
        self._failed_reopens = 0
        stamp = update.current_time
        tick = (stamp.seconds * 1_000_000_000 + stamp.nanos + _TICK_TOLERANCE_NS) // self._tick_ns
        # Only a reopened stream can repeat an interval: within one stream the server
        # sends one update per tick, and an early first update may be a hair before one.
        if self._resumed and self._last_tick is not None and tick <= self._last_tick:
            logger.debug("dropping an update of an interval already shown: %s", update.formatted)
            return False
        self._last_tick = tick
        self.delivered += 1
        return True

    def reopen_delay(self, error: grpc.RpcError | None) -> float | None:
        """Seconds to wait before reopening a stream that failed; None: raise :attr:`error`.

        ``error`` is what the stream ended with, or None if it brought no first update
        within :meth:`first_update_limit` (the caller cancelled it).
        """
        if error is None and self.delivered == 0:
            # The first stream: no watch has started that a new stream could carry on.
            self.error = NoUpdateInTime(self._limit)
            logger.debug("watch failed on its first stream: %s", self.error.details())
            return None
        if error is not None:
            self.error = error
            if not (
                self._reconnect
                and self.delivered > 0
                and error.code() == grpc.StatusCode.UNAVAILABLE
            ):
                return None
        # The first reopen goes at once: the stream that ended was healthy until then.
        delay = 0.0
        if self._failed_reopens:
            delay = min(1.0, 0.1 * 2 ** (self._failed_reopens - 1)) * random.uniform(0.8, 1.2)
        remaining = self._remaining()
        if self._failed_reopens >= MAX_FAILED_REOPENS or (
            remaining is not None and remaining <= delay
        ):
            logger.warning(
                "giving up on the watch after %d failed reopens: %s",
                self._failed_reopens,
                self.error.details() if self.error else "no update in time",
            )
            return None
        self._failed_reopens += 1
        self._resumed = True
        logger.info(
            "watch stream ended (%s); reopening in %.2f s (attempt %d of %d)",
            self.error.details() if self.error else "no update in time",
            delay,
            self._failed_reopens,
            MAX_FAILED_REOPENS,
        )
        return delay

    def failure(self) -> grpc.RpcError:
        """The error to raise when :meth:`reopen_delay` says to give up."""
        assert self.error is not None, "a watch gives up only after a stream failed"
        return self.error

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()
