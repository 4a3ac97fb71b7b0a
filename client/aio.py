"""asyncio clients of TimeService and DateService, on grpc.aio.

Build a client inside the event loop that will use it (its channel belongs to that
loop). Every method raises :class:`grpc.RpcError` (a ``grpc.aio.AioRpcError``) when the
call fails, with the same codes as the blocking clients in :mod:`client.sync`. Calling a
closed client raises ``grpc.aio.UsageError``.

The methods take ``timeout`` (ruff's ASYNC109 notwithstanding) rather than leaving it to
``asyncio.timeout``: it is the gRPC deadline, which the server sees and honours too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from functools import cached_property
from typing import Self

import grpc

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.date.v1 import date_service_pb2_grpc as date_grpc
from chrono.time.v1 import time_service_pb2 as time_pb
from chrono.time.v1 import time_service_pb2_grpc as time_grpc
from client import _common

logger = logging.getLogger(__name__)


class _AsyncClient(_common.ClientBase[grpc.aio.Channel]):
    """An asyncio client: one channel, closed by :meth:`close` or leaving ``async with``."""

    def _open_channel(self, target: str, options: _common.ChannelOptions) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(target, options=options)

    async def close(self) -> None:
        """Close the channel, cancelling calls still in progress."""
        logger.debug("closing the channel to %s", self.target)
        await self._channel.close()

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
    ) -> AsyncGenerator[time_pb.WatchTimeResponse, None]:
        """Updates of the time in ``time_zone``: one at once, then one every ``interval``.

        Use it with ``async for`` (it is not awaited). The rules for ``interval``,
        ``max_updates`` and the deadline are those of :meth:`client.TimeClient.watch_time`:
        an unbounded watch has no deadline unless ``timeout`` is given, because any
        deadline would cut a healthy watch off. ``aclose()`` on the iterator (or closing
        the client) cancels the call.
        """
        request = _common.watch_time_request(time_zone, interval, max_updates)
        call = self._stub.WatchTime(request, **self._policy.watch(interval, max_updates, timeout))

        async def updates() -> AsyncGenerator[time_pb.WatchTimeResponse, None]:
            try:
                async for update in call:
                    yield update
            finally:
                call.cancel()

        return updates()

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
