"""Checks of the services' answers against zoneinfo, shared by the client tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SLACK = timedelta(seconds=2)


def check_time(reply: time_pb.GetTimeResponse | time_pb.WatchTimeResponse, zone: str) -> None:
    """Assert ``reply`` is the time in ``zone`` now, each field as zoneinfo computes it."""
    instant = reply.current_time.ToDatetime(tzinfo=UTC)
    assert abs(instant - datetime.now(UTC)) < SLACK
    local = instant.astimezone(ZoneInfo(zone))
    assert reply.time_zone == zone
    assert reply.formatted == local.strftime(TIME_FORMAT)
    assert reply.utc_offset.ToTimedelta() == local.utcoffset()
    assert reply.abbreviation == local.tzname()
    assert reply.dst == bool(local.dst())
    assert reply.dst_offset.ToTimedelta() == local.dst()


def check_formatted_time(formatted: str, zone: str) -> None:
    """Assert ``formatted`` is the civil time in ``zone`` now, within a couple of seconds."""
    shown = datetime.strptime(formatted, TIME_FORMAT).replace(tzinfo=ZoneInfo(zone))
    assert abs(shown - datetime.now(UTC)) < SLACK


def today_in(zone: str) -> set[date]:
    """The date in ``zone`` now and a second ago: a call straddling midnight gives either."""
    now = datetime.now(ZoneInfo(zone))
    return {now.date(), (now - timedelta(seconds=1)).date()}


def check_date(reply: date_pb.GetDateResponse, zone: str) -> None:
    """Assert ``reply`` is today's date in ``zone``, with the calendar facts about it."""
    day = date(reply.current_date.year, reply.current_date.month, reply.current_date.day)
    assert day in today_in(zone)
    assert reply.time_zone == zone
    assert reply.formatted == day.isoformat()
    assert reply.day_of_week == day.isoweekday()
    assert reply.day_of_year == day.timetuple().tm_yday
    assert (reply.iso_week_year, reply.iso_week) == tuple(day.isocalendar())[:2]
    assert reply.leap_year == (day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0))
    next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    assert reply.days_in_month == (next_month - day.replace(day=1)).days
