"""TimeService: what the time is, now or at every tick, in an IANA time zone."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.app import Shared
from chrono_server.clock import utc_now
from chrono_server.errors import InvalidArgumentError, shorten
from time_service.ticks import Ticker

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

MIN_INTERVAL = timedelta(milliseconds=100)
MAX_INTERVAL = timedelta(hours=1)
DEFAULT_INTERVAL = timedelta(seconds=1)
MAX_PAGE_SIZE = 1000


def fill_time(
    message: pb.GetTimeResponse | pb.WatchTimeResponse, instant: datetime, zone: ZoneInfo
) -> None:
    """Write the fields GetTimeResponse and WatchTimeResponse share, for ``instant`` in ``zone``."""
    local = instant.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    dst = local.dst() or timedelta(0)
    message.current_time.FromDatetime(instant)
    message.time_zone = zone.key
    message.formatted = f"{local:%Y-%m-%d %H:%M:%S}"
    message.utc_offset.FromTimedelta(offset)
    message.abbreviation = local.tzname() or ""
    message.dst = bool(dst)
    message.dst_offset.FromTimedelta(dst)


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


def _page_offset(token: str, total: int) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error):
        offset = -1
    if not 0 < offset < total:
        raise InvalidArgumentError(
            "page_token",
            f"page_token {shorten(token)} was not issued by this server; pass the "
            "next_page_token of a previous response, or empty for the first page",
            "INVALID_PAGE_TOKEN",
        )
    return offset


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode("ascii")).decode("ascii")


class TimeServicer(pb_grpc.TimeServiceServicer):
    """Answers TimeService calls from the shared zone database and the system clock."""

    def __init__(self, shared: Shared, clock: Callable[[], datetime] = utc_now) -> None:
        """Serve from ``shared``; ``clock`` returns the current instant (tests pin it)."""
        self._zones = shared.zones
        self._draining = shared.draining
        self._clock = clock
        self._watches = shared.watches
        self._ticker = Ticker(shared.draining)
        # Watches that tick together in one zone get the same message.
        self._cached_tick = 0.0
        self._cached: dict[str, pb.WatchTimeResponse] = {}

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
        response = pb.GetTimeResponse()
        fill_time(response, self._clock(), zone)
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
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        "the server is shutting down; reconnect to continue the watch",
                    )
                response = self._tick_response(tick, zone)
        finally:
            self._watches.release()

    async def ListTimeZones(
        self, request: pb.ListTimeZonesRequest, context: Context
    ) -> pb.ListTimeZonesResponse:
        """Return one page of the known zone names."""
        if request.page_size < 0:
            raise InvalidArgumentError(
                "page_size",
                f"page_size must be zero (the default, {MAX_PAGE_SIZE}) or more, "
                f"not {request.page_size}",
                "PAGE_SIZE_NEGATIVE",
            )
        names = self._zones.names
        size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        start = _page_offset(request.page_token, len(names))
        end = start + size
        return pb.ListTimeZonesResponse(
            time_zones=names[start:end],
            next_page_token=_page_token(end) if end < len(names) else "",
            tzdata_version=self._zones.version,
            total_size=len(names),
        )
