"""Which instant a civil time means in a zone, disambiguated as TC39 Temporal and RFC 5545 do.

A civil (wall-clock) time happens once in its zone, never (the clocks jumped over it:
*skipped*) or more than once (the clocks were turned back over it: *ambiguous*). For a
zone of the tzdata package the answer comes from the zone's transitions
(:mod:`chrono_domain.transitions`): the instants whose wall time is the civil time are
exactly those it can mean. Any other tzinfo (a fixed ``datetime.timezone`` offset, a
ZoneInfo read from a file) is asked through PEP 495's ``fold``.
"""

from __future__ import annotations

import calendar
import enum
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from chrono_domain import transitions
from chrono_domain.errors import InvalidArgumentError

# Offsets stay within a day and changes near a civil time are never further apart than
# this, so the transitions in this reach of it are all that can bear on it.
_REACH = timedelta(days=2)
_DAY = timedelta(days=1)
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


class Disambiguation(enum.Enum):
    """Which instant a skipped or repeated civil time means."""

    COMPATIBLE = "compatible"
    """Overlap: the earlier instant; gap: the wall time moved forward by the gap's length."""
    EARLIER = "earlier"
    """Overlap: the earlier instant; gap: the wall time moved back by the gap's length."""
    LATER = "later"
    """Overlap: the later instant; gap: the wall time moved forward by the gap's length."""
    REJECT = "reject"
    """Raise InvalidArgumentError naming both instants."""


class LocalTimeKind(enum.Enum):
    """Whether a civil time happens once, never or twice in its zone."""

    UNIQUE = "unique"
    SKIPPED = "skipped"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Resolution:
    """The instant a civil time means, and what else it could have meant."""

    instant: datetime
    """The instant, an aware datetime in UTC."""
    kind: LocalTimeKind
    candidates: tuple[datetime, ...]
    """Empty for a unique civil time; otherwise the two instants it could mean, earlier
    first. A skipped time's are the wall time read with the offset after the gap and
    with the offset before it; an ambiguous time's are its first and last occurrence."""


def resolve_local(
    local: datetime,
    zone: tzinfo,
    disambiguation: Disambiguation = Disambiguation.COMPATIBLE,
) -> Resolution:
    """The instant the naive civil time ``local`` means in ``zone``.

    In an overlap COMPATIBLE and EARLIER take the earlier instant, LATER the later; in a
    gap COMPATIBLE and LATER read the wall time with the offset before the gap (moving
    it forward by the gap's length) and EARLIER with the offset after it. REJECT raises
    InvalidArgumentError on field ``local_time`` (reason LOCAL_TIME_SKIPPED or
    LOCAL_TIME_AMBIGUOUS) naming both instants; so does any disambiguation for a civil
    time whose instant a datetime cannot hold (reason LOCAL_TIME_OUT_OF_RANGE).
    """
    if local.tzinfo is not None:
        raise ValueError(f"{local!r} is aware: pass the civil time as a naive datetime")
    try:
        kind, instants = _instants(local, zone)
    except OverflowError:
        raise InvalidArgumentError(
            "local_time",
            f"local_time {local.isoformat()} in {zone} is outside the instants this server "
            f"can represent ({_rfc3339(_FIRST)} to {_rfc3339(_LAST)})",
            "LOCAL_TIME_OUT_OF_RANGE",
        ) from None
    if kind is LocalTimeKind.UNIQUE:
        return Resolution(instants[0], kind, ())
    earlier, later = instants[0], instants[-1]
    if disambiguation is Disambiguation.REJECT:
        raise _rejected(local, zone, kind, earlier, later)
    if kind is LocalTimeKind.SKIPPED:
        instant = earlier if disambiguation is Disambiguation.EARLIER else later
    else:
        instant = later if disambiguation is Disambiguation.LATER else earlier
    return Resolution(instant, kind, (earlier, later))


def civil_datetime(
    year: int,
    month: int,
    day: int,
    hours: int,
    minutes: int,
    seconds: int,
    nanos: int,
    *,
    field: str = "local_time",
) -> datetime:
    """The naive datetime of a google.type.DateTime's fields, checked.

    Raises InvalidArgumentError (reason INVALID_LOCAL_TIME) naming the first field out
    of range as ``<field>.<name>``: year 1 to 9999 (google.type.DateTime's 0, "no
    year", is refused), a real month and day, hours 0 to 23, minutes and seconds 0 to
    59 (no leap second), nanos 0 to 999999999. A datetime holds microseconds, so nanos
    below a microsecond are dropped (truncated, never rounded).
    """
    _check(field, "year", year, 1, 9999, "0 means no year in google.type.DateTime")
    _check(field, "month", month, 1, 12)
    length = calendar.monthrange(year, month)[1]
    _check(field, "day", day, 1, length, f"{year:04d}-{month:02d} has {length} days")
    _check(field, "hours", hours, 0, 23, "midnight at the end of a day is 00 of the next")
    _check(field, "minutes", minutes, 0, 59)
    _check(field, "seconds", seconds, 0, 59, "leap seconds are not accepted")
    _check(field, "nanos", nanos, 0, 999_999_999)
    return datetime(year, month, day, hours, minutes, seconds, nanos // 1000)


def _check(field: str, name: str, value: int, low: int, high: int, note: str = "") -> None:
    if low <= value <= high:
        return
    aside = f" ({note})" if note else ""
    raise InvalidArgumentError(
        f"{field}.{name}",
        f"{field}.{name} is {value}; it must be from {low} to {high}{aside}",
        "INVALID_LOCAL_TIME",
    )


def _instants(local: datetime, zone: tzinfo) -> tuple[LocalTimeKind, list[datetime]]:
    """The kind of ``local`` and its instants: the one, both occurrences, or both readings."""
    if isinstance(zone, ZoneInfo) and zone.key is not None:
        try:
            return _from_table(local, zone, zone.key)
        except KeyError:
            pass  # not a zone of the tzdata package
    return _from_fold(local, zone)


def _from_table(local: datetime, zone: ZoneInfo, key: str) -> tuple[LocalTimeKind, list[datetime]]:
    wall = local.replace(tzinfo=UTC, fold=0)
    stretches, gaps = _around(key, local.date())
    if not stretches:
        offset = zone.utcoffset(local)
        assert offset is not None
        return LocalTimeKind.UNIQUE, [wall - offset]
    found = []
    for start, end, offset in stretches:
        instant = wall - offset
        if (start is None or start <= instant) and (end is None or instant < end):
            found.append(instant)
    if len(found) == 1:
        return LocalTimeKind.UNIQUE, found
    if found:
        return LocalTimeKind.AMBIGUOUS, found
    for first, last, before, after in gaps:
        if first <= wall < last:
            return LocalTimeKind.SKIPPED, [wall - after, wall - before]
    raise AssertionError(f"{local} in {key} is neither in a stretch nor in a gap")


_Stretch = tuple[datetime | None, datetime | None, timedelta]
_Gap = tuple[datetime, datetime, timedelta, timedelta]


@functools.lru_cache(maxsize=4096)
def _around(key: str, day: date) -> tuple[tuple[_Stretch, ...], tuple[_Gap, ...]]:
    """What bears on the civil times of ``day`` in a zone, cached by day.

    The stretches between the zone's nearby changes, each with its fixed offset: a wall
    time happens in a stretch iff reading it with that offset lands in the stretch. And
    the gaps, as wall times read as UTC, that forward jumps skip. No change nearby: none.
    """
    midnight = datetime.combine(day, time(), UTC)
    near = list(
        transitions.transitions(key, _shift(midnight, -_REACH), _shift(midnight, _DAY + _REACH))
    )
    if not near:
        return (), ()
    bounds: list[datetime | None] = [None, *(change.time for change in near), None]
    offsets = [near[0].utc_offset_before, *(change.utc_offset_after for change in near)]
    stretches = tuple(
        (bounds[index], bounds[index + 1], offset) for index, offset in enumerate(offsets)
    )
    gaps = tuple(
        (
            _shift(change.time, change.utc_offset_before),
            _shift(change.time, change.utc_offset_after),
            change.utc_offset_before,
            change.utc_offset_after,
        )
        for change in near
        if change.utc_offset_after > change.utc_offset_before
    )
    return stretches, gaps


def _shift(instant: datetime, delta: timedelta) -> datetime:
    """``instant + delta``, held to the instants a datetime can hold."""
    try:
        return instant + delta
    except OverflowError:
        return _LAST if delta > timedelta(0) else _FIRST


def _from_fold(local: datetime, zone: tzinfo) -> tuple[LocalTimeKind, list[datetime]]:
    # PEP 495: fold=0 reads a gap or an overlap with the offset before the change,
    # fold=1 with the one after it.
    before = local.replace(tzinfo=zone, fold=0).utcoffset()
    after = local.replace(tzinfo=zone, fold=1).utcoffset()
    if before is None or after is None:
        raise ValueError(f"{zone} gives no UTC offset for {local}")
    first = (local - before).replace(tzinfo=UTC)
    if before == after:
        return LocalTimeKind.UNIQUE, [first]
    both = sorted([first, (local - after).replace(tzinfo=UTC)])
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return LocalTimeKind.AMBIGUOUS, both
    return LocalTimeKind.SKIPPED, both


def _rejected(
    local: datetime,
    zone: tzinfo,
    kind: LocalTimeKind,
    earlier: datetime,
    later: datetime,
) -> InvalidArgumentError:
    both = f"{_rfc3339(earlier)} and {_rfc3339(later)}"
    if kind is LocalTimeKind.SKIPPED:
        return InvalidArgumentError(
            "local_time",
            f"local_time {local.isoformat()} is skipped in {zone}: its clocks jump over it, "
            f"so it could mean {both}; set disambiguation to EARLIER for the first or LATER "
            "(or COMPATIBLE) for the second",
            "LOCAL_TIME_SKIPPED",
        )
    return InvalidArgumentError(
        "local_time",
        f"local_time {local.isoformat()} is ambiguous in {zone}: its clocks pass it twice, "
        f"so it could mean {both}; set disambiguation to EARLIER (or COMPATIBLE) for the "
        "first or LATER for the second",
        "LOCAL_TIME_AMBIGUOUS",
    )


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
