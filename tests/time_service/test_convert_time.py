"""ConvertTime over a real server: disambiguation, every target field against zoneinfo, errors."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import grpc
import pytest
import tzdata
from google.protobuf import timestamp_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import (
    assert_invalid_argument,
    package_zone,
    package_zone_names,
    rich_error,
    tracebacks_and_errors,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL_NAMES = package_zone_names()


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The package's zone ``name``, read once."""
    return package_zone(name)


def civil_request(
    text: str,
    source_zone: str | None = None,
    *,
    offset: timedelta | None = None,
    targets: tuple[str, ...] = (),
    disambiguation: pb.Disambiguation.ValueType = pb.DISAMBIGUATION_UNSPECIFIED,
) -> pb.ConvertTimeRequest:
    """A request converting the civil time ``text`` (ISO 8601) in a zone or at an offset."""
    civil = datetime.fromisoformat(text)
    request = pb.ConvertTimeRequest(time_zones=list(targets), disambiguation=disambiguation)
    local = request.local_time
    local.year, local.month, local.day = civil.year, civil.month, civil.day
    local.hours, local.minutes, local.seconds = civil.hour, civil.minute, civil.second
    local.nanos = civil.microsecond * 1000
    if source_zone is not None:
        local.time_zone.id = source_zone
    if offset is not None:
        local.utc_offset.FromTimedelta(offset)
    return request


def instant_request(instant: datetime, targets: list[str]) -> pb.ConvertTimeRequest:
    """A request showing the aware ``instant`` in ``targets``."""
    request = pb.ConvertTimeRequest(time_zones=targets)
    request.time.CopyFrom(stamp(instant))
    return request


def stamp(instant: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp, to the microsecond."""
    since = instant - EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since // timedelta(seconds=1), nanos=since.microseconds * 1000
    )


def instant_of(message: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


def at(text: str) -> datetime:
    """The UTC instant of ISO 8601 text without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Shown:
    """A ZonedTime's fields in Python types."""

    time_zone: str
    civil: tuple[int, int, int, int, int, int, int]
    local_zone: tuple[str, str]
    has_offset: bool
    formatted: str
    utc_offset: timedelta
    abbreviation: str
    dst: bool
    dst_offset: timedelta


def shown(message: pb.ZonedTime) -> Shown:
    """The fields ``message`` carries."""
    local = message.local_time
    return Shown(
        time_zone=message.time_zone,
        civil=(
            local.year,
            local.month,
            local.day,
            local.hours,
            local.minutes,
            local.seconds,
            local.nanos,
        ),
        local_zone=(local.time_zone.id, local.time_zone.version),
        has_offset=local.HasField("utc_offset"),
        formatted=message.formatted,
        utc_offset=message.utc_offset.ToTimedelta(),
        abbreviation=message.abbreviation,
        dst=message.dst,
        dst_offset=message.dst_offset.ToTimedelta(),
    )


def expected(instant: datetime, name: str) -> Shown:
    """What zoneinfo says the wall clock of ``name`` shows at ``instant``."""
    local = instant.astimezone(zone(name))
    utc_offset, dst_offset = local.utcoffset(), local.dst()
    assert utc_offset is not None
    assert dst_offset is not None
    return Shown(
        time_zone=name,
        civil=(
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            local.microsecond * 1000,
        ),
        local_zone=(name, tzdata.IANA_VERSION),
        has_offset=False,
        # Spelt out: strftime's %Y drops the zeros of years before 1000 on glibc.
        formatted=(
            f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        ),
        utc_offset=utc_offset,
        abbreviation=local.tzname() or "",
        dst=dst_offset != timedelta(0),
        dst_offset=dst_offset,
    )


def convert(
    stub: pb_grpc.TimeServiceStub, request: pb.ConvertTimeRequest
) -> pb.ConvertTimeResponse:
    """Call ConvertTime with a short deadline."""
    return stub.ConvertTime(request, timeout=5)


def refusal(stub: pb_grpc.TimeServiceStub, request: pb.ConvertTimeRequest) -> grpc.RpcError:
    """The error ConvertTime fails ``request`` with."""
    with pytest.raises(grpc.RpcError) as caught:
        convert(stub, request)
    return caught.value


LONDON_GAP = "2026-03-29T01:30:00"
NEW_YORK_OVERLAP = "2026-11-01T01:30:00"


@pytest.mark.parametrize(
    ("text", "source", "way", "answer"),
    [
        (LONDON_GAP, "Europe/London", pb.DISAMBIGUATION_UNSPECIFIED, "2026-03-29T01:30:00"),
        (LONDON_GAP, "Europe/London", pb.DISAMBIGUATION_COMPATIBLE, "2026-03-29T01:30:00"),
        (LONDON_GAP, "Europe/London", pb.DISAMBIGUATION_EARLIER, "2026-03-29T00:30:00"),
        (LONDON_GAP, "Europe/London", pb.DISAMBIGUATION_LATER, "2026-03-29T01:30:00"),
        (NEW_YORK_OVERLAP, "America/New_York", pb.DISAMBIGUATION_UNSPECIFIED, "2026-11-01T05:30"),
        (NEW_YORK_OVERLAP, "America/New_York", pb.DISAMBIGUATION_COMPATIBLE, "2026-11-01T05:30"),
        (NEW_YORK_OVERLAP, "America/New_York", pb.DISAMBIGUATION_EARLIER, "2026-11-01T05:30"),
        (NEW_YORK_OVERLAP, "America/New_York", pb.DISAMBIGUATION_LATER, "2026-11-01T06:30"),
    ],
    ids=[
        "gap-unspecified",
        "gap-compatible",
        "gap-earlier",
        "gap-later",
        "overlap-unspecified",
        "overlap-compatible",
        "overlap-earlier",
        "overlap-later",
    ],
)
def test_disambiguation_picks_the_instant(
    pinned_stub: pb_grpc.TimeServiceStub,
    text: str,
    source: str,
    way: pb.Disambiguation.ValueType,
    answer: str,
) -> None:
    """A skipped or repeated civil time means the instant its disambiguation names."""
    response = convert(pinned_stub, civil_request(text, source, disambiguation=way))
    assert instant_of(response.time) == at(answer)
    (utc,) = response.times
    assert shown(utc) == expected(at(answer), "UTC")


def test_skipped_time_says_so_with_both_candidates(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """London's 01:30 on 2026-03-29 is SKIPPED; its candidates are 00:30Z then 01:30Z."""
    response = convert(pinned_stub, civil_request(LONDON_GAP, "Europe/London"))
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_SKIPPED
    assert [instant_of(c) for c in response.candidate_times] == [
        at("2026-03-29T00:30:00"),
        at("2026-03-29T01:30:00"),
    ]
    # The gap's far side: 02:30 BST is what London's clocks show at that instant.
    london = convert(
        pinned_stub, civil_request(LONDON_GAP, "Europe/London", targets=("Europe/London",))
    )
    assert london.times[0].formatted == "2026-03-29 02:30:00"
    assert london.times[0].abbreviation == "BST"


def test_ambiguous_time_says_so_with_both_candidates(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """New York's 01:30 on 2026-11-01 is AMBIGUOUS; its candidates are 05:30Z then 06:30Z."""
    response = convert(pinned_stub, civil_request(NEW_YORK_OVERLAP, "America/New_York"))
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_AMBIGUOUS
    assert [instant_of(c) for c in response.candidate_times] == [
        at("2026-11-01T05:30:00"),
        at("2026-11-01T06:30:00"),
    ]


@pytest.mark.parametrize(
    ("text", "source", "reason", "candidates"),
    [
        (LONDON_GAP, "Europe/London", "LOCAL_TIME_SKIPPED", ("00:30:00Z", "01:30:00Z")),
        (NEW_YORK_OVERLAP, "America/New_York", "LOCAL_TIME_AMBIGUOUS", ("05:30:00Z", "06:30:00Z")),
    ],
    ids=["skipped", "ambiguous"],
)
def test_reject_refuses_naming_both_instants(
    pinned_stub: pb_grpc.TimeServiceStub,
    caplog: pytest.LogCaptureFixture,
    text: str,
    source: str,
    reason: str,
    candidates: tuple[str, str],
) -> None:
    """REJECT fails with INVALID_ARGUMENT on local_time, naming both instants it could mean."""
    request = civil_request(text, source, disambiguation=pb.DISAMBIGUATION_REJECT)
    error = rich_error(refusal(pinned_stub, request))
    assert_invalid_argument(error, "local_time", reason)
    day = text[:10]
    assert f"{day}T{candidates[0]} and {day}T{candidates[1]}" in error.message
    assert source in error.message
    assert tracebacks_and_errors(caplog) == []


def test_unique_time_has_no_candidates(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A civil time that happens once is UNIQUE, with no candidates, even under REJECT."""
    request = civil_request(
        "2026-07-01T12:00:00", "Europe/London", disambiguation=pb.DISAMBIGUATION_REJECT
    )
    response = convert(pinned_stub, request)
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_UNIQUE
    assert list(response.candidate_times) == []
    assert instant_of(response.time) == at("2026-07-01T11:00:00")


def test_instant_source_has_no_kind(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """An instant source is answered with LOCAL_TIME_KIND_UNSPECIFIED, itself and no candidates."""
    instant = at("2026-11-01T05:30:00.123456")
    # Disambiguation does not apply to an instant: even a value out of the enum is ignored.
    request = instant_request(instant, ["America/New_York"])
    request.disambiguation = 9  # type: ignore[assignment]
    response = convert(pinned_stub, request)
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_UNSPECIFIED
    assert list(response.candidate_times) == []
    assert instant_of(response.time) == instant
    assert shown(response.times[0]) == expected(instant, "America/New_York")


def test_no_targets_means_utc(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """With no time_zones the one answer is UTC's wall clock."""
    instant = at("2026-02-03T04:05:06.7")
    (utc,) = convert(pinned_stub, instant_request(instant, [])).times
    assert shown(utc) == expected(instant, "UTC")
    assert utc.formatted == "2026-02-03 04:05:06"


def test_fixed_offset_source(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A civil time at a fixed +05:30 is the instant 5 h 30 min earlier in UTC, always unique."""
    offset = timedelta(hours=5, minutes=30)
    request = civil_request(
        "2026-03-29T01:30:00.25", offset=offset, targets=("UTC", "Asia/Kolkata", "Europe/London")
    )
    response = convert(pinned_stub, request)
    instant = at("2026-03-28T20:00:00.25")
    assert instant_of(response.time) == instant
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_UNIQUE
    assert list(response.candidate_times) == []
    assert [shown(t) for t in response.times] == [
        expected(instant, name) for name in ("UTC", "Asia/Kolkata", "Europe/London")
    ]
    assert response.times[1].formatted == "2026-03-29 01:30:00"


def test_nanos_below_a_microsecond_are_dropped(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """A civil time's nanos are truncated to the microsecond, never rounded."""
    request = civil_request("2026-06-01T00:00:00", "UTC")
    request.local_time.nanos = 123_456_999
    response = convert(pinned_stub, request)
    assert response.time.nanos == 123_456_000
    assert response.times[0].local_time.nanos == 123_456_000


def chunks(names: list[str], size: int) -> Iterator[list[str]]:
    """``names`` in consecutive lists of at most ``size``."""
    for start in range(0, len(names), size):
        yield names[start : start + size]


@pytest.mark.parametrize(
    "instant",
    [at("2026-01-15T03:04:05.678901"), at("2026-07-15T21:59:59.999999"), at("1900-06-01T12:00")],
    ids=["january", "july", "1900"],
)
def test_every_zone_at_an_instant_matches_zoneinfo(
    pinned_stub: pb_grpc.TimeServiceStub, instant: datetime
) -> None:
    """Every zone, asked 100 at a time, shows at an instant what zoneinfo says, in request order."""
    mismatches = {}
    for names in chunks(ALL_NAMES, 100):
        response = convert(pinned_stub, instant_request(instant, names))
        assert [t.time_zone for t in response.times] == names
        for message, name in zip(response.times, names, strict=True):
            if shown(message) != expected(instant, name):
                mismatches[name] = (shown(message), expected(instant, name))
    assert mismatches == {}


def test_targets_keep_request_order_and_repeats(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """Targets are answered in the order asked, a repeated zone and a link under its own name."""
    names = ["Pacific/Kiritimati", "UTC", "US/Eastern", "Europe/Kiev", "UTC", "Asia/Kathmandu"]
    instant = at("2026-06-15T12:34:56")
    response = convert(pinned_stub, instant_request(instant, names))
    assert [shown(t) for t in response.times] == [expected(instant, name) for name in names]


def offset_in(tz: ZoneInfo, moment: datetime) -> timedelta:
    """The UTC offset zoneinfo gives ``tz`` at ``moment``."""
    value = moment.astimezone(tz).utcoffset()
    assert value is not None
    return value


def first_change(tz: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first instant after ``low`` with another offset, to the second, by bisection.

    ``low`` and ``high`` are whole seconds with different offsets.
    """
    before = offset_in(tz, low)
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if offset_in(tz, middle) == before:
            low = middle
        else:
            high = middle
    return high


def changes_2026(name: str) -> list[tuple[datetime, timedelta, timedelta]]:
    """The offset changes of ``name`` in 2026 as zoneinfo has them: (instant, before, after).

    Month starts are compared, then the days of a month whose offset moved, then the
    change is found to the second; a change undone within a month or a day is missed.
    """
    tz = zone(name)
    found = []
    months = [at(f"2026-{month:02d}-01T00:00") for month in range(1, 13)] + [at("2027-01-01")]
    for start, end in itertools.pairwise(months):
        if offset_in(tz, start) == offset_in(tz, end):
            continue
        day = start
        while day < end:
            following = day + timedelta(days=1)
            if offset_in(tz, day) != offset_in(tz, following):
                change = first_change(tz, day, following)
                found.append((change, offset_in(tz, day), offset_in(tz, change)))
            day = following
    return found


def oracle(civil: datetime, name: str) -> tuple[int, datetime, list[datetime]]:
    """Kind, COMPATIBLE instant and candidates of ``civil`` in ``name``, by PEP 495's fold."""
    tz = zone(name)
    first = civil.replace(tzinfo=tz, fold=0)
    second = civil.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return pb.LOCAL_TIME_KIND_UNIQUE, first.astimezone(UTC), []
    both = sorted([first.astimezone(UTC), second.astimezone(UTC)])
    # fold=0 reads a gap or an overlap with the offset from before the change: the
    # compatible answer in both (forward through a gap, the first of an overlap).
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == civil
    kind = pb.LOCAL_TIME_KIND_AMBIGUOUS if round_trip else pb.LOCAL_TIME_KIND_SKIPPED
    return kind, first.astimezone(UTC), both


def walls_near(
    change: datetime, before: timedelta, after: timedelta, *, full: bool
) -> list[datetime]:
    """Wall times (naive) at the edges of what an offset change skips or repeats.

    With ``full``, also a minute before, the middle and the first wall time after.
    """
    low, high = sorted([before, after])
    walls = [change + low, change + high - timedelta(seconds=1)]
    if full:
        walls += [change + low - timedelta(minutes=1), change + (low + high) / 2, change + high]
    return [wall.replace(tzinfo=None, microsecond=0) for wall in walls]


def test_civil_times_around_every_2026_change_match_zoneinfo(
    pinned_stub: pb_grpc.TimeServiceStub,
) -> None:
    """Around each 2026 offset change of every zone, kind, instant and candidates match fold.

    Both edges of every gap and overlap are asked for each zone; the zone first seen
    with a given set of changes is also asked just outside and in the middle of each.
    """
    seen: set[tuple[tuple[datetime, timedelta, timedelta], ...]] = set()
    checked = 0
    mismatches = {}
    for name in ALL_NAMES:
        changes = changes_2026(name)
        first_of_its_kind = tuple(changes) not in seen
        seen.add(tuple(changes))
        for change, before, after in changes:
            for civil in walls_near(change, before, after, full=first_of_its_kind):
                response = convert(pinned_stub, civil_request(civil.isoformat(), name))
                got = (
                    response.local_time_kind,
                    instant_of(response.time),
                    [instant_of(c) for c in response.candidate_times],
                )
                checked += 1
                if got != oracle(civil, name):
                    mismatches[(name, civil.isoformat())] = (got, oracle(civil, name))
    assert mismatches == {}
    # The sample is broad: most of the world's DST zones change twice a year.
    assert checked > 500


def with_civil(**fields: int) -> pb.ConvertTimeRequest:
    """A UTC civil-time request with the DateTime ``fields`` set as given (even if invalid)."""
    request = civil_request("2026-01-15T10:20:30", "UTC")
    for name, value in fields.items():
        setattr(request.local_time, name, value)
    return request


def no_zone() -> pb.ConvertTimeRequest:
    """A civil time with neither a zone nor an offset."""
    request = civil_request("2026-01-15T10:20:30")
    assert request.local_time.WhichOneof("time_offset") is None
    return request


def empty_zone() -> pb.ConvertTimeRequest:
    """A civil time whose zone is set but has an empty id."""
    request = civil_request("2026-01-15T10:20:30")
    request.local_time.time_zone.SetInParent()
    return request


def unknown_disambiguation() -> pb.ConvertTimeRequest:
    """A civil time with a disambiguation number the enum does not have."""
    request = civil_request(LONDON_GAP, "Europe/London")
    request.disambiguation = 9  # type: ignore[assignment]
    return request


def instant_with(
    seconds: int, nanos: int = 0, targets: tuple[str, ...] = ()
) -> pb.ConvertTimeRequest:
    """An instant source with a raw Timestamp."""
    request = pb.ConvertTimeRequest(time_zones=list(targets))
    request.time.seconds, request.time.nanos = seconds, nanos
    return request


YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z, the first instant past 9999

BAD_REQUESTS = [
    pytest.param(with_civil(month=13), "local_time.month", "INVALID_LOCAL_TIME", id="month-13"),
    pytest.param(with_civil(month=0), "local_time.month", "INVALID_LOCAL_TIME", id="month-0"),
    pytest.param(
        with_civil(month=2, day=30), "local_time.day", "INVALID_LOCAL_TIME", id="february-30"
    ),
    pytest.param(
        with_civil(year=2025, month=2, day=29),
        "local_time.day",
        "INVALID_LOCAL_TIME",
        id="february-29-of-a-common-year",
    ),
    pytest.param(with_civil(day=0), "local_time.day", "INVALID_LOCAL_TIME", id="day-0"),
    pytest.param(with_civil(hours=24), "local_time.hours", "INVALID_LOCAL_TIME", id="hour-24"),
    pytest.param(
        with_civil(minutes=-1), "local_time.minutes", "INVALID_LOCAL_TIME", id="negative-minutes"
    ),
    pytest.param(
        with_civil(seconds=60), "local_time.seconds", "INVALID_LOCAL_TIME", id="leap-second"
    ),
    pytest.param(
        with_civil(nanos=1_000_000_000), "local_time.nanos", "INVALID_LOCAL_TIME", id="nanos-1e9"
    ),
    pytest.param(with_civil(nanos=-1), "local_time.nanos", "INVALID_LOCAL_TIME", id="nanos-neg"),
    pytest.param(with_civil(year=0), "local_time.year", "INVALID_LOCAL_TIME", id="year-0"),
    pytest.param(with_civil(year=10000), "local_time.year", "INVALID_LOCAL_TIME", id="year-1e4"),
    pytest.param(no_zone(), "local_time.time_zone", "LOCAL_TIME_ZONE_REQUIRED", id="no-zone"),
    pytest.param(
        empty_zone(), "local_time.time_zone.id", "LOCAL_TIME_ZONE_REQUIRED", id="empty-zone-id"
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", "Mars/Base"),
        "local_time.time_zone.id",
        "UNKNOWN_TIME_ZONE",
        id="unknown-source-zone",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", "europe/london"),
        "local_time.time_zone.id",
        "UNKNOWN_TIME_ZONE",
        id="wrong-case-source-zone",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", "UTC", targets=("Europe/Paris", "Mars/Base")),
        "time_zones[1]",
        "UNKNOWN_TIME_ZONE",
        id="unknown-target-zone",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", "UTC", targets=("Europe/Paris", "Z" * 129)),
        "time_zones[1]",
        "TIME_ZONE_TOO_LONG",
        id="overlong-target-zone",
    ),
    pytest.param(
        pb.ConvertTimeRequest(time_zones=["UTC"]), "source", "SOURCE_REQUIRED", id="no-source"
    ),
    pytest.param(
        instant_with(0, targets=("UTC",) * 101),
        "time_zones",
        "TOO_MANY_TIME_ZONES",
        id="101-targets",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", offset=timedelta(hours=19)),
        "local_time.utc_offset",
        "INVALID_UTC_OFFSET",
        id="offset-19h",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", offset=timedelta(hours=-18, seconds=-1)),
        "local_time.utc_offset",
        "INVALID_UTC_OFFSET",
        id="offset-minus-18h-1s",
    ),
    pytest.param(
        civil_request("2026-01-15T10:20:30", offset=timedelta(hours=1, milliseconds=1)),
        "local_time.utc_offset",
        "INVALID_UTC_OFFSET",
        id="offset-not-whole-seconds",
    ),
    pytest.param(
        unknown_disambiguation(), "disambiguation", "UNKNOWN_ENUM_VALUE", id="disambiguation-9"
    ),
    pytest.param(instant_with(0, 1_000_000_000), "time", "INVALID_TIME", id="instant-nanos-1e9"),
    pytest.param(instant_with(YEAR_10000), "time", "TIME_OUT_OF_RANGE", id="instant-year-10000"),
    pytest.param(
        instant_with(YEAR_10000 - 3600, targets=("UTC", "Asia/Tokyo")),
        "time_zones[1]",
        "TIME_OUT_OF_RANGE",
        id="target-wall-clock-past-9999",
    ),
    pytest.param(
        civil_request("0001-01-01T00:00:00", "Asia/Tokyo"),
        "local_time",
        "LOCAL_TIME_OUT_OF_RANGE",
        id="civil-time-before-year-1",
    ),
    pytest.param(
        civil_request("9999-12-31T23:00:00", "America/New_York"),
        "local_time",
        "LOCAL_TIME_OUT_OF_RANGE",
        id="civil-time-after-9999",
    ),
]


@pytest.mark.parametrize(("request_", "field", "reason"), BAD_REQUESTS)
def test_bad_request_names_the_field(
    pinned_stub: pb_grpc.TimeServiceStub,
    caplog: pytest.LogCaptureFixture,
    request_: pb.ConvertTimeRequest,
    field: str,
    reason: str,
) -> None:
    """Each bad request fails with INVALID_ARGUMENT, BadRequest naming its field, and ErrorInfo."""
    error = rich_error(refusal(pinned_stub, request_))
    assert_invalid_argument(error, field, reason)
    assert tracebacks_and_errors(caplog) == []


def test_edges_of_the_range_convert(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """The first and last representable instants convert, and so do civil times just inside."""
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    for instant in (first, last):
        (utc,) = convert(pinned_stub, instant_request(instant, ["UTC"])).times
        assert shown(utc) == expected(instant, "UTC")
    # Tokyo kept its local mean time, +09:18:59, until 1887.
    response = convert(pinned_stub, civil_request("0001-01-01T09:18:59", "Asia/Tokyo"))
    assert instant_of(response.time) == first
    east = timezone(timedelta(hours=-5))
    response = convert(pinned_stub, civil_request("9999-12-31T18:59:59", "Etc/GMT+5"))
    assert instant_of(response.time) == datetime(9999, 12, 31, 18, 59, 59, tzinfo=east)
