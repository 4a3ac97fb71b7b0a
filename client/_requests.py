"""Request messages built from Python values, shared by the blocking and asyncio clients."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb

Disambiguation: TypeAlias = time_pb.Disambiguation.ValueType
Overflow: TypeAlias = date_pb.Overflow.ValueType
Convention: TypeAlias = date_pb.BusinessDayConvention.ValueType


def date_message(day: date) -> date_pb2.Date:
    """``day`` as a google.type.Date."""
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def to_date(message: date_pb2.Date) -> date:
    """A google.type.Date with every part set, as a date (ValueError if it is no date)."""
    return date(message.year, message.month, message.day)


def timestamp(instant: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp (ValueError for a naive one: it is no instant)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no time zone: it names no instant")
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(instant.astimezone(UTC))
    return message


def convert_time_request(
    source: datetime,
    time_zones: Sequence[str],
    *,
    time_zone: str | None,
    utc_offset: timedelta | None,
    disambiguation: Disambiguation,
) -> time_pb.ConvertTimeRequest:
    """The request converting ``source``: an instant if aware, else a civil time.

    A naive ``source`` is a civil time in the IANA zone ``time_zone`` or at the fixed
    ``utc_offset``; exactly one of them must be given then, and neither for an instant.
    """
    request = time_pb.ConvertTimeRequest(time_zones=list(time_zones), disambiguation=disambiguation)
    civil = source.tzinfo is None
    if civil == ((time_zone is None) == (utc_offset is None)):
        raise ValueError(
            "give a naive datetime with exactly one of time_zone and utc_offset, "
            "or an aware datetime (an instant) with neither"
        )
    if not civil:
        request.time.CopyFrom(timestamp(source))
        return request
    local = request.local_time
    local.year, local.month, local.day = source.year, source.month, source.day
    local.hours, local.minutes, local.seconds = source.hour, source.minute, source.second
    local.nanos = source.microsecond * 1000
    if time_zone is not None:
        local.time_zone.id = time_zone
    elif utc_offset is not None:
        local.utc_offset.FromTimedelta(utc_offset)
    return request


def transitions_request(
    time_zone: str,
    start_time: datetime | None,
    end_time: datetime | None,
    page_size: int,
    page_token: str,
) -> time_pb.ListTimeZoneTransitionsRequest:
    """The request for one page of ``time_zone``'s transitions from start to end."""
    request = time_pb.ListTimeZoneTransitionsRequest(
        time_zone=time_zone, page_size=page_size, page_token=page_token
    )
    if start_time is not None:
        request.start_time.CopyFrom(timestamp(start_time))
    if end_time is not None:
        request.end_time.CopyFrom(timestamp(end_time))
    return request


def get_date_request(time_zone: str, day: date | None) -> date_pb.GetDateRequest:
    """The request for the facts of ``day``, or of today in ``time_zone`` when None."""
    request = date_pb.GetDateRequest(time_zone=time_zone)
    if day is not None:
        request.date.CopyFrom(date_message(day))
    return request


def add_period_request(
    day: date, years: int, months: int, weeks: int, days: int, overflow: Overflow
) -> date_pb.AddPeriodRequest:
    """The request adding a period to ``day``."""
    return date_pb.AddPeriodRequest(
        date=date_message(day),
        years=years,
        months=months,
        weeks=weeks,
        days=days,
        overflow=overflow,
    )


def diff_dates_request(start: date, end: date) -> date_pb.DiffDatesRequest:
    """The request for the period from ``start`` to ``end``."""
    return date_pb.DiffDatesRequest(start_date=date_message(start), end_date=date_message(end))


def calendar_name(calendar: str) -> str:
    """A calendar's resource name from its name or its bare id (``US`` → ``calendars/US``)."""
    return calendar if calendar.startswith("calendars/") else f"calendars/{calendar}"


def list_holidays_request(
    calendar: str, start: date, end: date, page_size: int, page_token: str
) -> date_pb.ListHolidaysRequest:
    """The request for one page of ``calendar``'s holidays from ``start`` to ``end``."""
    return date_pb.ListHolidaysRequest(
        calendar=calendar_name(calendar),
        start_date=date_message(start),
        end_date=date_message(end),
        page_size=page_size,
        page_token=page_token,
    )


def create_calendar_request(
    calendar_id: str, calendar: date_pb.Calendar, request_id: str | None
) -> date_pb.CreateCalendarRequest:
    """The create request; a request id is made up when none is given (AIP-155).

    The client never retries a create itself; a caller that does passes the same id.
    """
    return date_pb.CreateCalendarRequest(
        calendar_id=calendar_id,
        calendar=calendar,
        request_id=request_id if request_id is not None else str(uuid.uuid4()),
    )


def update_calendar_request(
    calendar: date_pb.Calendar, update_mask: Sequence[str] | None
) -> date_pb.UpdateCalendarRequest:
    """The update request: ``update_mask`` lists the fields to change (None: those set)."""
    request = date_pb.UpdateCalendarRequest(calendar=calendar)
    if update_mask is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(update_mask)))
    request.calendar.name = calendar_name(calendar.name)
    return request


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata that authorises a write with ``token``; none without one."""
    return (("authorization", f"Bearer {token}"),) if token else ()
