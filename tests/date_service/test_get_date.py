"""GetDate fields, at pinned instants, against known values and calendar arithmetic."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from google.type import dayofweek_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import PinnedServer, package_zone


@dataclass(frozen=True)
class Day:
    """Every field of a GetDate response, in plain types (day_of_week by enum name)."""

    time_zone: str
    year: int
    month: int
    day: int
    formatted: str
    day_of_week: str
    day_of_year: int
    iso_week: int
    iso_week_year: int
    leap_year: bool
    days_in_month: int


def fields(response: pb.GetDateResponse) -> Day:
    """The fields ``response`` carries."""
    return Day(
        time_zone=response.time_zone,
        year=response.current_date.year,
        month=response.current_date.month,
        day=response.current_date.day,
        formatted=response.formatted,
        day_of_week=dayofweek_pb2.DayOfWeek.Name(response.day_of_week),
        day_of_year=response.day_of_year,
        iso_week=response.iso_week,
        iso_week_year=response.iso_week_year,
        leap_year=response.leap_year,
        days_in_month=response.days_in_month,
    )


def by_arithmetic(day: date, zone: str) -> Day:
    """The expected fields for ``day``, worked out here from first principles."""
    # ISO 8601: a week belongs to the year that holds its Thursday.
    thursday = day + timedelta(days=3 - day.weekday())
    first_of_month = day.replace(day=1)
    next_month = (first_of_month + timedelta(days=31)).replace(day=1)
    return Day(
        time_zone=zone,
        year=day.year,
        month=day.month,
        day=day.day,
        formatted=f"{day.year:04d}-{day.month:02d}-{day.day:02d}",
        day_of_week=calendar.day_name[day.weekday()].upper(),
        day_of_year=(day - date(day.year, 1, 1)).days + 1,
        iso_week=(thursday - date(thursday.year, 1, 1)).days // 7 + 1,
        iso_week_year=thursday.year,
        leap_year=day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0),
        days_in_month=(next_month - first_of_month).days,
    )


def ask(pinned: PinnedServer, instant: datetime, zone: str) -> pb.GetDateResponse:
    """Pin the clock at ``instant`` and ask for the date in ``zone``."""
    pinned.clock.instant = instant
    stub = pb_grpc.DateServiceStub(pinned.channel)
    return stub.GetDate(pb.GetDateRequest(time_zone=zone), timeout=5)


def at(text: str) -> datetime:
    """An aware UTC instant from ISO 8601 text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


KNOWN = [
    pytest.param(
        at("2028-02-29T12:00"),
        "",
        Day("UTC", 2028, 2, 29, "2028-02-29", "TUESDAY", 60, 9, 2028, True, 29),
        id="leap-day",
    ),
    pytest.param(
        at("2026-12-31T12:00"),
        "UTC",
        Day("UTC", 2026, 12, 31, "2026-12-31", "THURSDAY", 365, 53, 2026, False, 31),
        id="last-day-of-2026-week-53",
    ),
    pytest.param(
        at("2027-01-01T12:00"),
        "UTC",
        Day("UTC", 2027, 1, 1, "2027-01-01", "FRIDAY", 1, 53, 2026, False, 31),
        id="new-year-2027-still-iso-2026",
    ),
    pytest.param(
        at("2028-12-31T12:00"),
        "UTC",
        Day("UTC", 2028, 12, 31, "2028-12-31", "SUNDAY", 366, 52, 2028, True, 31),
        id="day-366",
    ),
    pytest.param(
        at("2026-02-15T12:00"),
        "UTC",
        Day("UTC", 2026, 2, 15, "2026-02-15", "SUNDAY", 46, 7, 2026, False, 28),
        id="february-common-year",
    ),
    pytest.param(
        at("2028-02-10T12:00"),
        "UTC",
        Day("UTC", 2028, 2, 10, "2028-02-10", "THURSDAY", 41, 6, 2028, True, 29),
        id="february-leap-year",
    ),
    pytest.param(
        at("2100-02-28T12:00"),
        "UTC",
        Day("UTC", 2100, 2, 28, "2100-02-28", "SUNDAY", 59, 8, 2100, False, 28),
        id="century-not-leap",
    ),
    pytest.param(
        at("2000-02-29T12:00"),
        "UTC",
        Day("UTC", 2000, 2, 29, "2000-02-29", "TUESDAY", 60, 9, 2000, True, 29),
        id="fourth-century-leap",
    ),
    pytest.param(
        at("2026-06-30T12:00"),
        "Pacific/Kiritimati",
        Day("Pacific/Kiritimati", 2026, 7, 1, "2026-07-01", "WEDNESDAY", 182, 27, 2026, False, 31),
        id="kiritimati-a-day-ahead",
    ),
    pytest.param(
        at("2026-07-01T05:00"),
        "Pacific/Pago_Pago",
        Day("Pacific/Pago_Pago", 2026, 6, 30, "2026-06-30", "TUESDAY", 181, 27, 2026, False, 30),
        id="pago-pago-a-day-behind",
    ),
    pytest.param(
        at("2026-12-31T23:30"),
        "Asia/Tokyo",
        Day("Asia/Tokyo", 2027, 1, 1, "2027-01-01", "FRIDAY", 1, 53, 2026, False, 31),
        id="tokyo-already-2027",
    ),
]


@pytest.mark.parametrize(("instant", "zone", "expected"), KNOWN)
def test_fields_match_known_values(
    pinned: PinnedServer, instant: datetime, zone: str, expected: Day
) -> None:
    """Every GetDate field equals the hand-written value and calendar arithmetic's answer."""
    response = ask(pinned, instant, zone)
    assert fields(response) == expected
    local_day = instant.astimezone(package_zone(zone or "UTC")).date()
    assert fields(response) == by_arithmetic(local_day, zone or "UTC")
    # google.type.DayOfWeek numbers Monday 1 to Sunday 7, as ISO 8601 does.
    assert response.day_of_week == local_day.isoweekday()


@pytest.mark.parametrize(
    ("instant", "zone"),
    [(at("2026-06-30T12:00"), "Pacific/Kiritimati"), (at("2026-07-01T05:00"), "Pacific/Pago_Pago")],
    ids=["kiritimati", "pago-pago"],
)
def test_date_differs_from_utc_date(pinned: PinnedServer, instant: datetime, zone: str) -> None:
    """At the same instant a far-off zone is on a different calendar day from UTC."""
    local = ask(pinned, instant, zone)
    utc = ask(pinned, instant, "")
    assert local.formatted != utc.formatted
    assert utc.formatted == instant.date().isoformat()


@pytest.mark.parametrize("year", [2027, 2028])
def test_every_day_of_a_year_matches_calendar_arithmetic(pinned: PinnedServer, year: int) -> None:
    """For every day of a common and a leap year, every field matches calendar arithmetic."""
    day = date(year, 1, 1)
    mismatches = {}
    while day.year == year:
        instant = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        answer = fields(ask(pinned, instant, "UTC"))
        if answer != by_arithmetic(day, "UTC"):
            mismatches[day] = answer
        day += timedelta(days=1)
    assert mismatches == {}
