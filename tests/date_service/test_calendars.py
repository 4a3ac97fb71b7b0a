"""Custom calendars over a real server, on SQLite and on PostgreSQL: CRUD, etags, paging, checks."""

from __future__ import annotations

import importlib.metadata
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import grpc
import holidays
import numpy as np
import pytest
from google.protobuf import field_mask_pb2
from google.type import date_pb2, dayofweek_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_domain import holiday_calendars
from date_service.options import DateOptions
from date_service.server import SPEC
from tests.chrono_server.helpers import RichError, assert_invalid_argument, rich_error, running
from tests.servers import server_settings

Stub = pb_grpc.DateServiceStub
Metadata = tuple[tuple[str, str], ...]

US = "calendars/US"
FRIDAY, SATURDAY, SUNDAY = dayofweek_pb2.FRIDAY, dayofweek_pb2.SATURDAY, dayofweek_pb2.SUNDAY

# Tests that never reach the store run once, on SQLite.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def stub(calendar_stub: Stub) -> Stub:
    """A stub of a server with a store of the test's own, taking writes with ``writes``."""
    return calendar_stub


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


def acme() -> pb.Calendar:
    """US holidays plus Christmas Eve, without Thanksgiving, with a Friday-Saturday weekend."""
    return pb.Calendar(
        display_name="Acme Corp",
        base_calendars=[US],
        weekend_days=[FRIDAY, SATURDAY],
        extra_holidays=[pb.Holiday(date=ymd("2026-12-24"), name="Christmas Eve")],
        removed_holidays=[ymd("2026-11-26")],
    )


def create(
    stub: Stub,
    writes: Metadata,
    calendar_id: str = "acme",
    calendar: pb.Calendar | None = None,
    request_id: str = "",
) -> pb.Calendar:
    """CreateCalendar of ``calendar`` (default :func:`acme`) as ``calendar_id``."""
    request = pb.CreateCalendarRequest(
        calendar_id=calendar_id,
        calendar=acme() if calendar is None else calendar,
        request_id=request_id,
    )
    return stub.CreateCalendar(request, metadata=writes, timeout=10)


def get(stub: Stub, name: str) -> pb.Calendar:
    """GetCalendar of ``name``."""
    return stub.GetCalendar(pb.GetCalendarRequest(name=name), timeout=10)


def update(
    stub: Stub, writes: Metadata, calendar: pb.Calendar, paths: list[str] | None = None
) -> pb.Calendar:
    """UpdateCalendar of ``calendar`` with a mask of ``paths`` (None: no mask)."""
    request = pb.UpdateCalendarRequest(calendar=calendar)
    if paths is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return stub.UpdateCalendar(request, metadata=writes, timeout=10)


def delete(stub: Stub, writes: Metadata, name: str, etag: str = "") -> None:
    """DeleteCalendar of ``name``, conditional on ``etag`` when given."""
    stub.DeleteCalendar(pb.DeleteCalendarRequest(name=name, etag=etag), metadata=writes, timeout=10)


def is_business(stub: Stub, calendar: str, day: str) -> pb.IsBusinessDayResponse:
    """IsBusinessDay of ``day`` on ``calendar``."""
    return stub.IsBusinessDay(pb.IsBusinessDayRequest(calendar=calendar, date=ymd(day)), timeout=10)


def every_calendar(stub: Stub, page_size: int) -> Iterator[pb.ListCalendarsResponse]:
    """Every page of ListCalendars with ``page_size``, following the tokens."""
    token = ""
    while True:
        page = stub.ListCalendars(
            pb.ListCalendarsRequest(page_size=page_size, page_token=token), timeout=10
        )
        yield page
        token = page.next_page_token
        if not token:
            return


def test_custom_calendar_answers_business_day_questions(stub: Stub, writes: Metadata) -> None:
    """A new calendar has its bases' holidays and its extra ones, not the removed; its weekend."""
    create(stub, writes)
    name = "calendars/acme"
    eve = is_business(stub, name, "2026-12-24")
    assert (eve.business_day, eve.weekend) == (False, False)
    assert [(iso(h.date), h.name, h.observed) for h in eve.holidays] == [
        ("2026-12-24", "Christmas Eve", False)
    ]
    thanksgiving = is_business(stub, name, "2026-11-26")
    assert (thanksgiving.business_day, list(thanksgiving.holidays)) == (True, [])
    friday = is_business(stub, name, "2026-07-10")
    assert (friday.business_day, friday.weekend) == (False, True)
    assert is_business(stub, name, "2026-07-12").business_day  # a Sunday
    observed = is_business(stub, name, "2026-07-03")
    assert (observed.business_day, observed.weekend) == (False, True)
    assert [h.name for h in observed.holidays] == ["Independence Day (observed)"]

    days_off = (set(holidays.country_holidays("US", years=2026)) | {date(2026, 12, 24)}) - {
        date(2026, 11, 26)
    }
    busdays = np.busdaycalendar(weekmask="1111001", holidays=sorted(days_off))
    for start, end in [("2026-01-01", "2027-01-01"), ("2026-06-15", "2026-12-31")]:
        request = pb.CountBusinessDaysRequest(
            calendar=name, start_date=ymd(start), end_date=ymd(end)
        )
        expected = int(np.busday_count(start, end, busdaycal=busdays))
        assert stub.CountBusinessDays(request, timeout=10).business_days == expected
    listed = stub.ListHolidays(
        pb.ListHolidaysRequest(
            calendar=name, start_date=ymd("2026-01-01"), end_date=ymd("2026-12-31")
        ),
        timeout=10,
    )
    assert [iso(h.date) for h in listed.holidays] == sorted(day.isoformat() for day in days_off)
    added = stub.AddBusinessDays(
        pb.AddBusinessDaysRequest(calendar=name, date=ymd("2026-12-23"), days=1), timeout=10
    )
    assert iso(added.date) == "2026-12-27"  # past Christmas Eve, Christmas and Saturday
    adjusted = stub.AdjustToBusinessDay(
        pb.AdjustToBusinessDayRequest(calendar=name, date=ymd("2026-07-10")), timeout=10
    )
    assert iso(adjusted.date) == "2026-07-12"


def test_get_returns_what_create_stored(stub: Stub, writes: Metadata) -> None:
    """Create answers the stored calendar, as Get does: its fields, an etag and its times."""
    created = create(stub, writes)
    assert created.name == "calendars/acme"
    assert created.etag
    assert created.HasField("create_time")
    assert created.update_time == created.create_time
    assert (created.builtin, created.data_version) == (False, "")
    mine = acme()
    assert (created.display_name, list(created.base_calendars)) == ("Acme Corp", [US])
    assert list(created.weekend_days) == [FRIDAY, SATURDAY]
    assert list(created.extra_holidays) == list(mine.extra_holidays)
    assert list(created.removed_holidays) == list(mine.removed_holidays)
    assert get(stub, "calendars/acme") == created


def test_create_ignores_output_fields_and_normalises_lists(stub: Stub, writes: Metadata) -> None:
    """Name, etag and builtin on input are ignored; lists come back sorted, each entry once."""
    calendar = pb.Calendar(
        name="calendars/other",
        etag='"9-0000000000000000"',
        builtin=True,
        data_version="0.1",
        base_calendars=[US, "calendars/XNYS", US],
        extra_holidays=[
            pb.Holiday(date=ymd("2026-12-31"), name="New Year's Eve", observed=True),
            pb.Holiday(date=ymd("2026-12-24"), name="  Christmas Eve  "),
        ],
        removed_holidays=[ymd("2026-11-26"), ymd("2026-01-01"), ymd("2026-11-26")],
    )
    created = create(stub, writes, "plain", calendar)
    assert (created.name, created.builtin, created.data_version) == ("calendars/plain", False, "")
    assert created.etag != calendar.etag
    assert list(created.base_calendars) == [US, "calendars/XNYS"]
    assert list(created.weekend_days) == [SATURDAY, SUNDAY]  # the default weekend
    assert [(iso(h.date), h.name, h.observed) for h in created.extra_holidays] == [
        ("2026-12-24", "Christmas Eve", False),
        ("2026-12-31", "New Year's Eve", False),
    ]
    assert [iso(day) for day in created.removed_holidays] == ["2026-01-01", "2026-11-26"]
    with pytest.raises(grpc.RpcError) as caught:
        get(stub, "calendars/other")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@sqlite_only
def test_get_builtin_calendar(stub: Stub) -> None:
    """A built-in calendar is read-only data of the holidays package: no etag, no times."""
    calendar = get(stub, US)
    assert calendar.name == US
    assert calendar.display_name == "United States of America"
    assert (calendar.builtin, calendar.data_version) == (
        True,
        importlib.metadata.version("holidays"),
    )
    assert list(calendar.weekend_days) == [SATURDAY, SUNDAY]
    assert calendar.etag == ""
    assert not calendar.HasField("create_time")
    assert not calendar.HasField("update_time")


@sqlite_only
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("calendars/ZZ", grpc.StatusCode.NOT_FOUND),
        ("calendars/nosuch", grpc.StatusCode.NOT_FOUND),
        ("US", grpc.StatusCode.INVALID_ARGUMENT),
        ("calendars/Bad_Id", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_get_unknown_or_malformed_name(stub: Stub, name: str, code: grpc.StatusCode) -> None:
    """Get of a name naming nothing is NOT_FOUND; of a malformed one INVALID_ARGUMENT on `name`."""
    error = refused(lambda: get(stub, name))
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert_invalid_argument(error, "name", "INVALID_CALENDAR_NAME")
    else:
        assert (error.code, error.reasons) == (code, ["CALENDAR_NOT_FOUND"])


def test_list_pages_builtins_then_customs(stub: Stub, writes: Metadata) -> None:
    """Whatever the page size, the pages hold every built-in calendar by name, then the customs."""
    for calendar_id in ("zeta", "alpha", "mid-1"):
        create(stub, writes, calendar_id, pb.Calendar(display_name=calendar_id))
    builtins = list(holiday_calendars.builtin_names())
    customs = ["calendars/alpha", "calendars/mid-1", "calendars/zeta"]
    # 460 and 920 end a page exactly where the built-in calendars end; 461 splits the customs.
    for page_size in (300, 460, 461, 919, 920, 1000, 5000):
        pages = list(every_calendar(stub, page_size))
        listed = [calendar for page in pages for calendar in page.calendars]
        assert all(len(page.calendars) <= min(page_size, 1000) for page in pages)
        assert [calendar.name for calendar in listed] == builtins + customs, page_size
        assert [calendar.builtin for calendar in listed] == [True] * len(builtins) + [False] * 3
        assert all(calendar.etag for calendar in listed[len(builtins) :])
    assert len(builtins) == len(set(builtins))
    first = next(every_calendar(stub, 0))
    assert len(first.calendars) == 100  # the default page size
    assert [calendar.name for calendar in next(every_calendar(stub, 5000)).calendars] == (
        builtins + customs
    )[:1000]
    assert get(stub, "calendars/mid-1") == listed[len(builtins) + 1]


def test_list_with_no_custom_calendars(stub: Stub) -> None:
    """With no custom calendar, the listing is exactly the built-in ones."""
    listed = [c.name for page in every_calendar(stub, 1000) for c in page.calendars]
    assert listed == list(holiday_calendars.builtin_names())


@sqlite_only
@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (pb.ListCalendarsRequest(page_size=-1), "page_size", "PAGE_SIZE_NEGATIVE"),
        (pb.ListCalendarsRequest(page_token="bogus"), "page_token", "INVALID_PAGE_TOKEN"),
        (pb.ListCalendarsRequest(page_token="Yjo5OTk5"), "page_token", "INVALID_PAGE_TOKEN"),
    ],
    ids=["negative-size", "foreign-token", "offset-past-the-end"],
)
def test_list_refuses_bad_paging(
    stub: Stub, request_: pb.ListCalendarsRequest, field: str, reason: str
) -> None:
    """A negative page size or a token this server never issued is INVALID_ARGUMENT."""
    assert_invalid_argument(
        refused(lambda: stub.ListCalendars(request_, timeout=10)), field, reason
    )


def test_update_changes_only_the_masked_fields(stub: Stub, writes: Metadata) -> None:
    """Only the fields update_mask names change; the etag and update time move on, the rest stay."""
    created = create(stub, writes)
    change = pb.Calendar(
        name="calendars/acme",
        display_name="Acme Incorporated",
        weekend_days=[SATURDAY, SUNDAY],
        base_calendars=["calendars/XNYS"],
    )
    renamed = update(stub, writes, change, ["display_name"])
    assert renamed.display_name == "Acme Incorporated"
    assert renamed.etag != created.etag
    assert renamed.create_time == created.create_time
    assert renamed.update_time.ToDatetime() >= created.update_time.ToDatetime()
    unchanged = ("base_calendars", "weekend_days", "extra_holidays", "removed_holidays")
    for field in unchanged:
        assert getattr(renamed, field) == getattr(created, field), field
    assert is_business(stub, "calendars/acme", "2026-07-10").weekend  # still Friday-Saturday

    change.etag = renamed.etag
    moved = update(stub, writes, change, ["weekend_days", "base_calendars"])
    assert list(moved.weekend_days) == [SATURDAY, SUNDAY]
    assert list(moved.base_calendars) == ["calendars/XNYS"]
    assert moved.extra_holidays == created.extra_holidays
    assert moved.etag not in (created.etag, renamed.etag)
    # The next call sees the change: Friday is a business day now, Good Friday (XNYS) is not.
    assert is_business(stub, "calendars/acme", "2026-07-10").business_day
    assert not is_business(stub, "calendars/acme", "2026-04-03").business_day
    assert get(stub, "calendars/acme") == moved


def test_update_with_star_replaces_every_field(stub: Stub, writes: Metadata) -> None:
    """A mask of "*" replaces every field: those left unset take their defaults."""
    create(stub, writes)
    replaced = update(stub, writes, pb.Calendar(name="calendars/acme", display_name="Bare"), ["*"])
    assert replaced.display_name == "Bare"
    assert list(replaced.base_calendars) == []
    assert list(replaced.weekend_days) == [SATURDAY, SUNDAY]
    assert (list(replaced.extra_holidays), list(replaced.removed_holidays)) == ([], [])
    assert is_business(stub, "calendars/acme", "2026-12-25").business_day


@pytest.mark.parametrize("paths", [None, []], ids=["no-mask", "empty-mask"])
def test_update_without_a_mask_changes_the_fields_set(
    stub: Stub, writes: Metadata, paths: list[str] | None
) -> None:
    """No mask (AIP-134) changes the fields the calendar sets and keeps every other one."""
    created = create(stub, writes)
    renamed = update(stub, writes, pb.Calendar(name="calendars/acme", display_name="Bare"), paths)
    assert renamed.display_name == "Bare"
    for field in ("base_calendars", "weekend_days", "extra_holidays", "removed_holidays"):
        assert getattr(renamed, field) == getattr(created, field), field
    moved = update(
        stub, writes, pb.Calendar(name="calendars/acme", weekend_days=[SATURDAY, SUNDAY]), paths
    )
    assert (moved.display_name, list(moved.weekend_days)) == ("Bare", [SATURDAY, SUNDAY])
    assert moved.base_calendars == created.base_calendars


def test_update_with_a_stale_etag_is_aborted(stub: Stub, writes: Metadata) -> None:
    """An update carrying an etag the calendar no longer has is ABORTED and changes nothing."""
    created = create(stub, writes)
    current = update(stub, writes, pb.Calendar(name=created.name, display_name="One"), ["*"])
    stale = pb.Calendar(name=created.name, display_name="Two", etag=created.etag)
    error = refused(lambda: update(stub, writes, stale, ["display_name"]))
    assert (error.code, error.reasons) == (grpc.StatusCode.ABORTED, ["ETAG_MISMATCH"])
    assert current.etag in error.message
    assert get(stub, created.name) == current
    foreign = pb.Calendar(name=created.name, display_name="Two", etag="not-an-etag")
    error = refused(lambda: update(stub, writes, foreign, ["display_name"]))
    assert error.code == grpc.StatusCode.ABORTED
    assert get(stub, created.name) == current


def test_update_of_a_missing_calendar_is_not_found(stub: Stub, writes: Metadata) -> None:
    """An update of a custom calendar that does not exist is NOT_FOUND."""
    error = refused(lambda: update(stub, writes, pb.Calendar(name="calendars/ghost"), ["*"]))
    assert (error.code, error.reasons) == (grpc.StatusCode.NOT_FOUND, ["CALENDAR_NOT_FOUND"])


@sqlite_only
def test_builtin_calendars_are_read_only(stub: Stub, writes: Metadata) -> None:
    """Changing a built-in calendar is FAILED_PRECONDITION; changing an unknown one, NOT_FOUND."""
    for call in (
        lambda: update(stub, writes, pb.Calendar(name=US, display_name="Mine"), ["display_name"]),
        lambda: delete(stub, writes, US),
    ):
        error = refused(call)
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION, error
        assert error.reasons == ["BUILTIN_CALENDAR_READ_ONLY"]
        assert "base_calendars" in error.message
    for call in (
        lambda: update(stub, writes, pb.Calendar(name="calendars/ZZ"), ["display_name"]),
        lambda: delete(stub, writes, "calendars/ZZ"),
    ):
        error = refused(call)
        assert (error.code, error.reasons) == (grpc.StatusCode.NOT_FOUND, ["CALENDAR_NOT_FOUND"])
    assert get(stub, US).display_name == "United States of America"


def test_delete_with_etags(stub: Stub, writes: Metadata) -> None:
    """Delete with a stale etag is ABORTED; with the current one it deletes; then NOT_FOUND."""
    created = create(stub, writes)
    current = update(stub, writes, pb.Calendar(name=created.name, display_name="x"), ["*"])
    error = refused(lambda: delete(stub, writes, created.name, created.etag))
    assert (error.code, error.reasons) == (grpc.StatusCode.ABORTED, ["ETAG_MISMATCH"])
    assert get(stub, created.name) == current
    delete(stub, writes, created.name, current.etag)
    for call in (
        lambda: get(stub, created.name),
        lambda: delete(stub, writes, created.name),
        lambda: is_business(stub, created.name, "2026-07-10"),
    ):
        error = refused(call)
        assert (error.code, error.reasons) == (grpc.StatusCode.NOT_FOUND, ["CALENDAR_NOT_FOUND"])
    # The id is free again; the new calendar takes none of the old one's etags.
    again = create(stub, writes)
    assert again.etag not in (created.etag, current.etag)
    delete(stub, writes, again.name)  # no etag: unconditional
    assert refused(lambda: get(stub, again.name)).code == grpc.StatusCode.NOT_FOUND


def test_taken_id_already_exists(stub: Stub, writes: Metadata) -> None:
    """A create with an id another calendar has is ALREADY_EXISTS and changes nothing."""
    created = create(stub, writes)
    error = refused(lambda: create(stub, writes, calendar=pb.Calendar(display_name="Other")))
    assert (error.code, error.reasons) == (
        grpc.StatusCode.ALREADY_EXISTS,
        ["CALENDAR_ALREADY_EXISTS"],
    )
    assert "calendars/acme" in error.message
    assert get(stub, "calendars/acme") == created


def test_a_retried_create_returns_the_first_calendar(stub: Stub, writes: Metadata) -> None:
    """The same request_id twice gives the same calendar, etag and create time, and no error."""
    request_id = str(uuid.uuid4())
    first = create(stub, writes, request_id=request_id)
    again = create(stub, writes, request_id=request_id)
    assert again == first
    # Even after a change, the retry answers what the first create made, and makes nothing.
    update(stub, writes, pb.Calendar(name=first.name, display_name="Changed"), ["display_name"])
    assert create(stub, writes, request_id=request_id) == first
    assert get(stub, first.name).display_name == "Changed"
    other = refused(lambda: create(stub, writes, request_id=str(uuid.uuid4())))
    assert other.code == grpc.StatusCode.ALREADY_EXISTS


@sqlite_only
@pytest.mark.parametrize("calendar_id", ["Acme", "-x", "a" * 64, "", "x-", "a_b", "1abc", "é"])
def test_malformed_calendar_id_is_invalid(stub: Stub, writes: Metadata, calendar_id: str) -> None:
    """An id that is not 1-63 lower-case letters, digits and hyphens names `calendar_id`."""
    error = refused(lambda: create(stub, writes, calendar_id))
    assert_invalid_argument(error, "calendar_id", "INVALID_CALENDAR_ID")


@sqlite_only
def test_longest_and_shortest_ids_are_accepted(stub: Stub, writes: Metadata) -> None:
    """Ids of 63 characters and of one letter are fine."""
    for calendar_id in ("a" * 62 + "9", "q"):
        assert create(stub, writes, calendar_id).name == f"calendars/{calendar_id}"


def _weekdays(*days: int) -> pb.Calendar:
    return pb.Calendar(weekend_days=days)


INVALID_CALENDARS = [
    (
        pb.Calendar(base_calendars=["calendars/ZZ"]),
        "calendar.base_calendars[0]",
        "UNKNOWN_BASE_CALENDAR",
    ),
    (pb.Calendar(base_calendars=[US, "US"]), "calendar.base_calendars[1]", "UNKNOWN_BASE_CALENDAR"),
    (
        pb.Calendar(base_calendars=["calendars/acme"]),
        "calendar.base_calendars[0]",
        "UNKNOWN_BASE_CALENDAR",
    ),
    (pb.Calendar(base_calendars=[US] * 21), "calendar.base_calendars", "TOO_MANY_BASE_CALENDARS"),
    (
        pb.Calendar(extra_holidays=[pb.Holiday(date=ymd("2026-02-30"), name="Nope")]),
        "calendar.extra_holidays[0].date",
        "INVALID_DATE",
    ),
    (
        pb.Calendar(
            extra_holidays=[
                pb.Holiday(date=ymd("2026-12-24"), name="Eve"),
                pb.Holiday(name="No date"),
            ]
        ),
        "calendar.extra_holidays[1].date",
        "INVALID_DATE",
    ),
    (
        pb.Calendar(extra_holidays=[pb.Holiday(date=ymd("2026-12-24"), name="  ")]),
        "calendar.extra_holidays[0].name",
        "INVALID_HOLIDAY_NAME",
    ),
    (
        pb.Calendar(extra_holidays=[pb.Holiday(date=ymd("2026-12-24"), name="x" * 201)]),
        "calendar.extra_holidays[0].name",
        "INVALID_HOLIDAY_NAME",
    ),
    (
        pb.Calendar(removed_holidays=[ymd("2026-11-26"), ymd("2026-13-01")]),
        "calendar.removed_holidays[1]",
        "INVALID_DATE",
    ),
    (_weekdays(1, 2, 3, 4, 5, 6, 7), "calendar.weekend_days", "NO_BUSINESS_DAYS"),
    (_weekdays(6, 0), "calendar.weekend_days[1]", "INVALID_WEEKEND_DAY"),
    (_weekdays(8), "calendar.weekend_days[0]", "INVALID_WEEKEND_DAY"),
    (pb.Calendar(display_name="x" * 201), "calendar.display_name", "DISPLAY_NAME_TOO_LONG"),
]


@sqlite_only
@pytest.mark.parametrize(("calendar", "field", "reason"), INVALID_CALENDARS)
def test_invalid_calendar_fields(
    stub: Stub, writes: Metadata, calendar: pb.Calendar, field: str, reason: str
) -> None:
    """Each bad field of a calendar is INVALID_ARGUMENT naming it, on create and on update."""
    assert_invalid_argument(refused(lambda: create(stub, writes, "bad", calendar)), field, reason)
    assert refused(lambda: get(stub, "calendars/bad")).code == grpc.StatusCode.NOT_FOUND
    created = create(stub, writes, "good", pb.Calendar(display_name="Good"))
    calendar.name = created.name
    assert_invalid_argument(refused(lambda: update(stub, writes, calendar)), field, reason)
    assert get(stub, created.name) == created


@sqlite_only
def test_invalid_create_and_update_requests(stub: Stub, writes: Metadata) -> None:
    """No calendar, a long request_id, a bad mask path or name: each names its field."""
    no_calendar = pb.CreateCalendarRequest(calendar_id="acme")
    error = refused(lambda: stub.CreateCalendar(no_calendar, metadata=writes, timeout=10))
    assert_invalid_argument(error, "calendar", "CALENDAR_REQUIRED")
    error = refused(lambda: create(stub, writes, request_id="r" * 65))
    assert_invalid_argument(error, "request_id", "INVALID_REQUEST_ID")
    created = create(stub, writes)
    error = refused(lambda: update(stub, writes, pb.Calendar(name=created.name), ["etag"]))
    assert_invalid_argument(error, "update_mask", "INVALID_UPDATE_MASK")
    error = refused(lambda: update(stub, writes, pb.Calendar(name="acme"), ["display_name"]))
    assert_invalid_argument(error, "calendar.name", "INVALID_CALENDAR_NAME")
    error = refused(lambda: delete(stub, writes, "calendars/Acme_1"))
    assert_invalid_argument(error, "name", "INVALID_CALENDAR_NAME")
    assert get(stub, created.name) == created


@pytest.fixture
def roomy_stub(database_url: str, token_file: Path) -> Iterator[Stub]:
    """A stub of a server that takes requests of up to 1 MiB, room for 10,001 holidays."""
    options = DateOptions(database=database_url, write_token_file=token_file)
    settings = server_settings(service=options, max_request_bytes=1 << 20)
    with (
        running(SPEC, settings) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        yield pb_grpc.DateServiceStub(channel)


def test_at_most_ten_thousand_holidays(roomy_stub: Stub, writes: Metadata) -> None:
    """10,000 extra holidays are stored and used; 10,001 (or removed dates) are INVALID_ARGUMENT."""
    first = date(2000, 1, 1)
    days = [first + timedelta(days=n) for n in range(10_001)]
    extra = [pb.Holiday(date=ymd(day.isoformat()), name=f"Day {n}") for n, day in enumerate(days)]
    many = create(roomy_stub, writes, "many", pb.Calendar(extra_holidays=extra[:10_000]))
    assert len(many.extra_holidays) == 10_000
    last = is_business(roomy_stub, "calendars/many", days[9_999].isoformat())
    assert [h.name for h in last.holidays] == ["Day 9999"]
    assert is_business(roomy_stub, "calendars/many", days[10_000].isoformat()).holidays == []

    error = refused(lambda: create(roomy_stub, writes, "more", pb.Calendar(extra_holidays=extra)))
    assert_invalid_argument(error, "calendar.extra_holidays", "TOO_MANY_HOLIDAYS")
    assert "10,000" in error.message
    removed = [holiday.date for holiday in extra]
    error = refused(
        lambda: create(roomy_stub, writes, "more", pb.Calendar(removed_holidays=removed))
    )
    assert_invalid_argument(error, "calendar.removed_holidays", "TOO_MANY_HOLIDAYS")
