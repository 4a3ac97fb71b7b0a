"""DateService: what the date is in an IANA time zone, and the calendar facts about it."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import grpc
from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_server.app import Shared
from chrono_server.clock import utc_now

Context = grpc.aio.ServicerContext[Any, Any]


def describe_date(day: date, zone_name: str) -> pb.GetDateResponse:
    """The GetDate answer for ``day``, the current date in ``zone_name``."""
    iso = day.isocalendar()
    return pb.GetDateResponse(
        current_date=date_pb2.Date(year=day.year, month=day.month, day=day.day),
        time_zone=zone_name,
        formatted=day.isoformat(),
        # google.type.DayOfWeek numbers Monday 1 to Sunday 7, as ISO 8601 does.
        day_of_week=day.isoweekday(),
        day_of_year=day.timetuple().tm_yday,
        iso_week=iso.week,
        iso_week_year=iso.year,
        leap_year=calendar.isleap(day.year),
        days_in_month=calendar.monthrange(day.year, day.month)[1],
    )


class DateServicer(pb_grpc.DateServiceServicer):
    """Answers DateService calls from the shared zone database and the system clock."""

    def __init__(self, shared: Shared, clock: Callable[[], datetime] = utc_now) -> None:
        """Serve from ``shared``; ``clock`` returns the current instant (tests pin it)."""
        self._zones = shared.zones
        self._clock = clock

    async def GetDate(self, request: pb.GetDateRequest, context: Context) -> pb.GetDateResponse:
        """Return the current date in the requested zone."""
        zone = self._zones.resolve(request.time_zone)
        return describe_date(self._clock().astimezone(zone).date(), zone.key)
