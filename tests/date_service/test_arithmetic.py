"""GetDate of a given date, AddPeriod and DiffDates over a real server and channel."""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import grpc
import pytest
from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_domain import periods
from tests.chrono_server.helpers import RichError, assert_invalid_argument, rich_error

Stub = pb_grpc.DateServiceStub


def ymd(text: str) -> date_pb2.Date:
    """``YYYY-MM-DD`` as a google.type.Date, whether or not it is a real date."""
    year, month, day = (int(part) for part in text.split("-"))
    return date_pb2.Date(year=year, month=month, day=day)


def iso(message: date_pb2.Date) -> str:
    """A google.type.Date as ``YYYY-MM-DD``."""
    return f"{message.year:04d}-{message.month:02d}-{message.day:02d}"


def refused(call: Callable[[], object]) -> RichError:
    """The rich error of a call that must fail."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return rich_error(caught.value)


def add(stub: Stub, start: str, **period: Any) -> pb.AddPeriodResponse:
    """AddPeriod of ``period`` (years, months, weeks, days, overflow) to ``start``."""
    return stub.AddPeriod(pb.AddPeriodRequest(date=ymd(start), **period), timeout=5)


def diff(stub: Stub, start: str, end: str) -> tuple[int, int, int, int]:
    """DiffDates from ``start`` to ``end``: (years, months, days, total days)."""
    answer = stub.DiffDates(pb.DiffDatesRequest(start_date=ymd(start), end_date=ymd(end)))
    return answer.years, answer.months, answer.days, answer.total_days


def test_get_date_describes_every_day_given(pinned_stub: Stub) -> None:
    """GetDate with a date gives that date's facts, not today's: every day of 2024 and the ends."""
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(366)]
    days += [date.min, date.max, date(2026, 12, 31), date(2027, 1, 1)]
    wrong = {}
    for day in days:
        answer = pinned_stub.GetDate(
            pb.GetDateRequest(time_zone="Asia/Tokyo", date=ymd(day.isoformat())), timeout=5
        )
        iso_year, iso_week, iso_weekday = day.isocalendar()
        expected = (
            day.isoformat(),
            day.isoformat(),
            "Asia/Tokyo",
            iso_weekday,
            day.timetuple().tm_yday,
            iso_week,
            iso_year,
            calendar.isleap(day.year),
            calendar.monthrange(day.year, day.month)[1],
        )
        got = (
            iso(answer.current_date),
            answer.formatted,
            answer.time_zone,
            answer.day_of_week,
            answer.day_of_year,
            answer.iso_week,
            answer.iso_week_year,
            answer.leap_year,
            answer.days_in_month,
        )
        if got != expected:
            wrong[day] = got
    assert wrong == {}


def test_get_date_with_a_date_and_no_zone_names_utc(pinned_stub: Stub) -> None:
    """A date given with no zone is answered as in UTC, the default zone."""
    answer = pinned_stub.GetDate(pb.GetDateRequest(date=ymd("2026-12-31")), timeout=5)
    assert (answer.time_zone, answer.iso_week, answer.iso_week_year) == ("UTC", 53, 2026)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "0000-01-01", "10000-01-01"])
def test_get_date_refuses_a_date_that_does_not_exist(pinned_stub: Stub, text: str) -> None:
    """A date that does not exist is INVALID_ARGUMENT naming `date`."""
    error = refused(lambda: pinned_stub.GetDate(pb.GetDateRequest(date=ymd(text)), timeout=5))
    assert_invalid_argument(error, "date", "INVALID_DATE")
    assert f"{int(text.split('-')[0]):04d}" in error.message


@pytest.mark.parametrize(
    ("start", "period", "expected", "clamped"),
    [
        ("2026-01-31", {"months": 1}, "2026-02-28", True),
        ("2024-01-31", {"months": 1}, "2024-02-29", True),
        ("2024-02-29", {"years": 1}, "2025-02-28", True),
        ("2024-02-29", {"years": 4}, "2028-02-29", False),
        ("2026-01-15", {"months": 1}, "2026-02-15", False),
        ("2026-01-31", {"months": 1, "days": 1}, "2026-03-01", True),
        ("2026-01-31", {"weeks": 1, "days": 1}, "2026-02-08", False),
        ("2026-03-31", {"months": -1}, "2026-02-28", True),
        ("2026-03-10", {"years": -1, "months": -2, "weeks": -1, "days": -3}, "2024-12-31", False),
        ("2026-01-01", {"days": -1}, "2025-12-31", False),
        ("2026-01-01", {}, "2026-01-01", False),
        ("9999-12-01", {"days": 30}, "9999-12-31", False),
        ("0001-01-31", {"days": -30}, "0001-01-01", False),
    ],
)
def test_add_period(
    pinned_stub: Stub, start: str, period: dict[str, int], expected: str, clamped: bool
) -> None:
    """Years and months first, clamped to the month's end (and said so), then weeks and days."""
    answer = add(pinned_stub, start, **period)
    assert (iso(answer.date), answer.clamped) == (expected, clamped)
    # OVERFLOW_CLAMP is the default.
    explicit = add(pinned_stub, start, overflow=pb.OVERFLOW_CLAMP, **period)
    assert explicit == answer


def test_overflow_reject_refuses_a_missing_day(pinned_stub: Stub) -> None:
    """With OVERFLOW_REJECT a day the month lacks is INVALID_ARGUMENT, reason DAY_OUT_OF_RANGE."""
    error = refused(lambda: add(pinned_stub, "2026-01-31", months=1, overflow=pb.OVERFLOW_REJECT))
    assert_invalid_argument(error, "date", "DAY_OUT_OF_RANGE")
    assert "2026-02-31" in error.message
    assert "OVERFLOW_CLAMP" in error.message
    fine = add(pinned_stub, "2026-01-28", months=1, overflow=pb.OVERFLOW_REJECT)
    assert (iso(fine.date), fine.clamped) == ("2026-02-28", False)


@pytest.mark.parametrize(
    ("start", "period", "field"),
    [
        ("9999-01-31", {"years": 1}, "years"),
        ("9999-12-01", {"months": 1}, "months"),
        ("9999-12-31", {"days": 1}, "days"),
        ("9999-12-25", {"weeks": 1}, "weeks"),
        ("0001-01-01", {"days": -1}, "days"),
        ("0001-06-01", {"years": -1}, "years"),
        ("2026-01-01", {"years": 2**31 - 1}, "years"),
        ("2026-01-01", {"days": -(2**31)}, "days"),
    ],
)
def test_add_period_out_of_range(
    pinned_stub: Stub, start: str, period: dict[str, int], field: str
) -> None:
    """A result before 0001-01-01 or after 9999-12-31 is DATE_OUT_OF_RANGE naming the part."""
    error = refused(lambda: add(pinned_stub, start, **period))
    assert_invalid_argument(error, field, "DATE_OUT_OF_RANGE")
    assert "9999-12-31" in error.message


def test_add_period_needs_a_real_date(pinned_stub: Stub) -> None:
    """A missing date names `date` (DATE_REQUIRED); one that does not exist, INVALID_DATE."""
    missing = refused(lambda: pinned_stub.AddPeriod(pb.AddPeriodRequest(months=1), timeout=5))
    assert_invalid_argument(missing, "date", "DATE_REQUIRED")
    wrong = refused(lambda: add(pinned_stub, "2026-02-29", days=1))
    assert_invalid_argument(wrong, "date", "INVALID_DATE")


def test_add_period_refuses_an_unknown_overflow(pinned_stub: Stub) -> None:
    """An Overflow number the contract does not define is INVALID_ARGUMENT naming `overflow`."""
    error = refused(lambda: add(pinned_stub, "2026-01-31", months=1, overflow=7))
    assert_invalid_argument(error, "overflow", "UNKNOWN_ENUM_VALUE")
    assert "overflow 7 is not one of the Overflow values" in error.message


def test_add_period_is_the_library_over_a_sample(pinned_stub: Stub) -> None:
    """Over 300 random dates and periods the server answers exactly as chrono_domain.periods."""
    rng = random.Random(20260131)
    wrong = []
    for _ in range(300):
        start = date.fromordinal(
            rng.randint(date(1600, 1, 1).toordinal(), date(2400, 1, 1).toordinal())
        )
        years, months = rng.randint(-50, 50), rng.randint(-30, 30)
        weeks, days = rng.randint(-60, 60), rng.randint(-400, 400)
        expected = periods.add_period(start, years, months, weeks, days)
        answer = add(
            pinned_stub, start.isoformat(), years=years, months=months, weeks=weeks, days=days
        )
        if (iso(answer.date), answer.clamped) != (expected.date.isoformat(), expected.clamped):
            wrong.append((start, years, months, weeks, days, answer))
    assert wrong == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2010-01-15", "2011-03-18", (1, 2, 3, 427)),
        ("2011-03-18", "2010-01-15", (-1, -2, -3, -427)),
        ("2026-01-31", "2026-02-28", (0, 0, 28, 28)),
        ("2026-02-28", "2026-01-31", (0, 0, -28, -28)),
        ("2024-02-29", "2025-02-28", (0, 11, 30, 365)),
        ("2024-02-29", "2028-02-29", (4, 0, 0, 1461)),
        ("2026-07-03", "2026-07-03", (0, 0, 0, 0)),
        ("0001-01-01", "9999-12-31", (9998, 11, 30, 3652058)),
    ],
)
def test_diff_dates(
    pinned_stub: Stub, start: str, end: str, expected: tuple[int, int, int, int]
) -> None:
    """The period between two dates is java.time's Period.between, plus the days between."""
    assert diff(pinned_stub, start, end) == expected


def test_diff_dates_is_the_library_and_adds_back(pinned_stub: Stub) -> None:
    """Over 300 random pairs the server is periods.between, and start + period == end forward."""
    rng = random.Random(20100115)
    low, high = date(1900, 1, 1).toordinal(), date(2100, 12, 31).toordinal()
    wrong = []
    for _ in range(300):
        start, end = (date.fromordinal(rng.randint(low, high)) for _ in range(2))
        expected = periods.between(start, end)
        got = diff(pinned_stub, start.isoformat(), end.isoformat())
        if got != (expected.years, expected.months, expected.days, expected.total_days):
            wrong.append((start, end, got))
        # Every component has the sign of the whole, and the days are the plain difference.
        if any(part and (part > 0) != (got[3] > 0) for part in got[:3]):
            wrong.append((start, end, got))
        if got[3] != end.toordinal() - start.toordinal():
            wrong.append((start, end, got))
        if start <= end:
            back = add(pinned_stub, start.isoformat(), years=got[0], months=got[1], days=got[2])
            if iso(back.date) != end.isoformat():
                wrong.append((start, end, got))
    assert wrong == []


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (pb.DiffDatesRequest(end_date=ymd("2026-01-01")), "start_date", "DATE_REQUIRED"),
        (pb.DiffDatesRequest(start_date=ymd("2026-01-01")), "end_date", "DATE_REQUIRED"),
        (
            pb.DiffDatesRequest(start_date=ymd("2026-02-29"), end_date=ymd("2026-03-01")),
            "start_date",
            "INVALID_DATE",
        ),
        (
            pb.DiffDatesRequest(start_date=ymd("2026-01-01"), end_date=ymd("2026-04-31")),
            "end_date",
            "INVALID_DATE",
        ),
    ],
    ids=["no-start", "no-end", "bad-start", "bad-end"],
)
def test_diff_dates_needs_two_real_dates(
    pinned_stub: Stub, request_: pb.DiffDatesRequest, field: str, reason: str
) -> None:
    """A missing or impossible date is INVALID_ARGUMENT naming the field."""
    error = refused(lambda: pinned_stub.DiffDates(request_, timeout=5))
    assert_invalid_argument(error, field, reason)
