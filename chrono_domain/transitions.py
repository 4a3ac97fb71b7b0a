"""Every instant at which a zone's offset, DST flag or abbreviation changes.

The changes come from the zone's TZif file (RFC 9636) in the pinned ``tzdata`` package,
never the host's /usr/share/zoneinfo: the 64-bit table first, then the POSIX TZ rule in
the file's footer, expanded year by year for as long as anyone asks (up to the year
9999). Everything is lazy, so a span of 200 years costs what its transitions cost.
"""

from __future__ import annotations

import functools
import heapq
import importlib.resources
import re
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from typing import NamedTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = 86_400
# The instants a datetime can hold: transitions outside them are never reported.
_MIN_TS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _SECOND
_MAX_TS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _SECOND
_MAX_YEAR = 9999
# An event of a rule's year lies at most 167 h (the largest rule time) plus 26 h (the
# largest offset) from that year's bounds, so it is safe to report every event before
# the next year's 1 January minus this.
_SLACK = (167 + 26) * 3600
# A rule that changes nothing for this many whole years never changes anything.
_QUIET_YEARS = 2
_HEADER = struct.Struct(">4sc15x6l")


@dataclass(frozen=True, slots=True)
class Transition:
    """An instant at which a zone's UTC offset, DST flag or abbreviation changes."""

    time: datetime
    """The instant of the change, an aware datetime in UTC."""
    utc_offset_before: timedelta
    """The UTC offset just before the change."""
    utc_offset_after: timedelta
    """The UTC offset from the change on."""
    abbreviation_before: str
    """The abbreviation just before the change."""
    abbreviation_after: str
    """The abbreviation from the change on."""
    dst_before: bool
    """Whether the database counted the time just before the change as DST."""
    dst_after: bool
    """Whether the database counts the time from the change on as DST."""


def transitions(zone: str, start: datetime, end: datetime) -> Iterator[Transition]:
    """The transitions of ``zone`` at instants ``t`` with ``start <= t < end``, oldest first.

    ``start`` and ``end`` are aware datetimes. Raises KeyError for a name the tzdata
    package does not hold and ValueError for naive datetimes.
    """
    data = _zone(zone)
    end_ts = _ceil_seconds(end)
    changes = data.changes_from(_ceil_seconds(start))
    return (change for ts, change in takewhile(lambda item: item[0] < end_ts, changes))


def previous_transition(zone: str, instant: datetime) -> Transition | None:
    """The latest transition of ``zone`` at or before ``instant``; None if there is none."""
    data = _zone(zone)
    ts = _floor_seconds(instant)
    latest: Transition | None = None
    if data.rule_floor is not None and ts > data.rule_floor:
        # A yearly rule changes something every year or never, so the latest change is
        # in the last few years, or it is the first one after the table.
        window = max(data.rule_floor + 1, ts - (_QUIET_YEARS + 1) * 366 * _DAY)
        for change_ts, change in data.changes_from(window):
            if change_ts > ts:
                break
            latest = change
        if latest is None and window > data.rule_floor + 1:
            first = next(data.changes_from(data.rule_floor + 1), None)
            if first is not None and first[0] <= ts:
                latest = first[1]
        if latest is not None:
            return latest
    index = bisect_right(data.times, ts) - 1
    return data.table[index] if index >= 0 else None


def next_transition(zone: str, instant: datetime) -> Transition | None:
    """The earliest transition of ``zone`` after ``instant``; None if there is none."""
    data = _zone(zone)
    found = next(data.changes_from(_floor_seconds(instant) + 1), None)
    return None if found is None else found[1]


class _LocalType(NamedTuple):
    """One kind of local time: its offset (seconds east of UTC), DST flag and abbreviation."""

    utoff: int
    dst: bool
    abbreviation: str


class _DayRule(NamedTuple):
    """When in a year a POSIX TZ rule switches, as a day form and a local time of day."""

    form: str
    """"M" (month.week.weekday), "J" (1-365, no 29 February) or "n" (0-365)."""
    month: int
    week: int
    day: int
    """The weekday (0 is Sunday) for "M", the day number otherwise."""
    seconds: int
    """The local time of day, which RFC 9636 lets run from -167 h to 167 h."""

    def local_seconds(self, year: int) -> int:
        """The switch in ``year`` as seconds since 1970-01-01 00:00 on the local clock."""
        if self.form == "M":
            first = _days_from_civil(year, self.month, 1)
            day = 1 + (self.day - (first + 4)) % 7 + 7 * (self.week - 1)
            length = _month_length(year, self.month)
            while day > length:
                day -= 7
            days = first + day - 1
        elif self.form == "J":
            days = _days_from_civil(year, 1, 1) + self.day - 1
            if self.day >= 60 and _is_leap(year):
                days += 1
        else:
            days = _days_from_civil(year, 1, 1) + self.day
        return days * _DAY + self.seconds


class _Rule(NamedTuple):
    """A POSIX TZ string with daylight saving time: the two types and when each starts."""

    std: _LocalType
    dst: _LocalType
    start: _DayRule
    end: _DayRule

    def events(self, first_year: int) -> Iterator[tuple[int, _LocalType]]:
        """Each instant from ``first_year`` on at which a type starts, in order.

        Several switches at one instant (DST all year long ends one year as it starts
        the next) come out as the last of them.
        """
        heap: list[tuple[int, int, int, _LocalType]] = []
        for year in range(first_year, _MAX_YEAR + 2):
            # The start is read on the standard clock, the end on the daylight one.
            start = self.start.local_seconds(year) - self.std.utoff
            end = self.end.local_seconds(year) - self.dst.utoff
            heapq.heappush(heap, (start, year, 1, self.dst))
            heapq.heappush(heap, (end, year, 0, self.std))
            horizon = _days_from_civil(year + 1, 1, 1) * _DAY - _SLACK
            while heap and heap[0][0] < horizon:
                ts, _, _, kind = heapq.heappop(heap)
                while heap and heap[0][0] == ts:
                    kind = heapq.heappop(heap)[3]
                yield ts, kind


# Compared and hashed by identity: it keys the cache of the years its rule expands to.
@dataclass(frozen=True, slots=True, eq=False)
class _Zone:
    """One zone's parsed TZif data."""

    times: tuple[int, ...]
    """The instants (seconds since the epoch) of the table's real changes."""
    table: tuple[Transition, ...]
    final: _LocalType
    """The type in effect from the table's last entry on, until the rule takes over."""
    rule: _Rule | None
    rule_floor: int | None
    """The rule applies after this instant (the table's last entry); None: always."""

    def changes_from(self, from_ts: int) -> Iterator[tuple[int, Transition]]:
        """Every change at or after ``from_ts``, oldest first, with its instant."""
        for index in range(bisect_left(self.times, from_ts), len(self.times)):
            yield self.times[index], self.table[index]
        if self.rule is None:
            return
        floor = self.rule_floor
        begin = max(from_ts, _MIN_TS, _MIN_TS if floor is None else floor + 1)
        if begin > _MAX_TS:
            return
        quiet = 0
        for year in range(_year_of(begin), _MAX_YEAR + 1):
            bucket = _rule_changes(self, year)
            quiet = 0 if bucket else quiet + 1
            if quiet >= _QUIET_YEARS:
                return
            for ts, change in bucket:
                if ts >= begin:
                    yield ts, change


@functools.lru_cache(maxsize=16_384)
def _rule_changes(data: _Zone, year: int) -> tuple[tuple[int, Transition], ...]:
    """The changes a zone's rule makes in one UTC calendar year, cached."""
    rule = data.rule
    assert rule is not None
    year_start = _days_from_civil(year, 1, 1) * _DAY
    year_end = _days_from_civil(year + 1, 1, 1) * _DAY
    floor = data.rule_floor
    current: _LocalType | None = data.final if floor is not None else None
    found: list[tuple[int, Transition]] = []
    # Two years back holds the last switch before this year, whatever the rule's hours.
    for ts, kind in rule.events(year - 2):
        if ts >= year_end or ts > _MAX_TS:
            break
        if floor is not None and ts <= floor:
            continue
        if ts < year_start or current is None:
            current = kind
            continue
        if kind != current:
            found.append((ts, _transition(ts, current, kind)))
            current = kind
    return tuple(found)


@functools.cache
def _zone(name: str) -> _Zone:
    """Read and parse one zone's TZif file from the tzdata package, once."""
    if name not in _package_names():
        raise KeyError(f"no time zone named {name!r} in the tzdata package")
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    return _parse(resource.read_bytes(), name)


@functools.cache
def _package_names() -> frozenset[str]:
    """The zone names the tzdata package lists, which are the only files read."""
    text = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def _parse(data: bytes, name: str) -> _Zone:
    """Parse TZif bytes: the v2+ 64-bit data block and its footer, or a v1 file's block."""
    magic, version, *counts = _HEADER.unpack_from(data, 0)
    if magic != b"TZif":
        raise ValueError(f"{name}: not a TZif file")
    offset = _HEADER.size
    time_size = 4
    if version != b"\x00":
        # Skip the 32-bit block: the 64-bit one after it covers every instant.
        offset += _block_size(counts, 4)
        magic, version, *counts = _HEADER.unpack_from(data, offset)
        if magic != b"TZif":
            raise ValueError(f"{name}: no second TZif header")
        offset += _HEADER.size
        time_size = 8
    isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = counts
    if leapcnt:
        raise ValueError(f"{name}: TZif data with leap seconds is not supported")
    if typecnt < 1:
        raise ValueError(f"{name}: no local time types")
    times = struct.unpack_from(f">{timecnt}{'q' if time_size == 8 else 'l'}", data, offset)
    offset += timecnt * time_size
    indices = data[offset : offset + timecnt]
    offset += timecnt
    raw_types = [struct.unpack_from(">lBB", data, offset + 6 * i) for i in range(typecnt)]
    offset += 6 * typecnt
    chars = data[offset : offset + charcnt]
    offset += charcnt + isstdcnt + isutcnt
    types = [
        _LocalType(utoff, bool(isdst), chars[index : chars.index(b"\x00", index)].decode())
        for utoff, isdst, index in raw_types
    ]
    rule: _Rule | None = None
    final = types[indices[-1]] if timecnt else types[0]
    if time_size == 8:
        footer = data[offset + 1 : data.index(b"\n", offset + 1)].decode("ascii")
        if footer:
            parsed = _parse_posix(footer)
            if isinstance(parsed, _Rule):
                rule = parsed
            elif not timecnt:
                final = parsed
    # Before its first entry a table's time is type 0 (RFC 9636 section 3.2).
    current = types[0]
    kept_times: list[int] = []
    kept: list[Transition] = []
    for ts, index in zip(times, indices, strict=True):
        after = types[index]
        if after != current and _MIN_TS <= ts <= _MAX_TS:
            kept_times.append(ts)
            kept.append(_transition(ts, current, after))
        current = after
    return _Zone(
        times=tuple(kept_times),
        table=tuple(kept),
        final=final,
        rule=rule,
        rule_floor=times[-1] if timecnt else None,
    )


def _block_size(counts: list[int], time_size: int) -> int:
    """The length of a TZif data block whose times take ``time_size`` bytes."""
    isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = counts
    return (
        timecnt * (time_size + 1)
        + typecnt * 6
        + charcnt
        + leapcnt * (time_size + 4)
        + isstdcnt
        + isutcnt
    )


_POSIX_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_POSIX_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_POSIX_ZONE = re.compile(
    rf"(?P<std>{_POSIX_NAME})(?P<stdoff>{_POSIX_OFFSET})"
    rf"(?:(?P<dst>{_POSIX_NAME})(?P<dstoff>{_POSIX_OFFSET})?"
    r",(?P<start>[^,]+),(?P<end>[^,]+))?",
    re.ASCII,
)
_POSIX_DATE = re.compile(
    r"(?:M(?P<month>\d{1,2})\.(?P<week>[1-5])\.(?P<weekday>[0-6])|J(?P<julian>\d{1,3})"
    r"|(?P<day>\d{1,3}))(?:/(?P<time>[+-]?\d{1,3}(?::\d{2}){0,2}))?",
    re.ASCII,
)


def _parse_posix(text: str) -> _Rule | _LocalType:
    """A TZif footer: a fixed type, or a rule (RFC 9636 section 3.3 and POSIX TZ)."""
    match = _POSIX_ZONE.fullmatch(text)
    if match is None:
        raise ValueError(f"unsupported TZ string {text!r}")
    # POSIX offsets count hours west of Greenwich; TZif offsets count east.
    std = _LocalType(-_hms(match["stdoff"]), False, match["std"].strip("<>"))
    if match["dst"] is None:
        return std
    dst_utoff = -_hms(match["dstoff"]) if match["dstoff"] else std.utoff + 3600
    dst = _LocalType(dst_utoff, True, match["dst"].strip("<>"))
    return _Rule(std, dst, _parse_day_rule(match["start"]), _parse_day_rule(match["end"]))


def _parse_day_rule(text: str) -> _DayRule:
    """One ``date[/time]`` of a POSIX TZ rule."""
    match = _POSIX_DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"unsupported TZ rule date {text!r}")
    seconds = 7200 if match["time"] is None else _hms(match["time"])
    if abs(seconds) > 167 * 3600 + 3599:
        raise ValueError(f"TZ rule time {text!r} is beyond 167 hours")
    if match["month"] is not None:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ValueError(f"TZ rule month out of range in {text!r}")
        return _DayRule("M", month, int(match["week"]), int(match["weekday"]), seconds)
    if match["julian"] is not None:
        day = int(match["julian"])
        if not 1 <= day <= 365:
            raise ValueError(f"TZ rule day out of range in {text!r}")
        return _DayRule("J", 0, 0, day, seconds)
    day = int(match["day"])
    if not 0 <= day <= 365:
        raise ValueError(f"TZ rule day out of range in {text!r}")
    return _DayRule("n", 0, 0, day, seconds)


def _hms(text: str) -> int:
    """``[+-]hh[:mm[:ss]]`` as signed seconds."""
    sign = -1 if text.startswith("-") else 1
    parts = [int(part) for part in text.lstrip("+-").split(":")]
    hours, minutes, seconds = [*parts, 0, 0][:3]
    if minutes > 59 or seconds > 59:
        raise ValueError(f"minutes and seconds run to 59 in TZ string time {text!r}")
    return sign * (hours * 3600 + minutes * 60 + seconds)


def _transition(ts: int, before: _LocalType, after: _LocalType) -> Transition:
    return Transition(
        time=_EPOCH + timedelta(seconds=ts),
        utc_offset_before=timedelta(seconds=before.utoff),
        utc_offset_after=timedelta(seconds=after.utoff),
        abbreviation_before=before.abbreviation,
        abbreviation_after=after.abbreviation,
        dst_before=before.dst,
        dst_after=after.dst,
    )


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date, for any year."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_length(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _year_of(ts: int) -> int:
    """The UTC calendar year of an instant a datetime can hold."""
    return (_EPOCH + timedelta(seconds=ts)).year


def _floor_seconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive: pass an aware datetime")
    return (moment - _EPOCH) // _SECOND


def _ceil_seconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive: pass an aware datetime")
    return -((_EPOCH - moment) // _SECOND)
