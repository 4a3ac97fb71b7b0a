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
from collections.abc import Generator, Sequence
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


class _Client(_common.ClientBase[grpc.Channel]):
    """A blocking client: one channel, closed by :meth:`close` or leaving a ``with`` block."""

    def _open_channel(self, target: str, options: _common.ChannelOptions) -> grpc.Channel:
        if target.startswith("etcd://"):
            # Imported here: only a client of an etcd target loads the etcd client.
            from client._etcd_sync import discovered_channel

            return discovered_channel(self, target, options, super()._open_channel)
        return super()._open_channel(target, options)

    def _insecure_channel(self, target: str, options: _common.ChannelOptions) -> grpc.Channel:
        return _tracing.traced_channel(grpc.insecure_channel(target, options=options))

    def _secure_channel(
        self, target: str, credentials: grpc.ChannelCredentials, options: _common.ChannelOptions
    ) -> grpc.Channel:
        return _tracing.traced_channel(grpc.secure_channel(target, credentials, options=options))

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
        """Close the channels, cancelling calls still in progress; export the calls' spans."""
        logger.debug("closing the channel to %s", self.target)
        self._channel.close()
        if self._probe is not None:
            self._probe.close()
        _tracing.flush()

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

    def convert_time(
        self,
        source: datetime,
        time_zones: Sequence[str] = (),
        *,
        time_zone: str | None = None,
        utc_offset: timedelta | None = None,
        disambiguation: _requests.Disambiguation = time_pb.DISAMBIGUATION_COMPATIBLE,
        timeout: float | None = None,
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
        return self._stub.ConvertTime(request, **self._policy.unary(timeout))

    def get_time_zone(self, time_zone: str, *, timeout: float | None = None) -> time_pb.TimeZone:
        """What the server knows of ``time_zone``: its canonical name, offsets, transitions."""
        request = time_pb.GetTimeZoneRequest(time_zone=time_zone)
        return self._stub.GetTimeZone(request, **self._policy.unary(timeout))

    def list_time_zone_transitions(
        self,
        time_zone: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
    ) -> time_pb.ListTimeZoneTransitionsResponse:
        """One page of ``time_zone``'s transitions, oldest first.

        From ``start_time`` (None: now) to ``end_time`` (None: a year later), both aware.
        """
        request = _requests.transitions_request(
            time_zone, start_time, end_time, page_size, page_token
        )
        return self._stub.ListTimeZoneTransitions(request, **self._policy.unary(timeout))

    def read_clock(self, *, timeout: float | None = None) -> time_pb.ReadClockResponse:
        """One clock sample: the server's receive and transmit times and its error bound."""
        request = _clock.request(time.time_ns())
        return self._stub.ReadClock(request, **self._policy.unary(timeout))

    def estimate_offset(
        self, samples: int = 8, *, timeout: float | None = None
    ) -> _offset.OffsetEstimate:
        """The server's clock minus this host's, from ``samples`` ReadClock calls (NTP).

        The sample with the shortest round trip wins. The estimate keeps two bounds
        apart: ``measurement_bound`` (how well the two clocks were compared) and
        ``true_time_bound`` (that plus the server's own error against UTC; None when the
        server does not know it). ``timeout`` applies to each call.
        """
        taken = [self._sample(timeout) for _ in range(_clock.check_samples(samples))]
        return _clock.estimate_from(taken)

    def _sample(self, timeout: float | None) -> _clock.Reading:
        sent = (time.time_ns(), time.monotonic_ns())
        request = _clock.request(sent[0])
        response = self._stub.ReadClock(request, **self._policy.unary(timeout))
        return _clock.Reading(sent, response, (time.time_ns(), time.monotonic_ns()))

    def now_interval(
        self, estimate: _offset.OffsetEstimate | None = None
    ) -> tuple[datetime, datetime]:
        """(earliest, latest) for true time now, TrueTime-style, from ``estimate``.

        With no estimate, one is taken first. See :func:`client._offset.now_interval`.
        """
        return _offset.now_interval(estimate or self.estimate_offset())


class DateClient(_Client):
    """A blocking client of chrono.date.v1.DateService."""

    service = _common.DATE_SERVICE

    @cached_property
    def _stub(self) -> date_grpc.DateServiceStub:
        return date_grpc.DateServiceStub(self._channel)

    def __init__(self, target: str, *, token: str | None = None, **options: Any) -> None:
        """Open a channel to ``target`` (see :class:`client.TimeClient`).

        ``token`` is the bearer token sent with writes (CreateCalendar, UpdateCalendar,
        DeleteCalendar); reads need none.
        """
        super().__init__(target, **options)
        self._writes = _requests.bearer(token)

    def get_date(
        self, time_zone: str = "", *, day: date | None = None, timeout: float | None = None
    ) -> date_pb.GetDateResponse:
        """The facts of ``day``, or of the current date in ``time_zone`` (empty: UTC).

        ``timeout`` is the deadline in seconds; None means the client's default.
        """
        request = _requests.get_date_request(time_zone, day)
        return self._stub.GetDate(request, **self._policy.unary(timeout))

    def add_period(
        self,
        start: date,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        overflow: _requests.Overflow = date_pb.OVERFLOW_CLAMP,
        timeout: float | None = None,
    ) -> date_pb.AddPeriodResponse:
        """``start`` plus a period: years and months first (clamped), then weeks and days."""
        request = _requests.add_period_request(start, years, months, weeks, days, overflow)
        return self._stub.AddPeriod(request, **self._policy.unary(timeout))

    def diff_dates(
        self, start: date, end: date, *, timeout: float | None = None
    ) -> date_pb.DiffDatesResponse:
        """The period from ``start`` to ``end`` in years, months and days, and in days."""
        request = _requests.diff_dates_request(start, end)
        return self._stub.DiffDates(request, **self._policy.unary(timeout))

    def is_business_day(
        self, calendar: str, day: date, *, timeout: float | None = None
    ) -> date_pb.IsBusinessDayResponse:
        """Whether ``day`` is a business day on ``calendar`` (``US``, ``calendars/XNYS``...)."""
        request = date_pb.IsBusinessDayRequest(
            calendar=_requests.calendar_name(calendar), date=_requests.date_message(day)
        )
        return self._stub.IsBusinessDay(request, **self._policy.unary(timeout))

    def adjust_to_business_day(
        self,
        calendar: str,
        day: date,
        convention: _requests.Convention = date_pb.BUSINESS_DAY_CONVENTION_FOLLOWING,
        *,
        timeout: float | None = None,
    ) -> date_pb.AdjustToBusinessDayResponse:
        """``day`` if it is a business day on ``calendar``, else the one ``convention`` gives."""
        request = date_pb.AdjustToBusinessDayRequest(
            calendar=_requests.calendar_name(calendar),
            date=_requests.date_message(day),
            convention=convention,
        )
        return self._stub.AdjustToBusinessDay(request, **self._policy.unary(timeout))

    def add_business_days(
        self, calendar: str, day: date, days: int, *, timeout: float | None = None
    ) -> date_pb.AddBusinessDaysResponse:
        """The business day ``days`` business days after (before, if negative) ``day``."""
        request = date_pb.AddBusinessDaysRequest(
            calendar=_requests.calendar_name(calendar),
            date=_requests.date_message(day),
            days=days,
        )
        return self._stub.AddBusinessDays(request, **self._policy.unary(timeout))

    def count_business_days(
        self, calendar: str, start: date, end: date, *, timeout: float | None = None
    ) -> date_pb.CountBusinessDaysResponse:
        """Business days from ``start`` (counted) to ``end`` (not counted)."""
        request = date_pb.CountBusinessDaysRequest(
            calendar=_requests.calendar_name(calendar),
            start_date=_requests.date_message(start),
            end_date=_requests.date_message(end),
        )
        return self._stub.CountBusinessDays(request, **self._policy.unary(timeout))

    def list_holidays(
        self,
        calendar: str,
        start: date,
        end: date,
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
    ) -> date_pb.ListHolidaysResponse:
        """One page of ``calendar``'s holidays from ``start`` to ``end``, both included."""
        request = _requests.list_holidays_request(calendar, start, end, page_size, page_token)
        return self._stub.ListHolidays(request, **self._policy.unary(timeout))

    def create_calendar(
        self,
        calendar_id: str,
        calendar: date_pb.Calendar,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> date_pb.Calendar:
        """Store ``calendar`` as ``calendars/{calendar_id}``; never retried by the client.

        ``request_id`` (made up when None) lets a caller retry the create itself safely.
        """
        request = _requests.create_calendar_request(calendar_id, calendar, request_id)
        return self._stub.CreateCalendar(
            request, metadata=self._writes, **self._policy.unary(timeout)
        )

    def get_calendar(self, name: str, *, timeout: float | None = None) -> date_pb.Calendar:
        """The calendar ``name`` (``calendars/US``, or a custom calendar's id or name)."""
        request = date_pb.GetCalendarRequest(name=_requests.calendar_name(name))
        return self._stub.GetCalendar(request, **self._policy.unary(timeout))

    def list_calendars(
        self, page_size: int = 0, page_token: str = "", *, timeout: float | None = None
    ) -> date_pb.ListCalendarsResponse:
        """One page of calendars: built-in ones first, then custom ones."""
        request = date_pb.ListCalendarsRequest(page_size=page_size, page_token=page_token)
        return self._stub.ListCalendars(request, **self._policy.unary(timeout))

    def update_calendar(
        self,
        calendar: date_pb.Calendar,
        update_mask: Sequence[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> date_pb.Calendar:
        """Change the fields ``update_mask`` names (None: those ``calendar`` sets) of its name.

        A non-empty ``calendar.etag`` makes the change conditional: ABORTED if the
        calendar changed since that etag was read.
        """
        request = _requests.update_calendar_request(calendar, update_mask)
        return self._stub.UpdateCalendar(
            request, metadata=self._writes, **self._policy.unary(timeout)
        )

    def delete_calendar(self, name: str, etag: str = "", *, timeout: float | None = None) -> None:
        """Delete the custom calendar ``name``; with ``etag``, only if it is still current."""
        request = date_pb.DeleteCalendarRequest(name=_requests.calendar_name(name), etag=etag)
        self._stub.DeleteCalendar(request, metadata=self._writes, **self._policy.unary(timeout))
