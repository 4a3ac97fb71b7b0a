"""DateService: dates and their facts, calendar arithmetic, business days and calendars.

The arithmetic and business-day rules live in :mod:`chrono_domain`; the calendars, built
in and stored, in :mod:`date_service.calendars`; this module translates messages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc
from google.protobuf import empty_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_domain import paging, periods
from chrono_domain.calendar import describe
from chrono_domain.errors import InvalidArgumentError
from chrono_server.auth import WriteAuthorizer
from chrono_server.spec import Resources
from date_service import edits
from date_service.calendars import CalendarBook, record_message, split_name, store_failure
from date_service.convert import (
    CONVENTIONS,
    OVERFLOWS,
    date_message,
    enum_value,
    holiday_message,
    int32,
    to_date,
)
from date_service.store import CalendarStore, EtagMismatchError, StoreError

Context = grpc.aio.ServicerContext[Any, Any]

MAX_HOLIDAY_YEARS = 100
# Business days are counted over at most this span, and moved by at most this many:
# each year of a calendar is computed once, and a call must not hold the event loop.
MAX_BUSINESS_YEARS = 400
MAX_BUSINESS_DAYS = 100_000
MAX_HOLIDAYS_PAGE = 1000
DEFAULT_HOLIDAYS_PAGE = 100
# Reads of a calendar an UpdateCalendar without an etag makes while others change it.
_UPDATE_ATTEMPTS = 5


def describe_date(day: date, zone_name: str) -> pb.GetDateResponse:
    """The GetDate answer for ``day``, the current date in ``zone_name``."""
    facts = describe(day)
    return pb.GetDateResponse(
        current_date=date_message(day),
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
    """Answers DateService calls from the zone database, the calendars and the clock."""

    def __init__(
        self,
        resources: Resources,
        store: CalendarStore,
        writers: WriteAuthorizer,
    ) -> None:
        """Serve from ``resources`` and ``store``; ``writers`` says who may change calendars."""
        self._zones = resources.zones
        self._clock = resources.clock
        self._book = CalendarBook(store)
        self._store = store
        self._writers = writers

    async def GetDate(self, request: pb.GetDateRequest, context: Context) -> pb.GetDateResponse:
        """Return the facts of the date asked for, or of the current date in the zone."""
        zone = self._zones.resolve(request.time_zone)
        if request.HasField("date"):
            return describe_date(to_date(request, "date"), zone.key)
        return describe_date(self._clock().astimezone(zone).date(), zone.key)

    async def AddPeriod(
        self, request: pb.AddPeriodRequest, context: Context
    ) -> pb.AddPeriodResponse:
        """Return the date plus the period, java.time style."""
        added = periods.add_period(
            to_date(request, "date"),
            years=request.years,
            months=request.months,
            weeks=request.weeks,
            days=request.days,
            overflow=enum_value(OVERFLOWS, request.overflow, "overflow", "Overflow"),
        )
        return pb.AddPeriodResponse(date=date_message(added.date), clamped=added.clamped)

    async def DiffDates(
        self, request: pb.DiffDatesRequest, context: Context
    ) -> pb.DiffDatesResponse:
        """Return the period between the two dates, java.time's Period.between."""
        found = periods.between(to_date(request, "start_date"), to_date(request, "end_date"))
        return pb.DiffDatesResponse(
            years=found.years, months=found.months, days=found.days, total_days=found.total_days
        )

    async def IsBusinessDay(
        self, request: pb.IsBusinessDayRequest, context: Context
    ) -> pb.IsBusinessDayResponse:
        """Return whether the date is a business day, and the holidays on it."""
        day = to_date(request, "date")
        calendar = await self._book.business(request.calendar)
        return pb.IsBusinessDayResponse(
            business_day=calendar.is_business_day(day),
            weekend=calendar.is_weekend(day),
            holidays=[holiday_message(holiday) for holiday in calendar.holidays_on(day)],
        )

    async def AdjustToBusinessDay(
        self, request: pb.AdjustToBusinessDayRequest, context: Context
    ) -> pb.AdjustToBusinessDayResponse:
        """Return the date moved to a business day by the convention."""
        day = to_date(request, "date")
        convention = enum_value(
            CONVENTIONS, request.convention, "convention", "BusinessDayConvention"
        )
        calendar = await self._book.business(request.calendar)
        return pb.AdjustToBusinessDayResponse(date=date_message(calendar.adjust(day, convention)))

    async def AddBusinessDays(
        self, request: pb.AddBusinessDaysRequest, context: Context
    ) -> pb.AddBusinessDaysResponse:
        """Return the business day so many business days away."""
        day = to_date(request, "date")
        if abs(request.days) > MAX_BUSINESS_DAYS:
            raise InvalidArgumentError(
                "days",
                f"days must be between -{MAX_BUSINESS_DAYS:,} and {MAX_BUSINESS_DAYS:,}",
                "DAYS_OUT_OF_RANGE",
            )
        calendar = await self._book.business(request.calendar)
        reached = calendar.add_business_days(day, request.days)
        return pb.AddBusinessDaysResponse(date=date_message(reached))

    async def CountBusinessDays(
        self, request: pb.CountBusinessDaysRequest, context: Context
    ) -> pb.CountBusinessDaysResponse:
        """Return the business days from the start (counted) to the end (not counted)."""
        start, end = to_date(request, "start_date"), to_date(request, "end_date")
        if abs(end.year - start.year) > MAX_BUSINESS_YEARS:
            raise InvalidArgumentError(
                "end_date",
                f"count over at most {MAX_BUSINESS_YEARS} years per call",
                "SPAN_TOO_LONG",
            )
        calendar = await self._book.business(request.calendar)
        counted = calendar.count_business_days(start, end)
        return pb.CountBusinessDaysResponse(business_days=int32(counted, "end_date"))

    async def ListHolidays(
        self, request: pb.ListHolidaysRequest, context: Context
    ) -> pb.ListHolidaysResponse:
        """Return one page of the calendar's holidays from the start to the end, included."""
        start, end = to_date(request, "start_date"), to_date(request, "end_date")
        if end < start:
            raise InvalidArgumentError(
                "end_date", "end_date must not be before start_date", "END_BEFORE_START"
            )
        if end.year - start.year > MAX_HOLIDAY_YEARS:
            raise InvalidArgumentError(
                "end_date",
                f"ask for at most {MAX_HOLIDAY_YEARS} years of holidays per call",
                "SPAN_TOO_LONG",
            )
        calendar = await self._book.business(request.calendar)
        found = paging.page(
            calendar.holidays_between(start, end),
            request.page_size,
            request.page_token,
            MAX_HOLIDAYS_PAGE,
            DEFAULT_HOLIDAYS_PAGE,
        )
        return pb.ListHolidaysResponse(
            holidays=[holiday_message(holiday) for holiday in found.items],
            next_page_token=found.next_page_token,
        )

    async def GetCalendar(self, request: pb.GetCalendarRequest, context: Context) -> pb.Calendar:
        """Return the calendar, built in or custom."""
        return await self._book.message(request.name)

    async def ListCalendars(
        self, request: pb.ListCalendarsRequest, context: Context
    ) -> pb.ListCalendarsResponse:
        """Return one page of calendars: the built-in ones, then the custom ones."""
        return await self._book.page(request.page_size, request.page_token)

    async def CreateCalendar(
        self, request: pb.CreateCalendarRequest, context: Context
    ) -> pb.Calendar:
        """Store a new custom calendar; a retry with the same request id makes no other."""
        self._writers.check(context)
        draft = edits.draft_for_create(request)
        try:
            record = await self._store.create(draft, request.request_id)
        except StoreError as error:
            raise store_failure(error) from None
        return record_message(record)

    async def UpdateCalendar(
        self, request: pb.UpdateCalendarRequest, context: Context
    ) -> pb.Calendar:
        """Change the fields the mask names, if the etag (when given) is still current."""
        self._writers.check(context)
        given = request.calendar.etag
        # The fields the mask leaves out are the version read here: it is written only if
        # still current, so that a concurrent change of those fields is never undone. Without
        # an etag of the caller's, a change made in between is read again and the mask applied
        # to it.
        attempts = _UPDATE_ATTEMPTS
        while True:
            current = await self._book.record(request.calendar.name, "calendar.name")
            draft = edits.draft_for_update(current, request)
            try:
                record = await self._store.update(draft, given or current.etag)
            except EtagMismatchError as error:
                attempts -= 1
                if given or not attempts:
                    raise store_failure(error) from None
            except StoreError as error:
                raise store_failure(error) from None
            else:
                return record_message(record)

    async def DeleteCalendar(
        self, request: pb.DeleteCalendarRequest, context: Context
    ) -> empty_pb2.Empty:
        """Delete the custom calendar, if the etag (when given) is still current."""
        self._writers.check(context)
        calendar_id, builtin = split_name(request.name, "name")
        if builtin:
            await self._book.record(request.name)  # refuses a built-in calendar
        try:
            await self._store.delete(calendar_id, request.etag or None)
        except StoreError as error:
            raise store_failure(error) from None
        return empty_pb2.Empty()
