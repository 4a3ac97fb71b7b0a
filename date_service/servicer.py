"""DateService: what the date is in an IANA time zone, and the calendar facts about it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import grpc
from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_domain.calendar import describe
from chrono_domain.clock import utc_now
from chrono_server.spec import Resources

Context = grpc.aio.ServicerContext[Any, Any]


def describe_date(day: date, zone_name: str) -> pb.GetDateResponse:
    """The GetDate answer for ``day``, the current date in ``zone_name``."""
    facts = describe(day)
    return pb.GetDateResponse(
        current_date=date_pb2.Date(year=day.year, month=day.month, day=day.day),
        time_zone=zone_name,
        formatted=facts.formatted,
        # google.type.DayOfWeek numbers Monday 1 to Sunday 7, as ISO 8601 does.
        day_of_week=facts.iso_weekday,
        day_of_year=facts.day_of_year,
        iso_week=facts.iso_week,
        iso_week_year=facts.iso_week_year,
        leap_year=facts.leap_year,
        days_in_month=facts.days_in_month,
    )


class DateServicer(pb_grpc.DateServiceServicer):
    """Answers DateService calls from the shared zone database and the system clock."""

    def __init__(self, resources: Resources, clock: Callable[[], datetime] = utc_now) -> None:
        """Serve from ``resources``; ``clock`` returns the current instant (tests pin it)."""
        self._zones = resources.zones
        self._clock = clock

    async def GetDate(self, request: pb.GetDateRequest, context: Context) -> pb.GetDateResponse:
        """Return the current date in the requested zone."""
        zone = self._zones.resolve(request.time_zone)
        return describe_date(self._clock().astimezone(zone).date(), zone.key)
