"""ListTimeZoneTransitions over a real server: known years, zoneinfo as oracle, spans, pages."""

from __future__ import annotations

import base64
import calendar
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
import tzdata
from google.protobuf import timestamp_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import (
    PinnedServer,
    assert_invalid_argument,
    package_zone,
    package_zone_names,
    rich_error,
    tracebacks_and_errors,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
ZERO = timedelta(0)
SECOND = timedelta(seconds=1)
ALL_NAMES = package_zone_names()


def at(text: str) -> datetime:
    """The UTC instant of ISO 8601 text without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def stamp(instant: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp, to the microsecond."""
    since = instant - EPOCH
    return timestamp_pb2.Timestamp(seconds=since // SECOND, nanos=since.microseconds * 1000)


def instant_of(message: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


def span_request(
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> pb.ListTimeZoneTransitionsRequest:
    """A request for ``name``'s transitions from ``start`` to ``end`` (None: unset)."""
    request = pb.ListTimeZoneTransitionsRequest(
        time_zone=name, page_size=page_size, page_token=page_token
    )
    if start is not None:
        request.start_time.CopyFrom(stamp(start))
    if end is not None:
        request.end_time.CopyFrom(stamp(end))
    return request


def listed(
    stub: pb_grpc.TimeServiceStub, request: pb.ListTimeZoneTransitionsRequest
) -> pb.ListTimeZoneTransitionsResponse:
    """Call ListTimeZoneTransitions with a short deadline."""
    return stub.ListTimeZoneTransitions(request, timeout=5)


def transition(
    when: str, offsets: tuple[timedelta, timedelta], names: tuple[str, str], dst: tuple[bool, bool]
) -> pb.Transition:
    """A Transition message written out by hand."""
    message = pb.Transition(
        abbreviation_before=names[0],
        abbreviation_after=names[1],
        dst_before=dst[0],
        dst_after=dst[1],
    )
    message.time.CopyFrom(stamp(at(when)))
    message.utc_offset_before.FromTimedelta(offsets[0])
    message.utc_offset_after.FromTimedelta(offsets[1])
    return message


LONDON_2026 = [
    transition("2026-03-29T01:00", (ZERO, H), ("GMT", "BST"), (False, True)),
    transition("2026-10-25T01:00", (H, ZERO), ("BST", "GMT"), (True, False)),
]
HALF = timedelta(minutes=30)
LORD_HOWE_2026 = [
    transition("2026-04-04T15:00", (11 * H, 10 * H + HALF), ("+11", "+1030"), (True, False)),
    transition("2026-10-03T15:30", (10 * H + HALF, 11 * H), ("+1030", "+11"), (False, True)),
]


def test_london_2026(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """London's 2026 has exactly its spring and autumn changes, in one page."""
    response = listed(
        pinned_stub, span_request("Europe/London", at("2026-01-01"), at("2027-01-01"))
    )
    assert list(response.transitions) == LONDON_2026
    assert response.next_page_token == ""
    assert response.tzdata_version == tzdata.IANA_VERSION


def test_lord_howe_2026(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """Lord Howe's half-hour DST starts and ends where its rule says, a half hour apart in UTC."""
    request = span_request("Australia/Lord_Howe", at("2026-01-01"), at("2027-01-01"))
    assert list(listed(pinned_stub, request).transitions) == LORD_HOWE_2026


def test_span_is_start_inclusive_end_exclusive(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A change at start is listed, one at end is not, and an empty span lists nothing."""
    spring, autumn = (instant_of(change.time) for change in LONDON_2026)
    request = span_request("Europe/London", spring, autumn)
    assert list(listed(pinned_stub, request).transitions) == LONDON_2026[:1]
    request = span_request("Europe/London", spring + timedelta(microseconds=1), autumn + SECOND)
    assert list(listed(pinned_stub, request).transitions) == LONDON_2026[1:]
    assert (
        list(listed(pinned_stub, span_request("Europe/London", spring, spring)).transitions) == []
    )


def test_default_span_is_a_year_from_now(pinned: PinnedServer) -> None:
    """Without start_time the span starts at the server's now; without end_time it is a year."""
    stub = pb_grpc.TimeServiceStub(pinned.channel)
    pinned.clock.instant = at("2026-06-01T00:00")
    response = listed(stub, span_request("Europe/London"))
    assert [instant_of(change.time) for change in response.transitions] == [
        at("2026-10-25T01:00"),
        at("2027-03-28T01:00"),
    ]
    # A start alone: the year after it.
    response = listed(stub, span_request("Europe/London", start=at("2026-01-01T00:00")))
    assert list(response.transitions) == LONDON_2026
    # An end alone: from now on. Just before 2027-03-28T01:00, that one is out.
    response = listed(stub, span_request("Europe/London", end=at("2027-03-28T00:59:59")))
    assert [instant_of(change.time) for change in response.transitions] == [at("2026-10-25T01:00")]


def pages(
    stub: pb_grpc.TimeServiceStub, request: pb.ListTimeZoneTransitionsRequest
) -> Iterator[pb.ListTimeZoneTransitionsResponse]:
    """Every page of ``request``, following the tokens."""
    while True:
        response = listed(stub, request)
        yield response
        if not response.next_page_token:
            return
        request = span_request(
            request.time_zone,
            instant_of(request.start_time),
            instant_of(request.end_time),
            request.page_size,
            response.next_page_token,
        )


@pytest.mark.parametrize("page_size", [1, 3, 9, 10, 11])
def test_pages_chain_without_duplicates(
    pinned_stub: pb_grpc.TimeServiceStub, page_size: int
) -> None:
    """Pages of London's 2026 to 2030 chain by token to exactly the one big page, in order."""
    request = span_request("Europe/London", at("2026-01-01"), at("2031-01-01"), page_size)
    walked = list(pages(pinned_stub, request))
    whole = listed(pinned_stub, span_request("Europe/London", at("2026-01-01"), at("2031-01-01")))
    assert len(whole.transitions) == 10
    assert whole.next_page_token == ""
    found = [change for page in walked for change in page.transitions]
    assert found == list(whole.transitions)
    times = [instant_of(change.time) for change in found]
    assert times == sorted(set(times))
    assert len(walked) == -(-10 // page_size)
    assert all(len(page.transitions) == page_size for page in walked[:-1])
    tokens = [page.next_page_token for page in walked]
    assert len(set(tokens)) == len(tokens)


def test_page_sizes_default_and_cap(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """Page size 0 means 100; a size over the cap gives everything of a 200-year span at once."""
    start, end = at("1900-01-01"), at("2100-01-01")
    first = listed(pinned_stub, span_request("Europe/London", start, end))
    assert len(first.transitions) == 100
    assert first.next_page_token
    everything = listed(pinned_stub, span_request("Europe/London", start, end, page_size=5000))
    assert everything.next_page_token == ""
    assert list(everything.transitions[:100]) == list(first.transitions)
    assert len(everything.transitions) == len(
        [
            c
            for page in pages(pinned_stub, span_request("Europe/London", start, end))
            for c in page.transitions
        ]
    )


@dataclass(frozen=True)
class Wall:
    """What a zone's wall clock is like at an instant: offset, abbreviation, DST flag."""

    utc_offset: timedelta
    abbreviation: str
    dst: bool


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The package's zone ``name``, read once."""
    return package_zone(name)


def wall(name: str, instant: datetime) -> Wall:
    """The wall clock of ``name`` at ``instant``, by zoneinfo."""
    local = instant.astimezone(zone(name))
    offset, dst = local.utcoffset(), local.dst()
    assert offset is not None
    assert dst is not None
    return Wall(offset, local.tzname() or "", dst != ZERO)


def change_after(name: str, low: datetime, high: datetime) -> datetime:
    """The first whole second after ``low`` whose wall clock differs from ``low``'s."""
    first = wall(name, low)
    while high - low > SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if wall(name, middle) == first:
            low = middle
        else:
            high = middle
    return high


def oracle(name: str, year: int) -> list[tuple[datetime, Wall, Wall]]:
    """The changes of ``name`` in ``year`` as zoneinfo sees them: (instant, before, after).

    Month starts are compared, then the days of a month that changed, then the change
    is found to the second. Changes undone within one month or one day are missed.
    """
    found = []
    months = [at(f"{year}-{month:02d}-01") for month in range(1, 13)] + [at(f"{year + 1}-01-01")]
    for start, end in itertools.pairwise(months):
        if wall(name, start) == wall(name, end):
            continue
        day = start
        while day < end:
            following = day + timedelta(days=1)
            if wall(name, day) != wall(name, following):
                change = change_after(name, day, following)
                found.append((change, wall(name, day), wall(name, change)))
            day = following
    return found


def as_tuples(response: pb.ListTimeZoneTransitionsResponse) -> list[tuple[datetime, Wall, Wall]]:
    """The transitions of ``response`` as (instant, before, after)."""
    return [
        (
            instant_of(change.time),
            Wall(
                change.utc_offset_before.ToTimedelta(),
                change.abbreviation_before,
                change.dst_before,
            ),
            Wall(
                change.utc_offset_after.ToTimedelta(), change.abbreviation_after, change.dst_after
            ),
        )
        for change in response.transitions
    ]


def test_every_zone_in_2026_matches_zoneinfo(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """Each zone's 2026 transitions are those zoneinfo sees, to the second, with both sides."""
    mismatches = {}
    for name in ALL_NAMES:
        response = listed(pinned_stub, span_request(name, at("2026-01-01"), at("2027-01-01")))
        if as_tuples(response) != oracle(name, 2026):
            mismatches[name] = (as_tuples(response), oracle(name, 2026))
    assert mismatches == {}


@pytest.mark.parametrize("year", [2037, 2038, 2300, 9998])
def test_rule_years_match_zoneinfo(pinned_stub: pb_grpc.TimeServiceStub, year: int) -> None:
    """Years computed from the POSIX rule, past the table and far ahead, match zoneinfo."""
    mismatches = {}
    checked = 0
    for name in ALL_NAMES:
        expected = oracle(name, year)
        if not expected:
            continue
        checked += 1
        request = span_request(name, at(f"{year}-01-01"), at(f"{year + 1}-01-01"))
        if as_tuples(listed(pinned_stub, request)) != expected:
            mismatches[name] = (as_tuples(listed(pinned_stub, request)), expected)
    assert mismatches == {}
    assert checked > 50


def test_london_2300_from_the_rule(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """In 2300 London still changes on the last Sundays of March and October at 01:00 UTC."""
    response = listed(
        pinned_stub, span_request("Europe/London", at("2300-01-01"), at("2301-01-01"))
    )
    assert [instant_of(change.time) for change in response.transitions] == [
        at("2300-03-25T01:00"),
        at("2300-10-28T01:00"),
    ]


@pytest.mark.parametrize("name", ["UTC", "Etc/GMT+5", "Asia/Tokyo"])
def test_zone_without_changes_in_the_span(pinned_stub: pb_grpc.TimeServiceStub, name: str) -> None:
    """A zone that does not change in the span answers an empty list and no token."""
    response = listed(pinned_stub, span_request(name, at("2026-01-01"), at("2027-01-01")))
    assert list(response.transitions) == []
    assert response.next_page_token == ""
    assert response.tzdata_version == tzdata.IANA_VERSION


def test_two_hundred_years_is_the_longest_span(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A span of exactly 200 years is answered."""
    request = span_request("UTC", at("1900-01-01"), at("2100-01-01"))
    assert list(listed(pinned_stub, request).transitions) == []


def token(text: str) -> str:
    """``text`` encoded the way the server encodes its page tokens' offsets."""
    return base64.urlsafe_b64encode(text.encode()).decode()


LONDON_SPAN = (at("2026-01-01"), at("2031-01-01"))

BAD_REQUESTS = [
    pytest.param(span_request(""), "time_zone", "TIME_ZONE_REQUIRED", id="no-zone"),
    pytest.param(span_request("Mars/Base"), "time_zone", "UNKNOWN_TIME_ZONE", id="unknown-zone"),
    pytest.param(
        span_request("UTC", at("1900-01-01"), at("2100-01-01T00:00:00.000001")),
        "end_time",
        "SPAN_TOO_LONG",
        id="over-200-years",
    ),
    pytest.param(
        span_request("UTC", at("2000-01-01"), at("2500-01-01")),
        "end_time",
        "SPAN_TOO_LONG",
        id="500-years",
    ),
    pytest.param(
        span_request("UTC", at("2027-01-01"), at("2026-01-01")),
        "end_time",
        "END_BEFORE_START",
        id="end-before-start",
    ),
    pytest.param(
        span_request("UTC", end=at("2026-01-01")),
        "end_time",
        "END_BEFORE_START",
        id="end-before-now",
    ),
    pytest.param(
        span_request("Europe/London", *LONDON_SPAN, page_size=-1),
        "page_size",
        "PAGE_SIZE_NEGATIVE",
        id="negative-page-size",
    ),
    pytest.param(
        span_request("Europe/London", *LONDON_SPAN, page_token="not-a-token"),
        "page_token",
        "INVALID_PAGE_TOKEN",
        id="foreign-token",
    ),
    pytest.param(
        span_request("Europe/London", *LONDON_SPAN, page_token=token("10")),
        "page_token",
        "INVALID_PAGE_TOKEN",
        id="token-past-the-end",
    ),
    pytest.param(
        span_request("Europe/London", *LONDON_SPAN, page_token=token("-1")),
        "page_token",
        "INVALID_PAGE_TOKEN",
        id="negative-token",
    ),
    pytest.param(
        span_request("UTC", at("2026-01-01"), at("2026-01-02"), page_token=token("1")),
        "page_token",
        "INVALID_PAGE_TOKEN",
        id="token-of-an-empty-list",
    ),
]


def with_raw_times(field: str, seconds: int, nanos: int) -> pb.ListTimeZoneTransitionsRequest:
    """A UTC request whose ``field`` Timestamp is set as given, even if invalid."""
    request = span_request("UTC", at("2026-01-01"), at("2027-01-01"))
    getattr(request, field).seconds = seconds
    getattr(request, field).nanos = nanos
    return request


BAD_REQUESTS += [
    pytest.param(
        with_raw_times("start_time", 0, 1_000_000_000),
        "start_time",
        "INVALID_TIME",
        id="start-nanos-1e9",
    ),
    pytest.param(
        with_raw_times("end_time", 0, -1), "end_time", "INVALID_TIME", id="end-negative-nanos"
    ),
    pytest.param(
        with_raw_times("start_time", 253_402_300_800, 0),
        "start_time",
        "TIME_OUT_OF_RANGE",
        id="start-in-year-10000",
    ),
]


@pytest.mark.parametrize(("request_", "field", "reason"), BAD_REQUESTS)
def test_bad_request_names_the_field(
    pinned: PinnedServer,
    caplog: pytest.LogCaptureFixture,
    request_: pb.ListTimeZoneTransitionsRequest,
    field: str,
    reason: str,
) -> None:
    """Each bad request fails with INVALID_ARGUMENT, BadRequest naming its field, and ErrorInfo."""
    pinned.clock.instant = at("2026-06-01T00:00")
    with pytest.raises(grpc.RpcError) as caught:
        listed(pb_grpc.TimeServiceStub(pinned.channel), request_)
    assert_invalid_argument(rich_error(caught.value), field, reason)
    assert tracebacks_and_errors(caplog) == []


def test_last_years_there_are(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A span reaching the last instant there is lists the zone's changes up to it."""
    request = span_request("Europe/London", at("9999-01-01"), at("9999-12-31T23:59:59.999999"))
    response = listed(pinned_stub, request)
    assert [instant_of(change.time) for change in response.transitions] == [
        last_sunday(9999, 3) + H,
        last_sunday(9999, 10) + H,
    ]
    assert [change.abbreviation_after for change in response.transitions] == ["BST", "GMT"]


def last_sunday(year: int, month: int) -> datetime:
    """Midnight UTC of the last Sunday of a month."""
    day = max(week[calendar.SUNDAY] for week in calendar.monthcalendar(year, month))
    return datetime(year, month, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        # 29 February: the default span ends on 1 March a year later, the limit 200 years on.
        ("2024-02-29T12:00:00Z", None, 2),
        ("2024-02-29T00:00:00Z", "2224-02-28T00:00:00Z", 400),
        # The last year there is: the default span stops at its end instead of overflowing.
        ("9999-06-01T00:00:00Z", None, 1),
    ],
    ids=["leap-day-default", "leap-day-200-years", "year-9999"],
)
def test_spans_from_awkward_starts(
    pinned_stub: pb_grpc.TimeServiceStub, start: str, end: str | None, count: int
) -> None:
    """Spans that start on 29 February or in 9999 are answered, not refused or overflowed."""
    request = pb.ListTimeZoneTransitionsRequest(time_zone="Europe/London", page_size=1000)
    request.start_time.FromJsonString(start)
    if end is not None:
        request.end_time.FromJsonString(end)
    found = pinned_stub.ListTimeZoneTransitions(request, timeout=10)
    assert len(found.transitions) == count
