"""GetTime and WatchTime fields, at pinned instants, against zoneinfo and known values."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from google.protobuf import duration_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import PinnedServer, package_zone, package_zone_names

Response = pb.GetTimeResponse | pb.WatchTimeResponse
Rpc = Literal["GetTime", "WatchTime"]


@dataclass(frozen=True)
class Civil:
    """The civil-time fields of a response, in Python types."""

    time_zone: str
    formatted: str
    utc_offset: timedelta
    abbreviation: str
    dst: bool
    dst_offset: timedelta


def civil(response: Response) -> Civil:
    """The civil-time fields ``response`` carries."""
    return Civil(
        time_zone=response.time_zone,
        formatted=response.formatted,
        utc_offset=response.utc_offset.ToTimedelta(),
        abbreviation=response.abbreviation,
        dst=response.dst,
        dst_offset=response.dst_offset.ToTimedelta(),
    )


def from_zoneinfo(instant: datetime, name: str) -> Civil:
    """The civil-time fields for ``instant`` in zone ``name``, computed here with zoneinfo."""
    local = instant.astimezone(package_zone(name))
    utc_offset = local.utcoffset()
    dst_offset = local.dst()
    assert utc_offset is not None
    assert dst_offset is not None
    return Civil(
        time_zone=name,
        formatted=(
            f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        ),
        utc_offset=utc_offset,
        abbreviation=local.tzname() or "",
        dst=dst_offset != timedelta(0),
        dst_offset=dst_offset,
    )


def ask(pinned: PinnedServer, rpc: Rpc, instant: datetime, zone: str) -> Response:
    """Pin the clock at ``instant`` and ask ``rpc`` for the time in ``zone``."""
    pinned.clock.instant = instant
    stub = pb_grpc.TimeServiceStub(pinned.channel)
    if rpc == "GetTime":
        return stub.GetTime(pb.GetTimeRequest(time_zone=zone), timeout=5)
    # An hour-long interval: the one update asked for must come at once, not at a tick.
    request = pb.WatchTimeRequest(
        time_zone=zone, interval=duration_pb2.Duration(seconds=3600), max_updates=1
    )
    (update,) = stub.WatchTime(request, timeout=5)
    return update


def at(text: str) -> datetime:
    """An aware UTC instant from ISO 8601 text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


H = timedelta(hours=1)
ZERO = timedelta(0)

# (instant, requested zone, expected civil fields), the expected values written out by hand.
KNOWN = [
    pytest.param(
        at("2026-06-15T12:34:56.789012"),
        "",
        Civil("UTC", "2026-06-15 12:34:56", ZERO, "UTC", False, ZERO),
        id="empty-zone-is-UTC",
    ),
    pytest.param(
        at("2026-06-15T12:34:56"),
        "Asia/Kathmandu",
        Civil(
            "Asia/Kathmandu",
            "2026-06-15 18:19:56",
            5 * H + timedelta(minutes=45),
            "+0545",
            False,
            ZERO,
        ),
        id="kathmandu-plus-0545",
    ),
    pytest.param(
        at("2026-03-08T06:59:59"),
        "America/New_York",
        Civil("America/New_York", "2026-03-08 01:59:59", -5 * H, "EST", False, ZERO),
        id="new-york-before-spring-forward",
    ),
    pytest.param(
        at("2026-03-08T07:00:00"),
        "America/New_York",
        Civil("America/New_York", "2026-03-08 03:00:00", -4 * H, "EDT", True, H),
        id="new-york-after-spring-forward",
    ),
    pytest.param(
        at("2026-11-01T05:59:59"),
        "America/New_York",
        Civil("America/New_York", "2026-11-01 01:59:59", -4 * H, "EDT", True, H),
        id="new-york-before-fall-back",
    ),
    pytest.param(
        at("2026-11-01T06:00:00"),
        "America/New_York",
        Civil("America/New_York", "2026-11-01 01:00:00", -5 * H, "EST", False, ZERO),
        id="new-york-after-fall-back",
    ),
    pytest.param(
        at("2026-01-15T12:00:00"),
        "Australia/Lord_Howe",
        Civil(
            "Australia/Lord_Howe", "2026-01-15 23:00:00", 11 * H, "+11", True, timedelta(minutes=30)
        ),
        id="lord-howe-half-hour-dst",
    ),
    pytest.param(
        at("2026-07-15T12:00:00"),
        "Australia/Lord_Howe",
        Civil("Australia/Lord_Howe", "2026-07-15 22:30:00", 10.5 * H, "+1030", False, ZERO),
        id="lord-howe-standard",
    ),
    # tzdata models Irish Standard Time as the summer standard and GMT as a negative
    # DST in winter; zoneinfo reports it so, and so does the server.
    pytest.param(
        at("2026-01-15T12:00:00"),
        "Europe/Dublin",
        Civil("Europe/Dublin", "2026-01-15 12:00:00", ZERO, "GMT", True, -H),
        id="dublin-winter-negative-dst",
    ),
    pytest.param(
        at("2026-07-15T12:00:00"),
        "Europe/Dublin",
        Civil("Europe/Dublin", "2026-07-15 13:00:00", H, "IST", False, ZERO),
        id="dublin-summer-standard",
    ),
    pytest.param(
        at("2026-12-31T23:30:00"),
        "Asia/Tokyo",
        Civil("Asia/Tokyo", "2027-01-01 08:30:00", 9 * H, "JST", False, ZERO),
        id="tokyo-already-next-year",
    ),
    pytest.param(
        at("2026-01-15T12:00:00"),
        "America/St_Johns",
        Civil("America/St_Johns", "2026-01-15 08:30:00", -3.5 * H, "NST", False, ZERO),
        id="st-johns-negative-half-hour",
    ),
    pytest.param(
        at("2026-01-15T12:00:00"),
        "Etc/GMT+5",
        Civil("Etc/GMT+5", "2026-01-15 07:00:00", -5 * H, "-05", False, ZERO),
        id="posix-style-inverted-sign",
    ),
    pytest.param(
        at("2026-01-15T12:00:00"),
        "US/Eastern",
        Civil("US/Eastern", "2026-01-15 07:00:00", -5 * H, "EST", False, ZERO),
        id="link-answered-under-its-own-name",
    ),
    pytest.param(
        at("2026-07-15T12:00:00"),
        "Europe/Kiev",
        Civil("Europe/Kiev", "2026-07-15 15:00:00", 3 * H, "EEST", True, H),
        id="old-link-not-canonicalised",
    ),
]


@pytest.mark.parametrize("rpc", ["GetTime", "WatchTime"])
@pytest.mark.parametrize(("instant", "zone", "expected"), KNOWN)
def test_civil_fields_match_known_values(
    pinned: PinnedServer, rpc: Rpc, instant: datetime, zone: str, expected: Civil
) -> None:
    """Every civil-time field equals the hand-written value and zoneinfo's own answer."""
    response = ask(pinned, rpc, instant, zone)
    assert civil(response) == expected
    assert civil(response) == from_zoneinfo(instant, zone or "UTC")
    assert response.current_time.ToDatetime(tzinfo=UTC) == instant


@pytest.mark.parametrize(
    "instant",
    [at("2026-01-15T03:04:05.678901"), at("2026-07-15T21:59:59.999999")],
    ids=["january", "july"],
)
def test_every_known_zone_matches_zoneinfo(pinned: PinnedServer, instant: datetime) -> None:
    """For each zone of the tzdata package, GetTime agrees with zoneinfo on every field."""
    mismatches = {}
    for name in package_zone_names():
        response = ask(pinned, "GetTime", instant, name)
        if civil(response) != from_zoneinfo(instant, name):
            mismatches[name] = (civil(response), from_zoneinfo(instant, name))
    assert mismatches == {}


@pytest.mark.parametrize("rpc", ["GetTime", "WatchTime"])
@pytest.mark.parametrize("microsecond", [0, 1, 123456, 999999])
def test_current_time_keeps_microseconds(pinned: PinnedServer, rpc: Rpc, microsecond: int) -> None:
    """current_time carries the clock's microseconds exactly; formatted truncates them."""
    instant = datetime(2026, 5, 4, 3, 2, 1, microsecond, tzinfo=UTC)
    response = ask(pinned, rpc, instant, "UTC")
    assert response.current_time.seconds == calendar.timegm(instant.utctimetuple())
    assert response.current_time.nanos == microsecond * 1000
    assert response.formatted == "2026-05-04 03:02:01"
