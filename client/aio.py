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
import time
from collections.abc import AsyncGenerator, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Self

import grpc
from grpc_health.v1 import health_pb2

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.date.v1 import date_service_pb2_grpc as date_grpc
from chrono.time.v1 import time_service_pb2 as time_pb
from chrono.time.v1 import time_service_pb2_grpc as time_grpc
from client import _clock, _common, _offset, _requests, _tracing
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

    def _open_channel(self, target: str, options: _common.ChannelOptions) -> grpc.aio.Channel:
        if target.startswith("etcd://"):
            # Imported here: only a client of an etcd target loads the etcd client.
            from client._etcd_aio import discovered_channel

            return discovered_channel(self, target, options, super()._open_channel)
        return super()._open_channel(target, options)

    def _insecure_channel(self, target: str, options: _common.ChannelOptions) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(
            target, options=options, interceptors=_tracing.aio_interceptors()
        )

    def _secure_channel(
        self, target: str, credentials: grpc.ChannelCredentials, options: _common.ChannelOptions
    ) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            target, credentials, options=options, interceptors=_tracing.aio_interceptors()
        )

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
        """Close the channels, cancelling calls still in progress; export the calls' spans."""
        logger.debug("closing the channel to %s", self.target)
        await self._channel.close()
        if self._probe is not None:
            await self._probe.close()
        if _tracing.flushes():
            await asyncio.to_thread(_tracing.flush)

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

    async def convert_time(
        self,
        source: datetime,
        time_zones: Sequence[str] = (),
        *,
        time_zone: str | None = None,
        utc_offset: timedelta | None = None,
        disambiguation: _requests.Disambiguation = time_pb.DISAMBIGUATION_COMPATIBLE,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.ConvertTimeResponse:
        """``source`` on the wall clocks of ``time_zones`` (empty: UTC).

        An aware ``source`` is an instant; a naive one is a civil time in the IANA zone
        ``time_zone`` or at ``utc_offset`` (exactly one), resolved by ``disambiguation``
        when daylight saving time skipped or repeated it. The response says which case it
        was (``local_time_kind``) and the instants it could mean (``candidate_times``).
        """
        request = _requests.convert_time_request(
            source,
            time_zones,
            time_zone=time_zone,
            utc_offset=utc_offset,
            disambiguation=disambiguation,
        )
        return await self._stub.ConvertTime(request, **self._policy.unary(timeout))

    async def get_time_zone(
        self,
        time_zone: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.TimeZone:
        """What the server knows of ``time_zone``: its canonical name, offsets, transitions."""
        request = time_pb.GetTimeZoneRequest(time_zone=time_zone)
        return await self._stub.GetTimeZone(request, **self._policy.unary(timeout))

    async def list_time_zone_transitions(
        self,
        time_zone: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.ListTimeZoneTransitionsResponse:
        """One page of ``time_zone``'s transitions, oldest first.

        From ``start_time`` (None: now) to ``end_time`` (None: a year later), both aware.
        """
        request = _requests.transitions_request(
            time_zone, start_time, end_time, page_size, page_token
        )
        return await self._stub.ListTimeZoneTransitions(request, **self._policy.unary(timeout))

    async def read_clock(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> time_pb.ReadClockResponse:
        """One clock sample: the server's receive and transmit times and its error bound."""
        request = _clock.request(time.time_ns())
        return await self._stub.ReadClock(request, **self._policy.unary(timeout))

    async def estimate_offset(
        self,
        samples: int = 8,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> _offset.OffsetEstimate:
        """The server's clock minus this host's, from ``samples`` ReadClock calls (NTP).

        The sample with the shortest round trip wins. The estimate keeps two bounds
        apart: ``measurement_bound`` (how well the two clocks were compared) and
        ``true_time_bound`` (that plus the server's own error against UTC; None when the
        server does not know it). ``timeout`` applies to each call.
        """
        taken = [await self._sample(timeout) for _ in range(_clock.check_samples(samples))]
        return _clock.estimate_from(taken)

    async def _sample(self, timeout: float | None) -> _clock.Reading:  # noqa: ASYNC109
        sent = (time.time_ns(), time.monotonic_ns())
        request = _clock.request(sent[0])
        response = await self._stub.ReadClock(request, **self._policy.unary(timeout))
        return _clock.Reading(sent, response, (time.time_ns(), time.monotonic_ns()))

    async def now_interval(
        self, estimate: _offset.OffsetEstimate | None = None
    ) -> tuple[datetime, datetime]:
        """(earliest, latest) for true time now, TrueTime-style, from ``estimate``.

        With no estimate, one is taken first. See :func:`client._offset.now_interval`.
        """
        return _offset.now_interval(estimate or await self.estimate_offset())


class AsyncDateClient(_AsyncClient):
    """An asyncio client of chrono.date.v1.DateService; see :class:`client.DateClient`."""

    service = _common.DATE_SERVICE

    @cached_property
    def _stub(self) -> date_grpc.DateServiceAsyncStub:
        return date_grpc.DateServiceStub(self._channel)

    def __init__(self, target: str, *, token: str | None = None, **options: Any) -> None:
        """Open a channel to ``target`` (see :class:`client.TimeClient`).

        ``token`` is the bearer token sent with writes (CreateCalendar, UpdateCalendar,
        DeleteCalendar); reads need none.
        """
        super().__init__(target, **options)
        self._writes = _requests.bearer(token)

    async def get_date(
        self,
        time_zone: str = "",
        *,
        day: date | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.GetDateResponse:
        """The facts of ``day``, or of the current date in ``time_zone`` (empty: UTC).

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _requests.get_date_request(time_zone, day)
        return await self._stub.GetDate(request, **self._policy.unary(timeout))

    async def add_period(
        self,
        start: date,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        overflow: _requests.Overflow = date_pb.OVERFLOW_CLAMP,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.AddPeriodResponse:
        """``start`` plus a period: years and months first (clamped), then weeks and days."""
        request = _requests.add_period_request(start, years, months, weeks, days, overflow)
        return await self._stub.AddPeriod(request, **self._policy.unary(timeout))

    async def diff_dates(
        self,
        start: date,
        end: date,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.DiffDatesResponse:
        """The period from ``start`` to ``end`` in years, months and days, and in days."""
        request = _requests.diff_dates_request(start, end)
        return await self._stub.DiffDates(request, **self._policy.unary(timeout))

    async def is_business_day(
        self,
        calendar: str,
        day: date,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.IsBusinessDayResponse:
        """Whether ``day`` is a business day on ``calendar`` (``US``, ``calendars/XNYS``...)."""
        request = date_pb.IsBusinessDayRequest(
            calendar=_requests.calendar_name(calendar), date=_requests.date_message(day)
        )
        return await self._stub.IsBusinessDay(request, **self._policy.unary(timeout))

    async def adjust_to_business_day(
        self,
        calendar: str,
        day: date,
        convention: _requests.Convention = date_pb.BUSINESS_DAY_CONVENTION_FOLLOWING,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.AdjustToBusinessDayResponse:
        """``day`` if it is a business day on ``calendar``, else the one ``convention`` gives."""
        request = date_pb.AdjustToBusinessDayRequest(
            calendar=_requests.calendar_name(calendar),
            date=_requests.date_message(day),
            convention=convention,
        )
        return await self._stub.AdjustToBusinessDay(request, **self._policy.unary(timeout))

    async def add_business_days(
        self,
        calendar: str,
        day: date,
        days: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.AddBusinessDaysResponse:
        """The business day ``days`` business days after (before, if negative) ``day``."""
        request = date_pb.AddBusinessDaysRequest(
            calendar=_requests.calendar_name(calendar),
            date=_requests.date_message(day),
            days=days,
        )
        return await self._stub.AddBusinessDays(request, **self._policy.unary(timeout))

    async def count_business_days(
        self,
        calendar: str,
        start: date,
        end: date,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.CountBusinessDaysResponse:
        """Business days from ``start`` (counted) to ``end`` (not counted)."""
        request = date_pb.CountBusinessDaysRequest(
            calendar=_requests.calendar_name(calendar),
            start_date=_requests.date_message(start),
            end_date=_requests.date_message(end),
        )
        return await self._stub.CountBusinessDays(request, **self._policy.unary(timeout))

    async def list_holidays(
        self,
        calendar: str,
        start: date,
        end: date,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.ListHolidaysResponse:
        """One page of ``calendar``'s holidays from ``start`` to ``end``, both included."""
        request = _requests.list_holidays_request(calendar, start, end, page_size, page_token)
        return await self._stub.ListHolidays(request, **self._policy.unary(timeout))

    async def create_calendar(
        self,
        calendar_id: str,
        calendar: date_pb.Calendar,
        *,
        request_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.Calendar:
        """Store ``calendar`` as ``calendars/{calendar_id}``; never retried by the client.

        ``request_id`` (made up when None) lets a caller retry the create itself safely.
        """
        request = _requests.create_calendar_request(calendar_id, calendar, request_id)
        return await self._stub.CreateCalendar(
            request, metadata=self._writes, **self._policy.unary(timeout)
        )

    async def get_calendar(
        self,
        name: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.Calendar:
        """The calendar ``name`` (``calendars/US``, or a custom calendar's id or name)."""
        request = date_pb.GetCalendarRequest(name=_requests.calendar_name(name))
        return await self._stub.GetCalendar(request, **self._policy.unary(timeout))

    async def list_calendars(
        self,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.ListCalendarsResponse:
        """One page of calendars: built-in ones first, then custom ones."""
        request = date_pb.ListCalendarsRequest(page_size=page_size, page_token=page_token)
        return await self._stub.ListCalendars(request, **self._policy.unary(timeout))

    async def update_calendar(
        self,
        calendar: date_pb.Calendar,
        update_mask: Sequence[str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> date_pb.Calendar:
        """Change the fields ``update_mask`` names (None: those ``calendar`` sets) of its name.

        A non-empty ``calendar.etag`` makes the change conditional: ABORTED if the
        calendar changed since that etag was read.
        """
        request = _requests.update_calendar_request(calendar, update_mask)
        return await self._stub.UpdateCalendar(
            request, metadata=self._writes, **self._policy.unary(timeout)
        )

    async def delete_calendar(
        self,
        name: str,
        etag: str = "",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Delete the custom calendar ``name``; with ``etag``, only if it is still current."""
        request = date_pb.DeleteCalendarRequest(name=_requests.calendar_name(name), etag=etag)
        await self._stub.DeleteCalendar(
            request, metadata=self._writes, **self._policy.unary(timeout)
        )
