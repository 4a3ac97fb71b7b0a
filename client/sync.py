"""Blocking clients of TimeService and DateService.

Every method raises :class:`grpc.RpcError` when the call fails: ``error.code()`` is
UNAVAILABLE when no server answers (after the retries), DEADLINE_EXCEEDED when the
deadline passes, INVALID_ARGUMENT for a bad request such as an unknown time zone (with
a ``google.rpc.BadRequest`` detail naming the field; ``grpc_status.rpc_status.from_call``
reads it). Calling a closed client raises ValueError.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from datetime import timedelta
from functools import cached_property
from typing import Self

import grpc
from grpc_health.v1 import health_pb2

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.date.v1 import date_service_pb2_grpc as date_grpc
from chrono.time.v1 import time_service_pb2 as time_pb
from chrono.time.v1 import time_service_pb2_grpc as time_grpc
from client import _common
from client._watch import WatchResume

logger = logging.getLogger(__name__)


class _Client(_common.ClientBase[grpc.Channel]):
    """A blocking client: one channel, closed by :meth:`close` or leaving a ``with`` block."""

    def _insecure_channel(self, target: str, options: _common.ChannelOptions) -> grpc.Channel:
        return grpc.insecure_channel(target, options=options)

    def _secure_channel(
        self, target: str, credentials: grpc.ChannelCredentials, options: _common.ChannelOptions
    ) -> grpc.Channel:
        return grpc.secure_channel(target, credentials, options=options)

    def check_health(self, *, timeout: float | None = None) -> health_pb2.HealthCheckResponse:
        """The server's grpc.health.v1 status for this client's service.

        ``status`` is SERVING when the server takes calls and NOT_SERVING while it drains
        on its way down. The check goes to one of the target's servers and, unlike other
        calls, also to a server that reports NOT_SERVING. Raises grpc.RpcError when no
        answer comes (UNAVAILABLE, DEADLINE_EXCEEDED), or NOT_FOUND if the server does
        not serve this service at all.
        """
        check = self._health_channel.unary_unary(
            _common.HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        request = _common.health_check_request(self.service.full_name)
        return check(request, **self._policy.unary(timeout))

    def close(self) -> None:
        """Close the channels, cancelling calls still in progress."""
        logger.debug("closing the channel to %s", self.target)
        self._channel.close()
        if self._probe is not None:
            self._probe.close()

    def __enter__(self) -> Self:
        """Use the client in a ``with`` block, which closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the client."""
        self.close()


class _FirstUpdateLimit:
    """Cancels a call that brings no update within ``limit`` seconds (None: never)."""

    def __init__(self, call: grpc.Call, limit: float | None) -> None:
        self._fired = threading.Event()
        self._timer: threading.Timer | None = None
        if limit is not None:
            # The timer holds the call and the event, never this object: a cycle through
            # it would leave the call to the garbage collector, whose run of grpc's
            # finalizer at interpreter exit can deadlock on the call's lock (the chrono
            # command hung after its last update in 1 of 10 runs).
            self._timer = threading.Timer(limit, _cancel, (call, self._fired))
            self._timer.daemon = True
            self._timer.start()

    @property
    def fired(self) -> bool:
        """Whether the limit passed and the call was cancelled."""
        return self._fired.is_set()

    def cancel(self) -> None:
        """Let the call run on: its first update came (or it ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _cancel(call: grpc.Call, fired: threading.Event) -> None:
    fired.set()
    call.cancel()


class TimeClient(_Client):
    """A blocking client of chrono.time.v1.TimeService."""

    service = _common.TIME_SERVICE

    @cached_property
    def _stub(self) -> time_grpc.TimeServiceStub:
        return time_grpc.TimeServiceStub(self._channel)

    def get_time(
        self, time_zone: str = "", *, timeout: float | None = None
    ) -> time_pb.GetTimeResponse:
        """The current time in the IANA zone ``time_zone`` (empty: UTC).

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _common.get_time_request(time_zone)
        return self._stub.GetTime(request, **self._policy.unary(timeout))

    def watch_time(
        self,
        time_zone: str = "",
        interval: timedelta | None = None,
        max_updates: int = 0,
        *,
        timeout: float | None = None,
        reconnect: bool = True,
    ) -> Generator[time_pb.WatchTimeResponse, None, None]:
        """Updates of the time in ``time_zone``: one at once, then one every ``interval``.

        ``interval`` of None is 1 s; the server accepts 100 ms to 1 h. The iterator ends
        after ``max_updates`` updates, or never if it is 0. The call starts at once;
        updates are read as the iterator is consumed. Closing the iterator (or dropping
        it, or closing the client) cancels the call.

        With ``reconnect`` (the default), a stream that ends with UNAVAILABLE after the
        first update (a server draining or lost) is reopened, on any server of the
        target, and the watch goes on; an update of an interval already delivered is
        dropped and ``max_updates`` counts across streams. It fails after 5 reopens in a
        row fail; see :class:`client._watch.WatchResume`. Without it, the error is raised.

        Deadline: with no ``timeout``, a bounded watch gets ``interval * max_updates``
        plus the client's timeout, enough for every update to arrive; an unbounded one
        gets no deadline at all, because any deadline would cut a healthy watch off at
        that moment. Pass ``timeout`` to bound the whole watch yourself, reopens included.
        Either way, each stream's first update (connecting included) must come within the
        client's timeout; when the first stream's does not, the watch fails with
        DEADLINE_EXCEEDED.
        """
        resume = WatchResume(
            self._policy, time_zone, interval, max_updates, timeout, reconnect=reconnect
        )
        call = self._open_watch(resume)

        def updates() -> Generator[time_pb.WatchTimeResponse, None, None]:
            nonlocal call
            try:
                while True:
                    limit = _FirstUpdateLimit(call, resume.first_update_limit())
                    try:
                        for update in call:
                            limit.cancel()
                            if resume.accept(update):
                                yield update
                                if resume.done:
                                    return
                        return
                    except grpc.RpcError as error:
                        delay = resume.reopen_delay(None if limit.fired else error)
                        if delay is None:
                            raise resume.failure() from None
                    finally:
                        limit.cancel()
                    time.sleep(delay)
                    call = self._open_watch(resume)
            finally:
                call.cancel()

        return updates()

    def _open_watch(self, resume: WatchResume) -> grpc._CallIterator[time_pb.WatchTimeResponse]:
        request, settings = resume.call()
        return self._stub.WatchTime(request, **settings)

    def list_time_zones(
        self, page_size: int = 0, page_token: str = "", *, timeout: float | None = None
    ) -> time_pb.ListTimeZonesResponse:
        """One page of the zone names the server knows; ``page_size`` 0 means all (1000)."""
        request = _common.list_time_zones_request(page_size, page_token)
        return self._stub.ListTimeZones(request, **self._policy.unary(timeout))

    def list_all_time_zones(
        self, page_size: int = 0, *, timeout: float | None = None
    ) -> time_pb.ListTimeZonesResponse:
        """Every zone name, fetching page after page: one response with no next page token.

        ``timeout`` applies to each page's call.
        """
        everything = time_pb.ListTimeZonesResponse()
        more = True
        while more:
            page = self.list_time_zones(page_size, everything.next_page_token, timeout=timeout)
            more = _common.add_page(everything, page)
        return everything


class DateClient(_Client):
    """A blocking client of chrono.date.v1.DateService."""

    service = _common.DATE_SERVICE

    @cached_property
    def _stub(self) -> date_grpc.DateServiceStub:
        return date_grpc.DateServiceStub(self._channel)

    def get_date(
        self, time_zone: str = "", *, timeout: float | None = None
    ) -> date_pb.GetDateResponse:
        """The current date in the IANA zone ``time_zone`` (empty: UTC), with calendar facts.

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _common.get_date_request(time_zone)
        return self._stub.GetDate(request, **self._policy.unary(timeout))
