"""Business days on built-in calendars over real servers, against the holidays package, numpy."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

import grpc
import holidays
import numpy as np
import pytest
from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import RichError, assert_invalid_argument, rich_error

Stub = pb_grpc.DateServiceStub

US = "calendars/US"
XNYS = "calendars/XNYS"


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


def package_holidays(calendar: str, year: int, *, observed: bool = True) -> holidays.HolidayBase:
    """The holidays package's own holidays of ``calendar`` (US or XNYS) in ``year``."""
    if calendar == XNYS:
        return holidays.financial_holidays("XNYS", years=year, observed=observed)
    return holidays.country_holidays("US", years=year, observed=observed)


def is_business(stub: Stub, calendar: str, day: str) -> pb.IsBusinessDayResponse:
    """IsBusinessDay of ``day`` on ``calendar``."""
    return stub.IsBusinessDay(pb.IsBusinessDayRequest(calendar=calendar, date=ymd(day)), timeout=5)


def adjust(stub: Stub, calendar: str, day: str, convention: int = 0) -> str:
    """AdjustToBusinessDay of ``day`` on ``calendar`` by ``convention``."""
    request = pb.AdjustToBusinessDayRequest(
        calendar=calendar,
        date=ymd(day),
        convention=convention,  # type: ignore[arg-type]
    )
    return iso(stub.AdjustToBusinessDay(request, timeout=5).date)


def add_days(stub: Stub, calendar: str, day: str, days: int) -> str:
    """AddBusinessDays of ``days`` to ``day`` on ``calendar``."""
    request = pb.AddBusinessDaysRequest(calendar=calendar, date=ymd(day), days=days)
    return iso(stub.AddBusinessDays(request, timeout=5).date)


def count(stub: Stub, calendar: str, start: str, end: str) -> int:
    """CountBusinessDays from ``start`` to ``end`` on ``calendar``."""
    request = pb.CountBusinessDaysRequest(
        calendar=calendar, start_date=ymd(start), end_date=ymd(end)
    )
    return stub.CountBusinessDays(request, timeout=5).business_days


def holidays_request(start: str, end: str, **fields: object) -> pb.ListHolidaysRequest:
    """A ListHolidays request on US from ``start`` to ``end``."""
    return pb.ListHolidaysRequest(
        calendar=US,
        start_date=ymd(start),
        end_date=ymd(end),
        **fields,  # type: ignore[arg-type]
    )


def test_independence_day_observed_is_no_business_day_on_xnys(pinned_stub: Stub) -> None:
    """2026-07-03, Independence Day observed, is a holiday on XNYS; 2026-07-06 is a business day."""
    answer = is_business(pinned_stub, XNYS, "2026-07-03")
    assert (answer.business_day, answer.weekend) == (False, False)
    assert [(iso(h.date), h.name, h.observed) for h in answer.holidays] == [
        ("2026-07-03", "Independence Day (observed)", True)
    ]
    monday = is_business(pinned_stub, XNYS, "2026-07-06")
    assert (monday.business_day, monday.weekend, list(monday.holidays)) == (True, False, [])


def test_the_national_day_of_mourning_closed_the_market(pinned_stub: Stub) -> None:
    """2025-01-09, a Thursday, is no business day on XNYS, and is one on the US calendar."""
    answer = is_business(pinned_stub, XNYS, "2025-01-09")
    assert (answer.business_day, answer.weekend) == (False, False)
    assert [h.name for h in answer.holidays] == [
        "National Day of Mourning for former President Jimmy Carter"
    ]
    assert is_business(pinned_stub, US, "2025-01-09").business_day


def test_a_holiday_on_a_weekend_is_both(pinned_stub: Stub) -> None:
    """2026-07-04 is a Saturday and, on the US calendar, Independence Day itself."""
    answer = is_business(pinned_stub, US, "2026-07-04")
    assert (answer.business_day, answer.weekend) == (False, True)
    assert [(h.name, h.observed) for h in answer.holidays] == [("Independence Day", False)]


@pytest.mark.parametrize("calendar", [US, XNYS])
def test_every_day_of_2026_matches_the_holidays_package(pinned_stub: Stub, calendar: str) -> None:
    """Each day of 2026 is a business day exactly when the package has no holiday on a weekday."""
    observed = package_holidays(calendar, 2026)
    actual = package_holidays(calendar, 2026, observed=False)
    wrong = {}
    day = date(2026, 1, 1)
    while day.year == 2026:
        answer = is_business(pinned_stub, calendar, day.isoformat())
        expected = (
            day.weekday() < 5 and day not in observed,
            day.weekday() >= 5,
            [(name, name not in actual.get_list(day)) for name in observed.get_list(day)],
        )
        got = (answer.business_day, answer.weekend, [(h.name, h.observed) for h in answer.holidays])
        if got != expected:
            wrong[day] = got
        day += timedelta(days=1)
    assert wrong == {}


@pytest.mark.parametrize(
    ("calendar", "day", "convention", "expected"),
    [
        (US, "2026-10-31", pb.BUSINESS_DAY_CONVENTION_MODIFIED_FOLLOWING, "2026-10-30"),
        (US, "2026-10-31", pb.BUSINESS_DAY_CONVENTION_FOLLOWING, "2026-11-02"),
        (US, "2026-07-04", pb.BUSINESS_DAY_CONVENTION_FOLLOWING, "2026-07-06"),
        (US, "2026-07-04", pb.BUSINESS_DAY_CONVENTION_UNSPECIFIED, "2026-07-06"),
        (US, "2026-07-04", pb.BUSINESS_DAY_CONVENTION_PRECEDING, "2026-07-02"),
        (US, "2026-11-01", pb.BUSINESS_DAY_CONVENTION_MODIFIED_PRECEDING, "2026-11-02"),
        (US, "2026-11-01", pb.BUSINESS_DAY_CONVENTION_PRECEDING, "2026-10-30"),
        (US, "2026-07-08", pb.BUSINESS_DAY_CONVENTION_PRECEDING, "2026-07-08"),
        (XNYS, "2026-04-03", pb.BUSINESS_DAY_CONVENTION_FOLLOWING, "2026-04-06"),
        (US, "2026-04-03", pb.BUSINESS_DAY_CONVENTION_FOLLOWING, "2026-04-03"),
    ],
)
def test_adjust_to_business_day(
    pinned_stub: Stub, calendar: str, day: str, convention: int, expected: str
) -> None:
    """A date that is not a business day moves as the convention says; a business day stays."""
    assert adjust(pinned_stub, calendar, day, convention) == expected


def test_count_business_days_around_independence_day(pinned_stub: Stub) -> None:
    """2026-06-29 to 2026-07-06 holds 4 business days on XNYS (end not counted), reversed -4."""
    assert count(pinned_stub, XNYS, "2026-06-29", "2026-07-06") == 4
    assert count(pinned_stub, XNYS, "2026-07-06", "2026-06-29") == -4
    assert count(pinned_stub, XNYS, "2026-07-06", "2026-07-06") == 0


@pytest.mark.parametrize("calendar", [US, XNYS])
def test_count_and_add_match_numpy(pinned_stub: Stub, calendar: str) -> None:
    """Counts over random spans equal numpy's busday_count, and adds its busday_offset."""
    days_off = [
        np.datetime64(day) for year in range(2023, 2030) for day in package_holidays(calendar, year)
    ]
    numpy_calendar = np.busdaycalendar(weekmask="1111100", holidays=days_off)
    rng = random.Random(20260629)
    low, high = date(2025, 1, 1).toordinal(), date(2027, 12, 31).toordinal()
    wrong: list[tuple[object, ...]] = []
    for _ in range(60):
        start, end = (date.fromordinal(rng.randint(low, high)) for _ in range(2))
        expected_count = int(np.busday_count(start, end, busdaycal=numpy_calendar))
        if count(pinned_stub, calendar, start.isoformat(), end.isoformat()) != expected_count:
            wrong.append(("count", start, end))
        # numpy rolls a non-business start forward first; from a business day the two agree.
        first = np.busday_offset(start, 0, roll="forward", busdaycal=numpy_calendar)
        n = rng.randint(-250, 250)
        expected_day = str(np.busday_offset(first, n, busdaycal=numpy_calendar))
        if add_days(pinned_stub, calendar, str(first), n) != expected_day:
            wrong.append(("add", first, n))
    assert wrong == []


@pytest.mark.parametrize(
    ("day", "days", "expected"),
    [
        ("2026-07-02", 1, "2026-07-06"),
        ("2026-07-06", -1, "2026-07-02"),
        ("2026-07-03", 0, "2026-07-06"),
        ("2026-07-04", 0, "2026-07-06"),
        ("2026-07-08", 0, "2026-07-08"),
        ("2026-07-03", 1, "2026-07-06"),
        ("2026-07-03", -1, "2026-07-02"),
        ("2026-06-29", 10, "2026-07-14"),
        ("2026-07-14", -10, "2026-06-29"),
    ],
)
def test_add_business_days(pinned_stub: Stub, day: str, days: int, expected: str) -> None:
    """The start is not counted; zero days on a holiday or weekend gives the next business day."""
    assert add_days(pinned_stub, XNYS, day, days) == expected


def test_list_holidays_pages_chain_to_the_package_list(pinned_stub: Stub) -> None:
    """US 2026 two at a time: the tokens chain, and the pages make up the one-page list."""
    pages = []
    token = ""
    while True:
        page = pinned_stub.ListHolidays(
            holidays_request("2026-01-01", "2026-12-31", page_size=2, page_token=token), timeout=5
        )
        pages.append(list(page.holidays))
        token = page.next_page_token
        if not token:
            break
    assert [len(page) for page in pages] == [2, 2, 2, 2, 2, 2]
    whole = pinned_stub.ListHolidays(holidays_request("2026-01-01", "2026-12-31"), timeout=5)
    assert whole.next_page_token == ""
    assert [h for page in pages for h in page] == list(whole.holidays)
    observed = package_holidays(US, 2026)
    actual = package_holidays(US, 2026, observed=False)
    expected = [
        (day.isoformat(), name, name not in actual.get_list(day))
        for day in sorted(observed)
        for name in observed.get_list(day)
    ]
    assert [(iso(h.date), h.name, h.observed) for h in whole.holidays] == expected


def test_list_holidays_includes_both_ends(pinned_stub: Stub) -> None:
    """The start and the end date are both included; a span with no holiday is an empty page."""
    ends = pinned_stub.ListHolidays(holidays_request("2026-07-03", "2026-07-04"), timeout=5)
    assert [iso(h.date) for h in ends.holidays] == ["2026-07-03", "2026-07-04"]
    none = pinned_stub.ListHolidays(holidays_request("2026-07-05", "2026-08-31"), timeout=5)
    assert (list(none.holidays), none.next_page_token) == ([], "")
    century = pinned_stub.ListHolidays(
        holidays_request("2000-01-01", "2100-12-31", page_size=1), timeout=5
    )
    assert len(century.holidays) == 1
    assert century.next_page_token


CALENDAR_CALLS: dict[str, Callable[[Stub, str], object]] = {
    "IsBusinessDay": lambda stub, name: stub.IsBusinessDay(
        pb.IsBusinessDayRequest(calendar=name, date=ymd("2026-07-03")), timeout=5
    ),
    "AdjustToBusinessDay": lambda stub, name: stub.AdjustToBusinessDay(
        pb.AdjustToBusinessDayRequest(calendar=name, date=ymd("2026-07-03")), timeout=5
    ),
    "AddBusinessDays": lambda stub, name: stub.AddBusinessDays(
        pb.AddBusinessDaysRequest(calendar=name, date=ymd("2026-07-03"), days=1), timeout=5
    ),
    "CountBusinessDays": lambda stub, name: stub.CountBusinessDays(
        pb.CountBusinessDaysRequest(
            calendar=name, start_date=ymd("2026-07-01"), end_date=ymd("2026-07-31")
        ),
        timeout=5,
    ),
    "ListHolidays": lambda stub, name: stub.ListHolidays(
        pb.ListHolidaysRequest(
            calendar=name, start_date=ymd("2026-01-01"), end_date=ymd("2026-12-31")
        ),
        timeout=5,
    ),
}


@pytest.mark.parametrize("method", CALENDAR_CALLS)
@pytest.mark.parametrize("name", ["calendars/ZZ", "calendars/US-ZZ", "calendars/nosuch"])
def test_unknown_calendar_is_not_found(pinned_stub: Stub, method: str, name: str) -> None:
    """A well-formed name that names no calendar, built in or custom, is NOT_FOUND."""
    error = refused(lambda: CALENDAR_CALLS[method](pinned_stub, name))
    assert error.code == grpc.StatusCode.NOT_FOUND, error
    assert error.reasons == ["CALENDAR_NOT_FOUND"]
    assert name in error.message


@pytest.mark.parametrize("method", CALENDAR_CALLS)
@pytest.mark.parametrize(
    "name", ["US", "calendars/Bad_Id", "", "calendars/", "calendars/US/x", "Calendars/US"]
)
def test_malformed_calendar_name_is_invalid(pinned_stub: Stub, method: str, name: str) -> None:
    """A name that is not calendars/{id} is INVALID_ARGUMENT naming `calendar`."""
    error = refused(lambda: CALENDAR_CALLS[method](pinned_stub, name))
    assert_invalid_argument(error, "calendar", "INVALID_CALENDAR_NAME")
    assert "calendars/US" in error.message


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda stub: stub.IsBusinessDay(pb.IsBusinessDayRequest(calendar=US)), "date"),
        (
            lambda stub: stub.AdjustToBusinessDay(pb.AdjustToBusinessDayRequest(calendar=US)),
            "date",
        ),
        (
            lambda stub: stub.AddBusinessDays(pb.AddBusinessDaysRequest(calendar=US, days=1)),
            "date",
        ),
        (
            lambda stub: stub.CountBusinessDays(
                pb.CountBusinessDaysRequest(calendar=US, end_date=ymd("2026-01-01"))
            ),
            "start_date",
        ),
        (
            lambda stub: stub.CountBusinessDays(
                pb.CountBusinessDaysRequest(calendar=US, start_date=ymd("2026-01-01"))
            ),
            "end_date",
        ),
        (
            lambda stub: stub.ListHolidays(
                pb.ListHolidaysRequest(calendar=US, end_date=ymd("2026-01-01"))
            ),
            "start_date",
        ),
        (
            lambda stub: stub.ListHolidays(
                pb.ListHolidaysRequest(calendar=US, start_date=ymd("2026-01-01"))
            ),
            "end_date",
        ),
    ],
    ids=["is", "adjust", "add", "count-start", "count-end", "holidays-start", "holidays-end"],
)
def test_missing_dates_are_invalid(
    pinned_stub: Stub, call: Callable[[Stub], object], field: str
) -> None:
    """Every date a call needs, left unset, is INVALID_ARGUMENT naming it."""
    assert_invalid_argument(refused(lambda: call(pinned_stub)), field, "DATE_REQUIRED")


def test_impossible_date_is_invalid(pinned_stub: Stub) -> None:
    """A date that does not exist is INVALID_ARGUMENT naming its field."""
    error = refused(lambda: is_business(pinned_stub, US, "2026-02-29"))
    assert_invalid_argument(error, "date", "INVALID_DATE")
    error = refused(lambda: count(pinned_stub, US, "2026-01-01", "2026-06-31"))
    assert_invalid_argument(error, "end_date", "INVALID_DATE")


def test_list_holidays_refuses_an_end_before_the_start(pinned_stub: Stub) -> None:
    """ListHolidays with the end before the start is INVALID_ARGUMENT naming `end_date`."""
    error = refused(
        lambda: pinned_stub.ListHolidays(holidays_request("2026-12-31", "2026-01-01"), timeout=5)
    )
    assert_invalid_argument(error, "end_date", "END_BEFORE_START")


def test_list_holidays_refuses_more_than_a_century(pinned_stub: Stub) -> None:
    """A span of over 100 years is INVALID_ARGUMENT naming `end_date`; 100 years is fine."""
    error = refused(
        lambda: pinned_stub.ListHolidays(holidays_request("1900-01-01", "2001-01-01"), timeout=5)
    )
    assert_invalid_argument(error, "end_date", "SPAN_TOO_LONG")
    assert "100 years" in error.message
    fine = pinned_stub.ListHolidays(holidays_request("1900-01-01", "2000-12-31"), timeout=5)
    assert len(fine.holidays) == 100


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"page_size": -1}, "page_size", "PAGE_SIZE_NEGATIVE"),
        ({"page_token": "not-a-token"}, "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
def test_list_holidays_refuses_bad_paging(
    pinned_stub: Stub, fields: dict[str, object], field: str, reason: str
) -> None:
    """A negative page size or a token the server never issued is INVALID_ARGUMENT."""
    request = holidays_request("2026-01-01", "2026-12-31", **fields)
    error = refused(lambda: pinned_stub.ListHolidays(request, timeout=5))
    assert_invalid_argument(error, field, reason)


def test_spans_and_moves_are_bounded(pinned_stub: Stub) -> None:
    """Moving more than 100,000 business days, or counting over 400 years, is INVALID_ARGUMENT."""
    for days in (100_001, -100_001):
        request = pb.AddBusinessDaysRequest(calendar=US, date=ymd("2026-07-03"), days=days)
        error = refused(lambda: pinned_stub.AddBusinessDays(request, timeout=5))  # noqa: B023
        assert_invalid_argument(error, "days", "DAYS_OUT_OF_RANGE")
    error = refused(lambda: count(pinned_stub, US, "1600-01-01", "2001-01-01"))
    assert_invalid_argument(error, "end_date", "SPAN_TOO_LONG")


def test_unknown_convention_is_invalid(pinned_stub: Stub) -> None:
    """A BusinessDayConvention number the contract does not define names `convention`."""
    error = refused(lambda: adjust(pinned_stub, US, "2026-07-04", 9))
    assert_invalid_argument(error, "convention", "UNKNOWN_ENUM_VALUE")
