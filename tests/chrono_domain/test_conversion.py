"""Civil times resolved to instants, against zoneinfo's PEP 495 fold rules at every transition."""

from __future__ import annotations

import importlib.resources
import zoneinfo
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from chrono_domain import transitions, zones
from chrono_domain.conversion import (
    Disambiguation,
    LocalTimeKind,
    Resolution,
    civil_datetime,
    resolve_local,
)
from chrono_domain.errors import InvalidArgumentError

START = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(2038, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# What bears on a civil time near a transition: the changes within this reach of it.
CONTEXT = timedelta(days=4)
PARTS = 4


@pytest.fixture(scope="module")
def database() -> zones.ZoneDatabase:
    """The zone database, with zoneinfo pointed at the tzdata package alone."""
    return zones.load()


Expected = tuple[LocalTimeKind, tuple[datetime, ...], tuple[datetime, datetime, datetime], str]
"""Kind, candidates, the COMPATIBLE, EARLIER and LATER instants, and REJECT's reason."""
RESOLVING = (Disambiguation.COMPATIBLE, Disambiguation.EARLIER, Disambiguation.LATER)


def by_folds(local: datetime, zone: tzinfo) -> Expected:
    """What zoneinfo's folds say of ``local``: its kind, candidates and each resolution.

    fold=0 and fold=1 give the two readings; an overlap is where they differ and the
    first one's round trip gives the wall time back, a gap where it does not.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return LocalTimeKind.UNIQUE, (), (first, first, first), ""
    if first.astimezone(zone).replace(tzinfo=None) == local:
        assert first < second
        return (
            LocalTimeKind.AMBIGUOUS,
            (first, second),
            (first, first, second),
            "LOCAL_TIME_AMBIGUOUS",
        )
    # In a gap fold=0 reads the wall time with the offset before it: the later instant.
    assert second < first
    return LocalTimeKind.SKIPPED, (second, first), (first, second, first), "LOCAL_TIME_SKIPPED"


def check(local: datetime, zone: tzinfo, expected: Expected) -> None:
    """resolve_local gives, for every disambiguation, what ``expected`` says."""
    kind, candidates, instants, reason = expected
    for disambiguation, instant in zip(RESOLVING, instants, strict=True):
        got = resolve_local(local, zone, disambiguation)
        assert got.instant == instant, (local, zone, disambiguation)
        assert got.kind is kind, (local, zone)
        assert got.candidates == candidates, (local, zone)
    try:
        resolve_local(local, zone, Disambiguation.REJECT)
        refused = ""
    except InvalidArgumentError as error:
        refused = error.reason
    assert refused == reason, (local, zone)


def window(change: transitions.Transition) -> list[datetime]:
    """Civil times a minute apart from just before to just after what a change skips or repeats.

    The span's exact ends are in too.
    """
    low = min(change.utc_offset_before, change.utc_offset_after)
    high = max(change.utc_offset_before, change.utc_offset_after)
    wall = change.time.replace(tzinfo=None)
    first, last = wall + low - MINUTE, wall + high + MINUTE
    minutes = (last - first) // MINUTE
    return [first + step * MINUTE for step in range(minutes + 1)] + [
        wall + low,
        wall + high - timedelta(microseconds=1),
        wall + high,
    ]


@pytest.fixture(scope="module")
def changes(database: zones.ZoneDatabase) -> list[tuple[str, transitions.Transition]]:
    """Every zone's transitions in 1970-2037, each distinct context once.

    Zones that share a change and its neighbours (one rule, or linked zones) answer alike
    for the civil times near it, so each such change is kept for the first zone only.
    """
    seen: set[tuple[tuple[datetime, timedelta, timedelta], ...]] = set()
    kept = []
    for name in database.names:
        found = list(transitions.transitions(name, START - CONTEXT, END + CONTEXT))
        times = [change.time for change in found]
        for change in found:
            if not START <= change.time < END:
                continue
            near = found[
                bisect_left(times, change.time - CONTEXT) : bisect_right(
                    times, change.time + CONTEXT
                )
            ]
            context = tuple(
                (other.time, other.utc_offset_before, other.utc_offset_after) for other in near
            )
            if context not in seen:
                seen.add(context)
                kept.append((name, change))
    return kept


@pytest.mark.parametrize("part", range(PARTS))
def test_every_transition_window_matches_zoneinfo_folds(
    database: zones.ZoneDatabase, changes: list[tuple[str, transitions.Transition]], part: int
) -> None:
    """Near each transition of every zone in 1970-2037, civil times resolve as fold says."""
    # Each part checks every PARTS-th change, so that no one test runs for long.
    checked = 0
    for name, change in changes[part::PARTS]:
        zone = database.resolve(name)
        for local in window(change):
            check(local, zone, by_folds(local, zone))
            checked += 1
    assert checked > 100_000 // PARTS


@pytest.mark.parametrize(
    "name",
    [
        "Europe/London",
        "America/New_York",
        "Europe/Dublin",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "Pacific/Kwajalein",
        "America/Nuuk",
        "Pacific/Chatham",
        "Africa/Monrovia",
        "Antarctica/Troll",
    ],
)
def test_other_tzinfos_are_asked_through_fold(name: str) -> None:
    """A ZoneInfo that is not the package's by name goes through fold and agrees with the table."""
    zones.load()
    path = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as file:
        unnamed = zoneinfo.ZoneInfo.from_file(file)
    named = zoneinfo.ZoneInfo(name)
    for change in transitions.transitions(name, START, END):
        for local in window(change)[::7]:
            for disambiguation in (
                Disambiguation.COMPATIBLE,
                Disambiguation.EARLIER,
                Disambiguation.LATER,
            ):
                assert resolve_local(local, unnamed, disambiguation) == resolve_local(
                    local, named, disambiguation
                ), (name, local, disambiguation)


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(0),
        timedelta(hours=5, minutes=30),
        timedelta(hours=-9, minutes=-30),
        timedelta(hours=14),
    ],
)
def test_fixed_offsets_are_always_unique(offset: timedelta) -> None:
    """A fixed datetime.timezone offset gives one instant for every civil time, whatever asked."""
    zone = timezone(offset)
    for day in range(0, 366, 5):
        local = datetime(2026, 1, 1, 1, 30) + timedelta(days=day, minutes=37 * day)
        for disambiguation in Disambiguation:
            assert resolve_local(local, zone, disambiguation) == Resolution(
                (local - offset).replace(tzinfo=UTC), LocalTimeKind.UNIQUE, ()
            )


def test_london_spring_gap(database: zones.ZoneDatabase) -> None:
    """London skipped 01:30 on 29 March 2026: COMPATIBLE reads it as 01:30Z, EARLIER as 00:30Z."""
    london = database.resolve("Europe/London")
    local = datetime(2026, 3, 29, 1, 30)
    candidates = (
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )
    compatible = resolve_local(local, london)
    assert compatible == Resolution(candidates[1], LocalTimeKind.SKIPPED, candidates)
    assert resolve_local(local, london, Disambiguation.LATER).instant == candidates[1]
    assert resolve_local(local, london, Disambiguation.EARLIER).instant == candidates[0]
    assert all(instant.tzinfo is UTC for instant in (compatible.instant, *compatible.candidates))
    # Forward by the gap: the instant shows 02:30 on the wall.
    assert compatible.instant.astimezone(london).replace(tzinfo=None) == datetime(
        2026, 3, 29, 2, 30
    )


def test_new_york_autumn_overlap(database: zones.ZoneDatabase) -> None:
    """New York's 01:30 on 1 November 2026 happened twice: COMPATIBLE is 05:30Z, LATER 06:30Z."""
    new_york = database.resolve("America/New_York")
    local = datetime(2026, 11, 1, 1, 30)
    candidates = (
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    )
    assert resolve_local(local, new_york) == Resolution(
        candidates[0], LocalTimeKind.AMBIGUOUS, candidates
    )
    assert resolve_local(local, new_york, Disambiguation.EARLIER).instant == candidates[0]
    assert resolve_local(local, new_york, Disambiguation.LATER).instant == candidates[1]


def test_apia_skipped_a_whole_day(database: zones.ZoneDatabase) -> None:
    """Samoa skipped 30 December 2011: each minute of it moves a day forward, or back if EARLIER."""
    apia = database.resolve("Pacific/Apia")
    for minute in range(0, 24 * 60, 7):
        local = datetime(2011, 12, 30) + minute * MINUTE
        compatible = resolve_local(local, apia)
        earlier = resolve_local(local, apia, Disambiguation.EARLIER)
        assert compatible.kind is LocalTimeKind.SKIPPED
        assert compatible.instant.astimezone(apia).replace(tzinfo=None) == local + timedelta(days=1)
        assert earlier.instant.astimezone(apia).replace(tzinfo=None) == local - timedelta(days=1)
        assert compatible.candidates == (earlier.instant, compatible.instant)
    for local in (datetime(2011, 12, 29, 23, 59), datetime(2011, 12, 31)):
        assert resolve_local(local, apia).kind is LocalTimeKind.UNIQUE


def test_kwajalein_skipped_a_whole_day(database: zones.ZoneDatabase) -> None:
    """Kwajalein went from -12 to +12 in August 1993, skipping 21 August."""
    kwajalein = database.resolve("Pacific/Kwajalein")
    skipped = resolve_local(datetime(1993, 8, 21, 12), kwajalein)
    assert skipped.kind is LocalTimeKind.SKIPPED
    assert skipped.candidates[1] - skipped.candidates[0] == timedelta(days=1)
    assert resolve_local(datetime(1993, 8, 20, 23, 59), kwajalein).kind is LocalTimeKind.UNIQUE
    assert resolve_local(datetime(1993, 8, 22), kwajalein).kind is LocalTimeKind.UNIQUE


def test_dublin_negative_dst(database: zones.ZoneDatabase) -> None:
    """Dublin's clocks skip and repeat as London's do, though its winter time is the DST one."""
    dublin = database.resolve("Europe/Dublin")
    spring = resolve_local(datetime(2026, 3, 29, 1, 30), dublin, Disambiguation.EARLIER)
    autumn = resolve_local(datetime(2026, 10, 25, 1, 30), dublin, Disambiguation.LATER)
    assert (spring.kind, spring.instant) == (
        LocalTimeKind.SKIPPED,
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    )
    assert (autumn.kind, autumn.instant) == (
        LocalTimeKind.AMBIGUOUS,
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    )


def test_lord_howe_half_hour(database: zones.ZoneDatabase) -> None:
    """Lord Howe repeats 01:30-02:00 in April and skips 02:00-02:30 in October."""
    lord_howe = database.resolve("Australia/Lord_Howe")
    repeated = resolve_local(datetime(2026, 4, 5, 1, 45), lord_howe)
    skipped = resolve_local(datetime(2026, 10, 4, 2, 15), lord_howe)
    assert repeated.kind is LocalTimeKind.AMBIGUOUS
    assert repeated.candidates == (
        datetime(2026, 4, 4, 14, 45, tzinfo=UTC),
        datetime(2026, 4, 4, 15, 15, tzinfo=UTC),
    )
    assert skipped.kind is LocalTimeKind.SKIPPED
    assert skipped.candidates == (
        datetime(2026, 10, 3, 15, 15, tzinfo=UTC),
        datetime(2026, 10, 3, 15, 45, tzinfo=UTC),
    )
    for local in (
        datetime(2026, 4, 5, 1, 29, 59),
        datetime(2026, 4, 5, 2),
        datetime(2026, 10, 4, 2, 30),
    ):
        assert resolve_local(local, lord_howe).kind is LocalTimeKind.UNIQUE


def test_reject_names_both_instants(database: zones.ZoneDatabase) -> None:
    """REJECT fails on local_time, naming the two instants and the disambiguation for each."""
    cases = [
        (
            "Europe/London",
            datetime(2026, 3, 29, 1, 30),
            "LOCAL_TIME_SKIPPED",
            "2026-03-29T00:30:00Z and 2026-03-29T01:30:00Z",
        ),
        (
            "America/New_York",
            datetime(2026, 11, 1, 1, 30),
            "LOCAL_TIME_AMBIGUOUS",
            "2026-11-01T05:30:00Z and 2026-11-01T06:30:00Z",
        ),
    ]
    for name, local, reason, both in cases:
        with pytest.raises(InvalidArgumentError) as failure:
            resolve_local(local, database.resolve(name), Disambiguation.REJECT)
        assert failure.value.field == "local_time"
        assert failure.value.reason == reason
        assert both in failure.value.description
        assert name in failure.value.description
        assert "EARLIER" in failure.value.description
        assert "LATER" in failure.value.description


def test_reject_accepts_a_unique_time(database: zones.ZoneDatabase) -> None:
    """REJECT only refuses skipped and repeated times."""
    resolution = resolve_local(
        datetime(2026, 7, 1, 12), database.resolve("Europe/London"), Disambiguation.REJECT
    )
    assert resolution == Resolution(datetime(2026, 7, 1, 11, tzinfo=UTC), LocalTimeKind.UNIQUE, ())


@pytest.mark.parametrize(
    ("name", "local"),
    [("Asia/Tokyo", datetime(1, 1, 1)), ("America/New_York", datetime(9999, 12, 31, 23))],
)
def test_instants_out_of_range(database: zones.ZoneDatabase, name: str, local: datetime) -> None:
    """A civil time whose instant is before year 1 or after 9999 fails on local_time."""
    with pytest.raises(InvalidArgumentError) as failure:
        resolve_local(local, database.resolve(name))
    assert (failure.value.field, failure.value.reason) == ("local_time", "LOCAL_TIME_OUT_OF_RANGE")


def test_aware_local_times_are_refused(database: zones.ZoneDatabase) -> None:
    """The civil time must be naive: an aware one is already an instant."""
    with pytest.raises(ValueError, match="naive"):
        resolve_local(datetime(2026, 1, 1, tzinfo=UTC), database.resolve("UTC"))


def test_civil_datetime_builds_the_datetime() -> None:
    """Valid fields give the naive datetime, nanos cut (never rounded) to microseconds."""
    assert civil_datetime(2026, 2, 28, 23, 59, 59, 999_999_999) == datetime(
        2026, 2, 28, 23, 59, 59, 999_999
    )
    assert civil_datetime(2024, 2, 29, 0, 0, 0, 1_999) == datetime(2024, 2, 29, 0, 0, 0, 1)
    assert civil_datetime(1, 1, 1, 0, 0, 0, 999) == datetime(1, 1, 1)
    assert civil_datetime(9999, 12, 31, 23, 59, 59, 0) == datetime(9999, 12, 31, 23, 59, 59)


VALID = {"year": 2026, "month": 2, "day": 28, "hours": 12, "minutes": 30, "seconds": 15, "nanos": 0}


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"year": 0}, "year", "from 1 to 9999"),
        ({"year": -1}, "year", "from 1 to 9999"),
        ({"year": 10_000}, "year", "from 1 to 9999"),
        ({"month": 13}, "month", "from 1 to 12"),
        ({"month": 0}, "month", "from 1 to 12"),
        ({"day": 30}, "day", "from 1 to 28"),
        ({"year": 2024, "day": 30}, "day", "from 1 to 29"),
        ({"month": 4, "day": 31}, "day", "from 1 to 30"),
        ({"day": 0}, "day", "from 1 to 28"),
        ({"hours": 24}, "hours", "from 0 to 23"),
        ({"hours": -1}, "hours", "from 0 to 23"),
        ({"minutes": 60}, "minutes", "from 0 to 59"),
        ({"minutes": -1}, "minutes", "from 0 to 59"),
        ({"seconds": 60}, "seconds", "from 0 to 59"),
        ({"seconds": -1}, "seconds", "from 0 to 59"),
        ({"nanos": 1_000_000_000}, "nanos", "from 0 to 999999999"),
        ({"nanos": -1}, "nanos", "from 0 to 999999999"),
    ],
)
def test_civil_datetime_names_the_bad_field(
    changes: dict[str, int], field: str, allowed: str
) -> None:
    """Each field out of range fails naming local_time.<field>, its value and the range allowed."""
    fields = {**VALID, **changes}
    with pytest.raises(InvalidArgumentError) as failure:
        civil_datetime(*(fields[name] for name in VALID))
    assert failure.value.field == f"local_time.{field}"
    assert failure.value.reason == "INVALID_LOCAL_TIME"
    assert f"local_time.{field} is {fields[field]}" in failure.value.description
    assert allowed in failure.value.description


def test_civil_datetime_takes_another_field_name() -> None:
    """The field prefix can be another request field's."""
    with pytest.raises(InvalidArgumentError) as failure:
        civil_datetime(2026, 13, 1, 0, 0, 0, 0, field="start")
    assert failure.value.field == "start.month"
