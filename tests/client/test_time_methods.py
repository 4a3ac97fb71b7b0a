"""TimeClient's and AsyncTimeClient's conversion, zone, transition and clock methods, for real."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import timestamp_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono_domain.kernel_clock import read_kernel_clock
from client import AsyncTimeClient, TimeClient
from client._offset import OffsetEstimate
from tests.chrono_server.helpers import assert_invalid_argument, rich_error
from tests.servers import ServerThread

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
H = timedelta(hours=1)
STATUS_NAMES = {"synchronized", "unsynchronized", "unknown"}


@pytest.fixture
def client(time_server: ServerThread) -> Iterator[TimeClient]:
    """A TimeClient of the test server, closed at the end."""
    with TimeClient(time_server.target) as client:
        yield client


@pytest.fixture
async def aclient(time_server: ServerThread) -> AsyncIterator[AsyncTimeClient]:
    """An AsyncTimeClient of the test server, closed at the end."""
    async with AsyncTimeClient(time_server.target) as client:
        yield client


def instant_of(message: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


def ns(message: timestamp_pb2.Timestamp) -> int:
    """A Timestamp in nanoseconds since the epoch."""
    return message.seconds * 1_000_000_000 + message.nanos


def at(text: str) -> datetime:
    """The UTC instant of ISO 8601 text without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


LONDON_GAP = datetime(2026, 3, 29, 1, 30)
NEW_YORK = ZoneInfo("America/New_York")


def check_skipped(response: pb.ConvertTimeResponse, answer: str) -> None:
    """``response`` is London's skipped 01:30, read as ``answer``, shown in UTC and New York."""
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_SKIPPED
    assert [instant_of(c) for c in response.candidate_times] == [
        at("2026-03-29T00:30"),
        at("2026-03-29T01:30"),
    ]
    assert instant_of(response.time) == at(answer)
    utc, new_york = response.times
    assert (utc.time_zone, new_york.time_zone) == ("UTC", "America/New_York")
    assert utc.formatted == at(answer).strftime("%Y-%m-%d %H:%M:%S")
    assert new_york.formatted == at(answer).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")
    assert new_york.abbreviation == "EDT"


def check_reading(response: pb.ReadClockResponse, before: int, after: int) -> None:
    """A ReadClock answer to a call made between wall clock readings ``before`` and ``after``."""
    assert before <= ns(response.client_transmit_time) <= ns(response.receive_time)
    assert ns(response.receive_time) <= ns(response.transmit_time) <= after
    assert response.timescale == pb.TIMESCALE_UTC
    assert response.clock_status != pb.CLOCK_STATUS_UNSPECIFIED


def check_estimate(found: OffsetEstimate, samples: int) -> None:
    """A same-host server's clock is this one: the offset is 0 within a tight bound."""
    assert found.samples == samples
    assert abs(found.offset) <= found.measurement_bound
    assert timedelta(0) < found.measurement_bound < 10 * MILLISECOND
    assert timedelta(0) < found.round_trip
    assert found.server_status in STATUS_NAMES
    kernel = read_kernel_clock()
    assert found.server_status == kernel.status.value
    if found.server_error_bound is None:
        assert found.true_time_bound is None
    else:
        assert found.true_time_bound == found.measurement_bound + found.server_error_bound
        if kernel.max_error is not None and found.server_status == "unsynchronized":
            assert found.server_error_bound == kernel.max_error


def check_interval(interval: tuple[datetime, datetime], before: datetime, after: datetime) -> None:
    """(earliest, latest) holds true time between readings ``before`` and ``after``."""
    earliest, latest = interval
    assert earliest.tzinfo is not None
    assert earliest <= latest
    assert earliest <= after
    assert before <= latest


# The blocking client.


def test_convert_civil_time_in_a_zone(client: TimeClient) -> None:
    """A naive datetime with time_zone is a civil time there, disambiguated as asked."""
    targets = ["UTC", "America/New_York"]
    response = client.convert_time(LONDON_GAP, targets, time_zone="Europe/London")
    check_skipped(response, "2026-03-29T01:30")
    response = client.convert_time(
        LONDON_GAP, targets, time_zone="Europe/London", disambiguation=pb.DISAMBIGUATION_EARLIER
    )
    check_skipped(response, "2026-03-29T00:30")


def test_convert_civil_time_at_an_offset(client: TimeClient) -> None:
    """A naive datetime with utc_offset is a civil time at that fixed offset, microseconds kept."""
    source = datetime(2026, 3, 29, 1, 30, 0, 250_000)
    response = client.convert_time(source, utc_offset=timedelta(hours=5, minutes=30))
    assert instant_of(response.time) == at("2026-03-28T20:00:00.25")
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_UNIQUE
    assert [t.time_zone for t in response.times] == ["UTC"]


@pytest.mark.parametrize(
    "source",
    [
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),
        datetime(2026, 11, 1, 1, 30, tzinfo=timezone(-5 * H)),
    ],
    ids=["utc", "zoneinfo-fold-1", "fixed-offset"],
)
def test_convert_aware_datetime_is_an_instant(client: TimeClient, source: datetime) -> None:
    """An aware datetime, in any tzinfo, is sent as the instant it is."""
    response = client.convert_time(source, ["America/New_York", "UTC"])
    assert response.local_time_kind == pb.LOCAL_TIME_KIND_UNSPECIFIED
    assert instant_of(response.time) == at("2026-11-01T06:30")
    new_york, utc = response.times
    assert (new_york.formatted, new_york.abbreviation) == ("2026-11-01 01:30:00", "EST")
    assert utc.formatted == "2026-11-01 06:30:00"


@pytest.mark.parametrize(
    ("source", "options"),
    [
        (LONDON_GAP, {}),
        (LONDON_GAP, {"time_zone": "Europe/London", "utc_offset": H}),
        (at("2026-03-29T01:30"), {"time_zone": "Europe/London"}),
        (at("2026-03-29T01:30"), {"utc_offset": H}),
    ],
    ids=["naive-without-zone", "naive-with-both", "aware-with-zone", "aware-with-offset"],
)
def test_convert_refuses_an_unclear_source(
    client: TimeClient, source: datetime, options: dict[str, object]
) -> None:
    """A naive datetime needs exactly one of time_zone and utc_offset; an aware one neither."""
    with pytest.raises(ValueError, match="exactly one of time_zone and utc_offset"):
        client.convert_time(source, **options)  # type: ignore[arg-type]


def test_convert_reject_raises_invalid_argument(client: TimeClient) -> None:
    """REJECT of a skipped time raises grpc.RpcError INVALID_ARGUMENT naming local_time."""
    with pytest.raises(grpc.RpcError) as caught:
        client.convert_time(
            LONDON_GAP, time_zone="Europe/London", disambiguation=pb.DISAMBIGUATION_REJECT
        )
    assert_invalid_argument(rich_error(caught.value), "local_time", "LOCAL_TIME_SKIPPED")


def test_get_time_zone(client: TimeClient) -> None:
    """get_time_zone describes a link: its zone, countries, and the transitions around now."""
    zone = client.get_time_zone("Europe/Kiev")
    assert (zone.time_zone, zone.canonical_time_zone) == ("Europe/Kiev", "Europe/Kyiv")
    assert list(zone.country_codes) == ["UA"]
    now = datetime.now(UTC)
    assert instant_of(zone.previous_transition.time) <= now < instant_of(zone.next_transition.time)
    local = now.astimezone(ZoneInfo("Europe/Kyiv"))
    assert zone.utc_offset.ToTimedelta() == local.utcoffset()
    assert zone.abbreviation == local.tzname()


def test_get_time_zone_unknown(client: TimeClient) -> None:
    """An unknown zone raises INVALID_ARGUMENT naming time_zone."""
    with pytest.raises(grpc.RpcError) as caught:
        client.get_time_zone("Mars/Base")
    assert_invalid_argument(rich_error(caught.value), "time_zone", "UNKNOWN_TIME_ZONE")


def test_list_time_zone_transitions(client: TimeClient) -> None:
    """Transitions in a span come in pages whose tokens chain to the whole list."""
    start, end = at("2026-01-01"), at("2031-01-01")
    whole = client.list_time_zone_transitions("Europe/London", start, end)
    assert len(whole.transitions) == 10
    assert [instant_of(c.time) for c in whole.transitions[:2]] == [
        at("2026-03-29T01:00"),
        at("2026-10-25T01:00"),
    ]
    walked: list[pb.Transition] = []
    token = ""
    while True:
        page = client.list_time_zone_transitions("Europe/London", start, end, 3, token)
        walked.extend(page.transitions)
        token = page.next_page_token
        if not token:
            break
    assert walked == list(whole.transitions)
    # Aware datetimes in any zone name the same instants.
    paris = ZoneInfo("Europe/Paris")
    same = client.list_time_zone_transitions(
        "Europe/London", start.astimezone(paris), end.astimezone(paris)
    )
    assert same == whole


def test_list_time_zone_transitions_defaults_to_the_coming_year(client: TimeClient) -> None:
    """With no span, the transitions are those of the year from now."""
    before = datetime.now(UTC)
    found = client.list_time_zone_transitions("Europe/London")
    assert len(found.transitions) == 2
    for change in found.transitions:
        assert before <= instant_of(change.time) <= before + timedelta(days=366)


def test_list_time_zone_transitions_refuses_naive_bounds(client: TimeClient) -> None:
    """A naive start or end names no instant: ValueError before any call."""
    with pytest.raises(ValueError, match="no time zone"):
        client.list_time_zone_transitions("Europe/London", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="no time zone"):
        client.list_time_zone_transitions("Europe/London", end_time=datetime(2027, 1, 1))


def test_read_clock(client: TimeClient) -> None:
    """read_clock sends the client's time and gets the server's, both inside the call."""
    before = time.time_ns()
    response = client.read_clock()
    check_reading(response, before, time.time_ns())


def test_estimate_offset(client: TimeClient) -> None:
    """Against a server on this host, 8 samples put the offset at 0 within a few ms at most."""
    check_estimate(client.estimate_offset(samples=8), 8)
    check_estimate(client.estimate_offset(samples=1), 1)


@pytest.mark.parametrize("samples", [0, -1, 65])
def test_estimate_offset_refuses_sample_counts(client: TimeClient, samples: int) -> None:
    """Fewer than 1 or more than 64 samples is a ValueError, raised before any call."""
    with pytest.raises(ValueError, match="samples must be 1 to 64"):
        client.estimate_offset(samples=samples)


def test_now_interval(client: TimeClient) -> None:
    """now_interval holds the time now, with or without an estimate given, as wide as its bound."""
    before = datetime.now(UTC)
    interval = client.now_interval()
    check_interval(interval, before, datetime.now(UTC))
    found = client.estimate_offset()
    before = datetime.now(UTC)
    interval = client.now_interval(found)
    check_interval(interval, before, datetime.now(UTC))
    bound = found.true_time_bound or found.measurement_bound
    assert interval[1] - interval[0] >= 2 * bound
    if found.true_time_bound is not None:
        now = datetime.now(UTC)
        assert interval[0] <= now <= interval[1]


# The asyncio client.


async def test_async_convert_time(aclient: AsyncTimeClient) -> None:
    """The asyncio client converts civil times and instants as the blocking one does."""
    targets = ["UTC", "America/New_York"]
    check_skipped(
        await aclient.convert_time(LONDON_GAP, targets, time_zone="Europe/London"),
        "2026-03-29T01:30",
    )
    check_skipped(
        await aclient.convert_time(
            LONDON_GAP,
            targets,
            time_zone="Europe/London",
            disambiguation=pb.DISAMBIGUATION_EARLIER,
        ),
        "2026-03-29T00:30",
    )
    source = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)
    response = await aclient.convert_time(source)
    assert instant_of(response.time) == at("2026-11-01T06:30")
    response = await aclient.convert_time(datetime(2026, 1, 1), utc_offset=-5 * H)
    assert instant_of(response.time) == at("2026-01-01T05:00")


async def test_async_convert_time_errors(aclient: AsyncTimeClient) -> None:
    """A naive source without a zone is a ValueError; REJECT of a gap is INVALID_ARGUMENT."""
    with pytest.raises(ValueError, match="exactly one of time_zone and utc_offset"):
        await aclient.convert_time(LONDON_GAP)
    with pytest.raises(grpc.RpcError) as caught:
        await aclient.convert_time(
            LONDON_GAP, time_zone="Europe/London", disambiguation=pb.DISAMBIGUATION_REJECT
        )
    assert isinstance(caught.value, grpc.aio.AioRpcError)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2026-03-29T00:30:00Z and 2026-03-29T01:30:00Z" in (caught.value.details() or "")


async def test_async_get_time_zone(aclient: AsyncTimeClient) -> None:
    """The asyncio client describes zones, and fails INVALID_ARGUMENT for an unknown one."""
    zone = await aclient.get_time_zone("US/Eastern")
    assert zone.canonical_time_zone == "America/New_York"
    assert "US" in zone.country_codes
    with pytest.raises(grpc.RpcError) as caught:
        await aclient.get_time_zone("Mars/Base")
    assert isinstance(caught.value, grpc.aio.AioRpcError)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_async_list_time_zone_transitions(aclient: AsyncTimeClient) -> None:
    """The asyncio client lists a span's transitions, page by page."""
    start, end = at("2026-01-01"), at("2027-01-01")
    first = await aclient.list_time_zone_transitions("Australia/Lord_Howe", start, end, 1)
    assert instant_of(first.transitions[0].time) == at("2026-04-04T15:00")
    second = await aclient.list_time_zone_transitions(
        "Australia/Lord_Howe", start, end, 1, first.next_page_token
    )
    assert instant_of(second.transitions[0].time) == at("2026-10-03T15:30")
    assert second.next_page_token == ""
    with pytest.raises(ValueError, match="no time zone"):
        await aclient.list_time_zone_transitions("Europe/London", datetime(2026, 1, 1))


async def test_async_read_clock(aclient: AsyncTimeClient) -> None:
    """The asyncio client's clock sample lies inside the call."""
    before = time.time_ns()
    response = await aclient.read_clock()
    check_reading(response, before, time.time_ns())


async def test_async_estimate_offset(aclient: AsyncTimeClient) -> None:
    """The asyncio client's estimate against this host is 0 within a tight bound."""
    check_estimate(await aclient.estimate_offset(samples=8), 8)
    with pytest.raises(ValueError, match="samples must be 1 to 64"):
        await aclient.estimate_offset(samples=0)


async def test_async_now_interval(aclient: AsyncTimeClient) -> None:
    """The asyncio client's interval holds the time now."""
    before = datetime.now(UTC)
    interval = await aclient.now_interval()
    check_interval(interval, before, datetime.now(UTC))
    found = await aclient.estimate_offset()
    before = datetime.now(UTC)
    check_interval(await aclient.now_interval(found), before, datetime.now(UTC))
