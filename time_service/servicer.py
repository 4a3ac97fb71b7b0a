"""TimeService: the time now or at every tick in an IANA zone, and the other answers.

Conversions, zones, transitions and the clock with its error bound are built by
:mod:`time_service.answers`; this module keeps what needs the call or a cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_domain import paging, transitions
from chrono_domain.civil import zoned
from chrono_domain.errors import InvalidArgumentError
from chrono_domain.kernel_clock import read_kernel_clock
from chrono_server.errors import shutting_down
from chrono_server.spec import Resources
from time_service import answers
from time_service.ticks import Ticker
from time_service.watches import WatchLimit

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

MIN_INTERVAL = timedelta(milliseconds=100)
MAX_INTERVAL = timedelta(hours=1)
DEFAULT_INTERVAL = timedelta(seconds=1)
MAX_PAGE_SIZE = 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def fill_time(
    message: pb.GetTimeResponse | pb.WatchTimeResponse, instant: datetime, zone: ZoneInfo
) -> None:
    """Write the fields GetTimeResponse and WatchTimeResponse share, for ``instant`` in ``zone``."""
    set_timestamp(message, instant)
    fill_civil(message, instant, zone)


def set_timestamp(message: pb.GetTimeResponse | pb.WatchTimeResponse, instant: datetime) -> None:
    """Set ``current_time`` to ``instant`` (aware), to the microsecond."""
    answers.set_instant(message.current_time, instant)


def fill_civil(
    message: pb.GetTimeResponse | pb.WatchTimeResponse, instant: datetime, zone: ZoneInfo
) -> None:
    """Write what ``zone``'s wall clock shows at ``instant``: every field but current_time."""
    facts = zoned(instant, zone)
    message.time_zone = zone.key
    message.formatted = facts.formatted
    message.utc_offset.FromTimedelta(facts.utc_offset)
    message.abbreviation = facts.abbreviation
    message.dst = facts.dst
    message.dst_offset.FromTimedelta(facts.dst_offset)


def _interval(request: pb.WatchTimeRequest) -> float:
    if not request.HasField("interval"):
        return DEFAULT_INTERVAL.total_seconds()
    # Compared as plain seconds: a Duration can hold far more than a timedelta.
    seconds = request.interval.seconds + request.interval.nanos / 1e9
    if not MIN_INTERVAL.total_seconds() <= seconds <= MAX_INTERVAL.total_seconds():
        raise InvalidArgumentError(
            "interval",
            f"interval must be between 0.1s and 3600s, not {seconds:g}s",
            "INTERVAL_OUT_OF_RANGE",
        )
    return seconds


class TimeServicer(pb_grpc.TimeServiceServicer):
    """Answers TimeService calls from the shared zone database and the system clock."""

    def __init__(self, resources: Resources) -> None:
        """Serve from ``resources``, reading its clock."""
        self._zones = resources.zones
        self._clock = resources.clock
        self._watches = WatchLimit(resources.options.max_watches, resources.registry)
        self._ticker = Ticker(resources.draining)
        # GetTime's answer but for current_time, per zone, with the second it is for.
        self._civil: dict[str, tuple[int, pb.GetTimeResponse]] = {}
        # Watches that tick together in one zone get the same message.
        self._cached_tick = 0.0
        self._cached: dict[str, pb.WatchTimeResponse] = {}
        # GetTimeZone's answer changes only at the zone's transitions: per zone, the
        # answer with the span [previous transition, next transition) it holds for.
        self._described: dict[str, tuple[datetime, datetime, pb.TimeZone]] = {}

    def _tick_response(self, tick: float, zone: ZoneInfo) -> pb.WatchTimeResponse:
        """The update for ``tick`` in ``zone``, built once for all the watches that share it."""
        if tick != self._cached_tick:
            self._cached_tick = tick
            self._cached.clear()
        response = self._cached.get(zone.key)
        if response is None:
            response = self._cached[zone.key] = pb.WatchTimeResponse()
            fill_time(response, self._clock(), zone)
        return response

    @property
    def open_watches(self) -> int:
        """How many WatchTime streams are open now."""
        return self._watches.open

    async def GetTime(self, request: pb.GetTimeRequest, context: Context) -> pb.GetTimeResponse:
        """Return the current time in the requested zone."""
        zone = self._zones.resolve(request.time_zone)
        now = self._clock()
        second = (now - _EPOCH) // _SECOND
        cached = self._civil.get(zone.key)
        if cached is None or cached[0] != second:
            # A zone's wall clock fields change only at whole seconds (its transitions
            # are whole seconds too): built once a second per zone, copied for each call.
            template = pb.GetTimeResponse()
            fill_civil(template, now, zone)
            cached = self._civil[zone.key] = (second, template)
        response = pb.GetTimeResponse()
        response.CopyFrom(cached[1])
        set_timestamp(response, now)
        return response

    async def WatchTime(
        self, request: pb.WatchTimeRequest, context: Context
    ) -> AsyncIterator[pb.WatchTimeResponse]:
        """Stream the time now, then on every multiple of the interval since the epoch."""
        zone = self._zones.resolve(request.time_zone)
        interval = _interval(request)
        if request.max_updates < 0:
            raise InvalidArgumentError(
                "max_updates",
                f"max_updates must be zero (no limit) or more, not {request.max_updates}",
                "MAX_UPDATES_NEGATIVE",
            )
        self._watches.acquire()
        try:
            response = pb.WatchTimeResponse()
            fill_time(response, self._clock(), zone)
            sent = 0
            while True:
                yield response
                sent += 1
                if sent == request.max_updates:
                    return
                tick = await self._ticker.wait(interval)
                if tick is None:
                    raise shutting_down("reconnect to continue the watch")
                response = self._tick_response(tick, zone)
        finally:
            self._watches.release()

    async def ListTimeZones(
        self, request: pb.ListTimeZonesRequest, context: Context
    ) -> pb.ListTimeZonesResponse:
        """Return one page of the known zone names, of one country or canonical if asked."""
        names = self._zones.names
        if request.country_code or request.canonical_only:
            names = self._zones.filter_names(request.country_code, request.canonical_only)
        found = paging.page(names, request.page_size, request.page_token, MAX_PAGE_SIZE)
        return pb.ListTimeZonesResponse(
            time_zones=found.items,
            next_page_token=found.next_page_token,
            tzdata_version=self._zones.version,
            total_size=found.total_size,
        )

    async def ConvertTime(
        self, request: pb.ConvertTimeRequest, context: Context
    ) -> pb.ConvertTimeResponse:
        """Return the instant the source means and the civil time in every target zone."""
        return answers.convert_time(request, self._zones)

    async def GetTimeZone(self, request: pb.GetTimeZoneRequest, context: Context) -> pb.TimeZone:
        """Describe the zone now: names, countries, offsets and the transitions around now."""
        zone = answers.required_zone(request.time_zone, self._zones)
        now = self._clock()
        cached = self._described.get(request.time_zone)
        if cached is None or not cached[0] <= now < cached[1]:
            previous = transitions.previous_transition(zone.key, now)
            following = transitions.next_transition(zone.key, now)
            answer = answers.describe_zone(
                request.time_zone, zone, now, self._zones, previous, following
            )
            cached = self._described[request.time_zone] = (
                previous.time if previous else _FIRST,
                following.time if following else _LAST,
                answer,
            )
        response = pb.TimeZone()
        response.CopyFrom(cached[2])
        return response

    async def ListTimeZoneTransitions(
        self, request: pb.ListTimeZoneTransitionsRequest, context: Context
    ) -> pb.ListTimeZoneTransitionsResponse:
        """Return one page of the zone's transitions in the span asked for."""
        zone = answers.required_zone(request.time_zone, self._zones)
        start, end = answers.transition_span(request, self._clock())
        found = list(transitions.transitions(zone.key, start, end))
        return answers.transitions_page(found, request, self._zones.version)

    async def ReadClock(
        self, request: pb.ReadClockRequest, context: Context
    ) -> pb.ReadClockResponse:
        """Return when the request came and when the answer left, with the clock's bound."""
        received = time.time_ns()
        response = answers.clock_answer(request, received, read_kernel_clock())
        answers.set_nanoseconds(response.transmit_time, time.time_ns())
        return response
