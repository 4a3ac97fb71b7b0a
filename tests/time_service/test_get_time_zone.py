"""GetTimeZone over a real server with a pinned clock, against zoneinfo and the package's tables."""

from __future__ import annotations

import functools
import importlib.resources
from collections import defaultdict
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
ALL_NAMES = package_zone_names()


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The package's zone ``name``, read once."""
    return package_zone(name)


def package_text(name: str) -> str:
    """A table the tzdata package ships beside its zones."""
    return importlib.resources.files("tzdata.zoneinfo").joinpath(name).read_text("utf-8")


@functools.cache
def canonical_names() -> dict[str, str]:
    """Each known name and the zone its chain of tzdata.zi links ends at."""
    links = {}
    for line in package_text("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    found = {}
    for name in ALL_NAMES:
        target = name
        while target in links:
            target = links[target]
        found[name] = target
    return found


@functools.cache
def aliases() -> dict[str, list[str]]:
    """Each canonical zone's links, sorted."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    for name, target in sorted(canonical_names().items()):
        if name != target:
            found[target].append(name)
    return found


@functools.cache
def country_codes() -> dict[str, set[str]]:
    """Each canonical zone's countries: its zone1970.tab and zone.tab rows and its links'."""
    codes: defaultdict[str, set[str]] = defaultdict(set)
    canonical = canonical_names()
    for table in ("zone1970.tab", "zone.tab"):
        for line in package_text(table).splitlines():
            if line and not line.startswith("#"):
                countries, _, name = line.split("\t")[:3]
                codes[canonical.get(name, name)].update(countries.split(","))
    return codes


def ask(pinned: PinnedServer, name: str, instant: datetime) -> pb.TimeZone:
    """Pin the clock at ``instant`` and ask GetTimeZone for ``name``."""
    pinned.clock.instant = instant
    stub = pb_grpc.TimeServiceStub(pinned.channel)
    return stub.GetTimeZone(pb.GetTimeZoneRequest(time_zone=name), timeout=5)


def at(text: str) -> datetime:
    """The UTC instant of ISO 8601 text without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def instant_of(message: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


@dataclass(frozen=True)
class Wall:
    """What a zone's wall clock is like at one instant: offset, abbreviation, DST."""

    utc_offset: timedelta
    abbreviation: str
    dst: bool


def wall(name: str, instant: datetime) -> Wall:
    """The wall clock of ``name`` at ``instant``, by zoneinfo."""
    local = instant.astimezone(zone(name))
    offset, dst = local.utcoffset(), local.dst()
    assert offset is not None
    assert dst is not None
    return Wall(offset, local.tzname() or "", dst != ZERO)


def before(change: pb.Transition) -> Wall:
    """The wall clock a transition says was in use just before it."""
    return Wall(
        change.utc_offset_before.ToTimedelta(), change.abbreviation_before, change.dst_before
    )


def after(change: pb.Transition) -> Wall:
    """The wall clock a transition says is in use from it on."""
    return Wall(change.utc_offset_after.ToTimedelta(), change.abbreviation_after, change.dst_after)


def check_against_oracles(answer: pb.TimeZone, name: str, now: datetime) -> None:
    """Every field of ``answer`` agrees with zoneinfo and the tzdata tables at ``now``."""
    local = now.astimezone(zone(name))
    utc_offset, dst_offset = local.utcoffset(), local.dst()
    assert utc_offset is not None
    assert dst_offset is not None
    canonical = canonical_names()[name]
    assert answer.time_zone == name
    assert answer.canonical_time_zone == canonical
    assert list(answer.aliases) == aliases().get(canonical, [])
    assert list(answer.country_codes) == sorted(country_codes().get(canonical, ()))
    assert answer.utc_offset.ToTimedelta() == utc_offset
    assert answer.dst_offset.ToTimedelta() == dst_offset
    assert answer.standard_offset.ToTimedelta() == utc_offset - dst_offset
    assert answer.abbreviation == (local.tzname() or "")
    assert answer.dst == (dst_offset != ZERO)
    assert answer.tzdata_version == tzdata.IANA_VERSION
    # The transitions around now bracket it, and zoneinfo sees each change where it is.
    if answer.HasField("previous_transition"):
        previous = answer.previous_transition
        when = instant_of(previous.time)
        assert when <= now
        assert after(previous) == wall(name, when) == wall(name, now)
        assert before(previous) == wall(name, when - timedelta(seconds=1))
        assert before(previous) != after(previous)
    if answer.HasField("next_transition"):
        following = answer.next_transition
        when = instant_of(following.time)
        assert now < when
        assert before(following) == wall(name, when - timedelta(seconds=1)) == wall(name, now)
        assert after(following) == wall(name, when)
        assert before(following) != after(following)


@pytest.mark.parametrize(
    "now",
    [at("2026-01-15T03:04:05.678901"), at("2026-07-15T21:59:59.999999")],
    ids=["january", "july"],
)
def test_every_zone_matches_zoneinfo_and_the_tables(pinned: PinnedServer, now: datetime) -> None:
    """For every zone, names, countries, offsets and the transitions around now are right."""
    failures = {}
    for name in ALL_NAMES:
        answer = ask(pinned, name, now)
        try:
            check_against_oracles(answer, name, now)
        except AssertionError as failure:
            failures[name] = f"{failure}\n{answer}"
    assert failures == {}


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Europe/Kiev", "Europe/Kyiv"),
        ("US/Eastern", "America/New_York"),
        ("America/New_York", "America/New_York"),
        ("Europe/Kyiv", "Europe/Kyiv"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("GB", "Europe/London"),
    ],
)
def test_canonical_zone(pinned: PinnedServer, name: str, canonical: str) -> None:
    """A link names the zone it stands for; a canonical zone names itself."""
    answer = ask(pinned, name, at("2026-06-01T00:00"))
    assert answer.time_zone == name
    assert answer.canonical_time_zone == canonical


def test_aliases_are_the_other_names_of_the_zone(pinned: PinnedServer) -> None:
    """A zone and each of its links list the same aliases: the links, sorted, never the zone."""
    answers = [ask(pinned, name, at("2026-06-01T00:00")) for name in ("Europe/Kyiv", "Europe/Kiev")]
    for answer in answers:
        assert "Europe/Kiev" in answer.aliases
        assert "Europe/Kyiv" not in answer.aliases
        assert list(answer.aliases) == sorted(answer.aliases)
    assert answers[0].aliases == answers[1].aliases
    new_york = ask(pinned, "America/New_York", at("2026-06-01T00:00"))
    assert "US/Eastern" in new_york.aliases


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("Europe/Berlin", {"DE"}),
        ("Europe/Oslo", {"NO", "DE"}),
        ("US/Eastern", {"US"}),
        ("Europe/Brussels", {"BE", "LU", "NL"}),
    ],
)
def test_country_codes(pinned: PinnedServer, name: str, codes: set[str]) -> None:
    """A zone lists the countries it is used in, a link those of its zone, sorted."""
    answer = ask(pinned, name, at("2026-06-01T00:00"))
    assert codes <= set(answer.country_codes)
    assert list(answer.country_codes) == sorted(answer.country_codes)


@pytest.mark.parametrize("name", ["UTC", "Etc/GMT+5", "Factory"])
def test_zones_of_no_country(pinned: PinnedServer, name: str) -> None:
    """Zones used in no country list none."""
    assert list(ask(pinned, name, at("2026-06-01T00:00")).country_codes) == []


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
    message.time.FromDatetime(at(when))
    message.utc_offset_before.FromTimedelta(offsets[0])
    message.utc_offset_after.FromTimedelta(offsets[1])
    return message


LONDON_SPRING = transition("2026-03-29T01:00", (ZERO, H), ("GMT", "BST"), (False, True))
LONDON_AUTUMN = transition("2026-10-25T01:00", (H, ZERO), ("BST", "GMT"), (True, False))


def test_london_in_summer(pinned: PinnedServer) -> None:
    """London on 2026-06-01 is on BST, and its transitions are March's and October's."""
    answer = ask(pinned, "Europe/London", at("2026-06-01T00:00"))
    assert answer.utc_offset.ToTimedelta() == H
    assert answer.standard_offset.ToTimedelta() == ZERO
    assert answer.dst_offset.ToTimedelta() == H
    assert (answer.abbreviation, answer.dst) == ("BST", True)
    assert answer.previous_transition == LONDON_SPRING
    assert answer.next_transition == LONDON_AUTUMN
    assert list(answer.country_codes) == ["GB", "GG", "IM", "JE"]


def test_dublin_negative_dst(pinned: PinnedServer) -> None:
    """Dublin's winter GMT is a negative DST from its summer standard time, IST."""
    answer = ask(pinned, "Europe/Dublin", at("2026-01-15T12:00"))
    assert answer.utc_offset.ToTimedelta() == ZERO
    assert answer.dst_offset.ToTimedelta() == -H
    assert answer.standard_offset.ToTimedelta() == H
    assert (answer.abbreviation, answer.dst) == ("GMT", True)


def test_previous_transition_includes_now(pinned: PinnedServer) -> None:
    """At the very instant of a change, that change is the previous one, not the next."""
    answer = ask(pinned, "Europe/London", at("2026-03-29T01:00"))
    assert answer.previous_transition == LONDON_SPRING
    assert answer.next_transition == LONDON_AUTUMN
    assert answer.abbreviation == "BST"


@pytest.mark.parametrize("name", ["UTC", "Etc/UTC", "Etc/GMT-14"])
def test_zone_without_transitions(pinned: PinnedServer, name: str) -> None:
    """A zone that never changed has neither a previous nor a next transition."""
    answer = ask(pinned, name, at("2026-06-01T00:00"))
    assert not answer.HasField("previous_transition")
    assert not answer.HasField("next_transition")
    # The package's version ("2026f" at the time of writing), whatever zone is asked.
    assert answer.tzdata_version == tzdata.IANA_VERSION


def test_zone_that_stopped_changing(pinned: PinnedServer) -> None:
    """Tokyo's last change was in 1951: it has a previous transition and no next one."""
    answer = ask(pinned, "Asia/Tokyo", at("2026-06-01T00:00"))
    assert instant_of(answer.previous_transition.time).year == 1951
    assert not answer.HasField("next_transition")
    check_against_oracles(answer, "Asia/Tokyo", at("2026-06-01T00:00"))


@pytest.mark.parametrize("name", ["Europe/London", "Australia/Lord_Howe", "America/Santiago"])
def test_far_future_from_the_rule(pinned: PinnedServer, name: str) -> None:
    """In 2300 the transitions around now come from the zone's POSIX rule, as zoneinfo's do."""
    now = at("2300-06-01T00:00")
    answer = ask(pinned, name, now)
    assert answer.HasField("previous_transition")
    assert answer.HasField("next_transition")
    check_against_oracles(answer, name, now)


def test_cache_follows_the_clock_across_transitions(pinned: PinnedServer) -> None:
    """The server's per-zone answer changes when its clock passes a transition, either way."""
    summer = ask(pinned, "Europe/London", at("2026-10-25T00:59:59"))
    assert (summer.abbreviation, summer.utc_offset.ToTimedelta()) == ("BST", H)
    assert summer.next_transition == LONDON_AUTUMN
    # Asked again within the same stretch: the same answer.
    assert ask(pinned, "Europe/London", at("2026-10-25T00:59:59.999999")) == summer
    winter = ask(pinned, "Europe/London", at("2026-10-25T01:00:00"))
    assert (winter.abbreviation, winter.utc_offset.ToTimedelta(), winter.dst) == (
        "GMT",
        ZERO,
        False,
    )
    assert winter.previous_transition == LONDON_AUTUMN
    assert instant_of(winter.next_transition.time) == at("2027-03-28T01:00")
    # A clock stepped back is answered for where it is now, not from the later answer.
    assert ask(pinned, "Europe/London", at("2026-10-25T00:59:59")) == summer
    far = ask(pinned, "Europe/London", at("2031-01-01T00:00"))
    check_against_oracles(far, "Europe/London", at("2031-01-01T00:00"))


def test_answers_are_per_name(pinned: PinnedServer) -> None:
    """A link and its zone, asked in turn, each get an answer under their own name."""
    now = at("2026-06-01T00:00")
    assert ask(pinned, "Europe/Kyiv", now).time_zone == "Europe/Kyiv"
    assert ask(pinned, "Europe/Kiev", now).time_zone == "Europe/Kiev"
    assert ask(pinned, "Europe/Kyiv", now).time_zone == "Europe/Kyiv"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "TIME_ZONE_REQUIRED"),
        ("Mars/Base", "UNKNOWN_TIME_ZONE"),
        ("europe/london", "UNKNOWN_TIME_ZONE"),
        ("Z" * 129, "TIME_ZONE_TOO_LONG"),
    ],
    ids=["empty", "unknown", "wrong-case", "too-long"],
)
def test_bad_zone_is_invalid_argument(
    pinned: PinnedServer, caplog: pytest.LogCaptureFixture, name: str, reason: str
) -> None:
    """An empty, unknown or overlong zone fails with INVALID_ARGUMENT naming time_zone."""
    with pytest.raises(grpc.RpcError) as caught:
        ask(pinned, name, at("2026-06-01T00:00"))
    error = rich_error(caught.value)
    assert_invalid_argument(error, "time_zone", reason)
    assert tracebacks_and_errors(caplog) == []
    if reason == "UNKNOWN_TIME_ZONE" and name.islower():
        assert "did you mean 'Europe/London'?" in error.message
