"""asyncio clients of TimeService and DateService, on grpc.aio.

Build a client inside the event loop that will use it (its channel belongs to that
loop). Every method raises :class:`grpc.RpcError` (a ``grpc.aio.AioRpcError``) when the
call fails, with the same codes as the blocking clients in :mod:`client.sync`. Calling a
closed client raises ``grpc.aio.UsageError``.

The methods take ``timeout`` (ruff's ASYNC109 notwithstanding) rather than leaving it to
``asyncio.timeout``: it is the gRPC deadline, which the server sees and honours too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
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

_WatchCall = grpc.aio.UnaryStreamCall[time_pb.WatchTimeRequest, time_pb.WatchTimeResponse]


async def _next_update(call: _WatchCall) -> time_pb.WatchTimeResponse | None:
    """The stream's next update; None at its end. Raises grpc.RpcError if it failed."""
    update = await call.read()
    return update if isinstance(update, time_pb.WatchTimeResponse) else None


async def _first_update(call: _WatchCall, limit: float | None) -> time_pb.WatchTimeResponse | None:
    """The stream's first update; TimeoutError (the call cancelled) after ``limit`` seconds."""
    if limit is None:
        return await _next_update(call)
    # Cancelling a pending read cancels the call.
    return await asyncio.wait_for(_next_update(call), limit)


class _AsyncClient(_common.ClientBase[grpc.aio.Channel]):
    """An asyncio client: one channel, closed by :meth:`close` or leaving ``async with``."""

    def _insecure_channel(self, target: str, options: _common.ChannelOptions) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(target, options=options)

    def _secure_channel(
        self, target: str, credentials: grpc.ChannelCredentials, options: _common.ChannelOptions
    ) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(target, credentials, options=options)

    async def check_health(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> health_pb2.HealthCheckResponse:
        """The server's grpc.health.v1 status for this client's service.

        See :meth:`client.TimeClient.check_health`.
        """
        check = self._health_channel.unary_unary(
            _common.HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        request = _common.health_check_request(self.service.full_name)
        return await check(request, **self._policy.unary(timeout))

    async def close(self) -> None:
        """Close the channels, cancelling calls still in progress."""
        logger.debug("closing the channel to %s", self.target)
        await self._channel.close()
        if self._probe is not None:
            await self._probe.close()

    async def __aenter__(self) -> Self:
        """Use the client in an ``async with`` block, which closes it at the end."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client."""
        await self.close()


class AsyncTimeClient(_AsyncClient):
    """An asyncio client of chrono.time.v1.TimeService; see :class:`client.TimeClient`."""

    service = _common.TIME_SERVICE

    @cached_property
    def _stub(self) -> time_grpc.TimeServiceAsyncStub:
        return time_grpc.TimeServiceStub(self._channel)

    async def get_time(
        self,
        time_zone: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.GetTimeResponse:
        """The current time in the IANA zone ``time_zone`` (empty: UTC).

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _common.get_time_request(time_zone)
        return await self._stub.GetTime(request, **self._policy.unary(timeout))

    def watch_time(
        self,
        time_zone: str = "",
        interval: timedelta | None = None,
        max_updates: int = 0,
        *,
        timeout: float | None = None,
        reconnect: bool = True,
    ) -> AsyncGenerator[time_pb.WatchTimeResponse, None]:
        """Updates of the time in ``time_zone``: one at once, then one every ``interval``.

        Use it with ``async for`` (it is not awaited). The rules for ``interval``,
        ``max_updates``, ``reconnect`` and the deadline are those of
        :meth:`client.TimeClient.watch_time`: an unbounded watch has no deadline unless
        ``timeout`` is given, because any deadline would cut a healthy watch off, but each
        stream's first update must come within the client's timeout.
        ``aclose()`` on the iterator (or closing the client) cancels the call.
        """
        resume = WatchResume(
            self._policy, time_zone, interval, max_updates, timeout, reconnect=reconnect
        )
        call = self._open_watch(resume)

        async def updates() -> AsyncGenerator[time_pb.WatchTimeResponse, None]:
            nonlocal call
            try:
                while True:
                    try:
                        update = await _first_update(call, resume.first_update_limit())
                        while update is not None:
                            if resume.accept(update):
                                yield update
                                if resume.done:
                                    return
                            update = await _next_update(call)
                        return
                    except (grpc.RpcError, TimeoutError) as error:
                        failed = error if isinstance(error, grpc.RpcError) else None
                        delay = resume.reopen_delay(failed)
                        if delay is None:
                            raise resume.failure() from None
                    await asyncio.sleep(delay)
                    call = self._open_watch(resume)
            finally:
                call.cancel()

        return updates()

    def _open_watch(self, resume: WatchResume) -> _WatchCall:
        request, settings = resume.call()
        return self._stub.WatchTime(request, **settings)

    async def list_time_zones(
        self,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.ListTimeZonesResponse:
        """One page of the zone names the server knows; ``page_size`` 0 means all (1000)."""
        request = _common.list_time_zones_request(page_size, page_token)
        return await self._stub.ListTimeZones(request, **self._policy.unary(timeout))

    async def list_all_time_zones(
        self,
        page_size: int = 0,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.ListTimeZonesResponse:
        """Every zone name, fetching page after page: one response with no next page token.

        ``timeout`` applies to each page's call.
        """
        everything = time_pb.ListTimeZonesResponse()
        more = True
        while more:
            page = await self.list_time_zones(
                page_size, everything.next_page_token, timeout=timeout
            )
            more = _common.add_page(everything, page)
        return everything


class AsyncDateClient(_AsyncClient):
    """An asyncio client of chrono.date.v1.DateService; see :class:`client.DateClient`."""

    service = _common.DATE_SERVICE

    @cached_property
    def _stub(self) -> date_grpc.DateServiceAsyncStub:
        return date_grpc.DateServiceStub(self._channel)

    async def get_date(
        self,
        time_zone: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.GetDateResponse:
        """The current date in the IANA zone ``time_zone`` (empty: UTC), with calendar facts.

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _common.get_date_request(time_zone)
        return await self._stub.GetDate(request, **self._policy.unary(timeout))
