"""Zone transitions read from the tzdata package's TZif files, against zoneinfo and glibc."""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import os
import struct
import time
import zoneinfo
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise, takewhile

import pytest

from chrono_domain import transitions, zones
from chrono_domain.transitions import (
    Transition,
    next_transition,
    previous_transition,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(2038, 1, 1, tzinfo=UTC)
# No two changes of one zone come within six days of each other in 1970-2037 (the
# sweep checks this), so sampling every three days sees each of them: bisection then
# finds its second.
STEP = 3 * 86_400
HOUR = timedelta(hours=1)
State = tuple[timedelta | None, bool, str | None]


@pytest.fixture(scope="module")
def database() -> zones.ZoneDatabase:
    """The zone database, with zoneinfo pointed at the tzdata package alone."""
    return zones.load()


@pytest.fixture(scope="module")
def distinct_zones(database: zones.ZoneDatabase) -> dict[str, list[str]]:
    """One name per distinct TZif file, with every name whose file has the same bytes."""
    groups: dict[bytes, list[str]] = {}
    root = importlib.resources.files("tzdata.zoneinfo")
    for name in database.names:
        digest = hashlib.sha256(root.joinpath(*name.split("/")).read_bytes()).digest()
        groups.setdefault(digest, []).append(name)
    return {names[0]: names for names in groups.values()}


def seconds(moment: datetime) -> int:
    """An aware datetime as whole seconds since the epoch."""
    return (moment - EPOCH) // timedelta(seconds=1)


def zoneinfo_state(zone: zoneinfo.ZoneInfo) -> Callable[[int], State]:
    """What zoneinfo says of an instant in ``zone``: offset, DST flag, abbreviation."""

    def state(ts: int) -> State:
        local = datetime.fromtimestamp(ts, zone)
        return local.utcoffset(), bool(local.dst()), local.tzname()

    return state


def changes_by_bisection(
    state: Callable[[int], Hashable], start: int, end: int, step: int = STEP
) -> list[int]:
    """The instants in [start, end) at which ``state`` changes: sampled, then bisected."""
    found: list[int] = []
    low, current = start - 1, state(start - 1)
    while low < end - 1:
        high = min(low + step, end - 1)
        sampled = state(high)
        while sampled != current:
            # state(low) is current and state(high) is not: find the first instant that differs.
            a, b = low, high
            while b - a > 1:
                middle = (a + b) // 2
                if state(middle) == current:
                    a = middle
                else:
                    b = middle
            found.append(b)
            low, current = b, state(b)
        low = high
    return found


def as_state(change: Transition, side: str) -> State:
    """One side of a transition in the shape zoneinfo_state() gives."""
    if side == "before":
        return change.utc_offset_before, change.dst_before, change.abbreviation_before
    return change.utc_offset_after, change.dst_after, change.abbreviation_after


def check_against(
    state: Callable[[int], State], found: list[Transition], start: int, end: int
) -> None:
    """``found`` is exactly the oracle's changes in [start, end), each with its two sides."""
    expected = changes_by_bisection(state, start, end)
    assert [seconds(change.time) for change in found] == expected
    for change in found:
        ts = seconds(change.time)
        assert state(ts - 1) == as_state(change, "before"), change
        assert state(ts) == as_state(change, "after"), change


def test_every_zone_1970_to_2037_matches_zoneinfo(
    database: zones.ZoneDatabase, distinct_zones: dict[str, list[str]]
) -> None:
    """Every zone's transitions in 1970-2037 are exactly zoneinfo's changes, both sides included."""
    for name, same in distinct_zones.items():
        found = list(transitions.transitions(name, START, END))
        check_against(zoneinfo_state(database.resolve(name)), found, seconds(START), seconds(END))
        times = [change.time for change in found]
        assert all(
            later - earlier > timedelta(seconds=2 * STEP) for earlier, later in pairwise(times)
        ), name
        for other in same[1:]:
            assert list(transitions.transitions(other, START, END)) == found, other


@pytest.mark.parametrize(
    "years",
    [(2037, 2041), (2099, 2101), (2399, 2401), (9997, 9999)],
    ids=["2038-boundary", "2100", "2400", "9999"],
)
def test_every_zone_beyond_its_table_matches_zoneinfo(
    database: zones.ZoneDatabase, distinct_zones: dict[str, list[str]], years: tuple[int, int]
) -> None:
    """Years the zones' POSIX rules compute, up to 9999, agree with zoneinfo's."""
    # The last day of 9999 is left out: east of Greenwich its wall clock is past datetime.max.
    start = datetime(years[0], 1, 1, tzinfo=UTC)
    end = datetime(years[1], 12, 30, tzinfo=UTC)
    for name in distinct_zones:
        found = list(transitions.transitions(name, start, end))
        check_against(zoneinfo_state(database.resolve(name)), found, seconds(start), seconds(end))


def test_a_long_span_is_the_years_it_covers(distinct_zones: dict[str, list[str]]) -> None:
    """One 200-year span gives what its years give one by one, for every zone."""
    for name in distinct_zones:
        whole = list(
            transitions.transitions(
                name, datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
            )
        )
        pieces = [
            change
            for year in range(1900, 2100)
            for change in transitions.transitions(
                name, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
            )
        ]
        assert whole == pieces, name


def test_previous_and_next_agree_with_the_list(distinct_zones: dict[str, list[str]]) -> None:
    """previous_transition is the latest at or before an instant, next_transition the next."""
    tick = timedelta(microseconds=1)
    for name in distinct_zones:
        found = list(transitions.transitions(name, START, END))
        for index, change in enumerate(found):
            earlier = found[index - 1] if index else previous_transition(name, START - tick)
            later = found[index + 1] if index + 1 < len(found) else next_transition(name, END)
            assert previous_transition(name, change.time) == change
            assert previous_transition(name, change.time - tick) == earlier
            assert next_transition(name, change.time - tick) == change
            assert next_transition(name, change.time) == later


@pytest.mark.parametrize(
    ("zone", "year"),
    [
        ("Europe/London", 2100),
        ("Europe/London", 2400),
        ("Europe/London", 9999),
        ("America/New_York", 2100),
        ("America/New_York", 2400),
        ("America/New_York", 9999),
    ],
)
def test_previous_and_next_far_beyond_the_table(zone: str, year: int) -> None:
    """Far into the rule's years, previous and next transitions bracket a summer instant."""
    summer = datetime(year, 7, 1, tzinfo=UTC)
    that_year = list(
        transitions.transitions(
            zone, datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, tzinfo=UTC)
        )
    )
    assert [change.dst_after for change in that_year] == [True, False]
    assert previous_transition(zone, summer) == that_year[0]
    assert next_transition(zone, summer) == that_year[1]
    assert previous_transition(zone, datetime(year, 1, 1, tzinfo=UTC)) == next(
        transitions.transitions(
            zone, datetime(year - 1, 10, 1, tzinfo=UTC), datetime(year, 1, 1, tzinfo=UTC)
        )
    )


def test_london_2026() -> None:
    """London goes from GMT to BST on 29 March 2026 at 01:00Z and back on 25 October at 01:00Z."""
    found = list(
        transitions.transitions(
            "Europe/London", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        )
    )
    assert found == [
        Transition(
            time=datetime(2026, 3, 29, 1, tzinfo=UTC),
            utc_offset_before=timedelta(0),
            utc_offset_after=HOUR,
            abbreviation_before="GMT",
            abbreviation_after="BST",
            dst_before=False,
            dst_after=True,
        ),
        Transition(
            time=datetime(2026, 10, 25, 1, tzinfo=UTC),
            utc_offset_before=HOUR,
            utc_offset_after=timedelta(0),
            abbreviation_before="BST",
            abbreviation_after="GMT",
            dst_before=True,
            dst_after=False,
        ),
    ]


def test_lord_howe_moves_half_an_hour() -> None:
    """Lord Howe Island goes from +11 to +10:30 on 4 April 2026 and back on 3 October."""
    found = list(
        transitions.transitions(
            "Australia/Lord_Howe",
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        )
    )
    assert [
        (change.time, change.utc_offset_before, change.utc_offset_after) for change in found
    ] == [
        (
            datetime(2026, 4, 4, 15, tzinfo=UTC),
            timedelta(hours=11),
            timedelta(hours=10, minutes=30),
        ),
        (
            datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
            timedelta(hours=10, minutes=30),
            timedelta(hours=11),
        ),
    ]
    assert [(change.dst_before, change.dst_after) for change in found] == [
        (True, False),
        (False, True),
    ]


def test_dublin_has_negative_dst() -> None:
    """Dublin's winter GMT is its DST (IST, +1, is standard time), in the table and the rule."""
    for year in (1990, 2026, 2500):
        spring, autumn = transitions.transitions(
            "Europe/Dublin", datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        )
        assert (spring.abbreviation_before, spring.dst_before) == ("GMT", True)
        assert (spring.abbreviation_after, spring.dst_after, spring.utc_offset_after) == (
            "IST",
            False,
            HOUR,
        )
        assert (autumn.abbreviation_after, autumn.dst_after) == ("GMT", True)


def test_nuuk_rule_with_a_negative_hour() -> None:
    """Nuuk's <-02>2<-01>,M3.5.0/-1,M10.5.0/0 switches at 23:00 the Saturday before, local time."""
    for zone in ("America/Nuuk", "America/Godthab"):
        found = list(
            transitions.transitions(
                zone, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
            )
        )
        assert [(change.time, change.abbreviation_after) for change in found] == [
            (datetime(2026, 3, 29, 1, tzinfo=UTC), "-01"),
            (datetime(2026, 10, 25, 1, tzinfo=UTC), "-02"),
        ]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT+5", "Etc/GMT-14"])
def test_zones_without_transitions(zone: str) -> None:
    """A zone of one fixed offset has no transitions, and no previous or next one."""
    assert list(transitions.transitions(zone, datetime(1, 1, 2, tzinfo=UTC), END)) == []
    assert previous_transition(zone, datetime(9999, 1, 1, tzinfo=UTC)) is None
    assert next_transition(zone, datetime(1, 1, 2, tzinfo=UTC)) is None


def test_a_fixed_rule_after_the_last_change() -> None:
    """Tokyo's last change was in 1951: that is its previous transition, and it has no next."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    previous = previous_transition("Asia/Tokyo", now)
    assert previous is not None
    assert previous.time == datetime(1951, 9, 8, 15, tzinfo=UTC)
    assert next_transition("Asia/Tokyo", now) is None
    assert next_transition("Asia/Tokyo", datetime(9999, 12, 31, tzinfo=UTC)) is None


def test_the_last_year_has_its_transitions() -> None:
    """Transitions run to the end of 9999, and none is past the last instant a datetime holds."""
    last = datetime.max.replace(tzinfo=UTC)
    found = list(transitions.transitions("Europe/London", datetime(9999, 1, 1, tzinfo=UTC), last))
    assert [change.time.month for change in found] == [3, 10]
    assert next_transition("Europe/London", datetime(9999, 11, 1, tzinfo=UTC)) is None


def test_bounds_are_start_inclusive_end_exclusive() -> None:
    """A transition at ``start`` is in the span and one at ``end`` is not."""
    spring = datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert len(list(transitions.transitions("Europe/London", spring, spring + HOUR))) == 1
    assert list(transitions.transitions("Europe/London", spring - HOUR, spring)) == []
    assert list(transitions.transitions("Europe/London", spring, spring)) == []


@pytest.mark.parametrize("name", ["Nowhere/Special", "../../etc/passwd", "europe/london", ""])
def test_unknown_names_raise_key_error(name: str) -> None:
    """A name the tzdata package does not list raises KeyError, and no file outside it is read."""
    with pytest.raises(KeyError):
        transitions.transitions(name, START, END)
    with pytest.raises(KeyError):
        next_transition(name, START)


def test_naive_datetimes_raise_value_error() -> None:
    """The span must be aware datetimes."""
    with pytest.raises(ValueError, match="naive"):
        transitions.transitions("Europe/London", datetime(2026, 1, 1), END)
    with pytest.raises(ValueError, match="naive"):
        previous_transition("Europe/London", datetime(2026, 1, 1))


def tzif(footer: str) -> bytes:
    """A version 2 TZif file with no transitions: one type and a TZ string footer."""
    header = struct.pack(">4sc15x6l", b"TZif", b"2", 0, 0, 0, 0, 1, 4)
    block = struct.pack(">lBB", 0, 0, 0) + b"AAA\x00"
    return header + block + header + block + b"\n" + footer.encode() + b"\n"


def parsed_changes(footer: str, start: datetime, end: datetime) -> list[Transition]:
    """What the TZif reader makes of a synthetic file with ``footer``, in [start, end)."""
    data = transitions._parse(tzif(footer), "synthetic")
    end_ts = seconds(end)
    return [
        change
        for ts, change in takewhile(
            lambda item: item[0] < end_ts, data.changes_from(seconds(start))
        )
    ]


@pytest.fixture
def glibc_tz() -> Iterator[Callable[[str], Callable[[int], State]]]:
    """The C library's localtime() under a TZ string, the environment restored afterwards."""
    saved = os.environ.get("TZ")

    def use(rule: str) -> Callable[[int], State]:
        os.environ["TZ"] = rule
        time.tzset()

        def state(ts: int) -> State:
            local = time.localtime(ts)
            return timedelta(seconds=local.tm_gmtoff), local.tm_isdst > 0, local.tm_zone

        return state

    try:
        yield use
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize(
    "rule",
    [
        "AAA3BBB,J59/0,J300/0",
        "AAA3BBB,J100/0,J60/0",
        "AAA3BBB,J1/5,J200/0",
        "AAA3BBB,J200/0,J365/20",
        "AAA3BBB,59/0,300/0",
        "AAA3BBB,100/0,60/0",
        "AAA3BBB,0/5,200/0",
        "AAA3BBB,200/0,364/0",
        "AAA3BBB,M3.2.0/-30,M11.1.0/100",
        "AAA-10BBB-11,M10.1.0,M4.1.0/3",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "EET-2EEST,M3.4.4/50,M10.4.4/50",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "IST-1GMT0,M10.5.0,M3.5.0/1",
    ],
)
def test_tz_string_rules_match_glibc(
    glibc_tz: Callable[[str], Callable[[int], State]], rule: str
) -> None:
    """Every POSIX rule form (M, J, zero-based n; hours past 24 and negative) agrees with glibc."""
    # zoneinfo counts the J and n day forms one day off in places (J59 in leap years,
    # every n), so glibc's tzset() is the reference. glibc reads a rule by UTC year, so
    # none of these switches within a day of New Year.
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(2105, 1, 1, tzinfo=UTC)
    state = glibc_tz(rule)
    found = parsed_changes(rule, start, end)
    for change in found:
        ts = seconds(change.time)
        assert state(ts - 1) == as_state(change, "before"), (rule, change)
        assert state(ts) == as_state(change, "after"), (rule, change)
    assert [seconds(change.time) for change in found] == changes_by_bisection(
        state, seconds(start), seconds(end)
    )


def test_dst_all_year_has_no_transitions() -> None:
    """DST from 1 January 00:00 to 31 December 24:00 plus its shift is DST all year (RFC 9636)."""
    rule = "XXX3EDT4,0/0,J365/23"
    found = parsed_changes(rule, datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    zone = zoneinfo.ZoneInfo.from_file(io.BytesIO(tzif(rule)))
    # A file with no table is the rule alone; the rule's first year starts in DST.
    assert found == []
    assert all(
        zoneinfo_state(zone)(seconds(datetime(year, 1, 1, hour, tzinfo=UTC)))
        == (timedelta(hours=-4), True, "EDT")
        for year in (1970, 2000, 2099)
        for hour in (0, 2, 3, 4)
    )


@pytest.mark.parametrize(
    "footer",
    [
        "AAA3BBB",
        "AAA3BBB,M3.2.0",
        "AAA3BBB,M13.1.0,M11.1.0",
        "AAA3BBB,J0,J365",
        "AAA3BBB,M3.2.0/168,M11.1.0",
    ],
)
def test_malformed_tz_strings_are_refused(footer: str) -> None:
    """A footer that is not a valid RFC 9636 TZ string raises ValueError."""
    with pytest.raises(ValueError, match="TZ"):
        transitions._parse(tzif(footer), "synthetic")
