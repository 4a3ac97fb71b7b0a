"""Business days on a calendar of weekend days and holidays, in the manner of QuantLib.

A :class:`BusinessCalendar` is a weekly weekend (ISO weekdays, 1 Monday to 7 Sunday) and a
source of holidays by year. A day is a business day when it has no holiday and is not a
weekend day, or is a weekend day worked as a business day (see :class:`WeekendChanges`).

Counting follows numpy's ``busday_count`` (the start counted, the end not, negative when
the end comes first) and adjusting follows its ``roll`` conventions. Whole weeks are
counted arithmetically and each year's exceptions to the weekly pattern are computed once
and cached, so spans of centuries cost one step per year, not per day.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

from chrono_domain.errors import InvalidArgumentError

SATURDAY_SUNDAY: frozenset[int] = frozenset({6, 7})
"""The usual weekend, as ISO weekdays."""

_LAST = date.max.toordinal()
_RANGE = "dates run from 0001-01-01 to 9999-12-31"
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Convention(enum.Enum):
    """Where :meth:`BusinessCalendar.adjust` moves a day that is not a business day."""

    FOLLOWING = "following"
    """The next business day."""
    MODIFIED_FOLLOWING = "modified_following"
    """The next business day, unless it is in the next month: then the previous one."""
    PRECEDING = "preceding"
    """The previous business day."""
    MODIFIED_PRECEDING = "modified_preceding"
    """The previous business day, unless it is in the previous month: then the next one."""


@dataclass(frozen=True, slots=True, order=True)
class Holiday:
    """A day off and its name; holidays sort by date, then name.

    ``observed`` is true when the day off is the observed (substitute) day of a holiday
    that falls on a weekend or another holiday, rather than the holiday's own date. The
    name is the source's, label included: the built-in calendars keep the holidays
    package's ``Independence Day (observed)``, which tells it apart from the holiday's own
    ``Independence Day`` when both are listed.
    """

    date: date
    name: str
    observed: bool = False


Holidays = Mapping[date, tuple[Holiday, ...]]
"""The holidays of one year, by date."""


@runtime_checkable
class HolidaySource(Protocol):
    """Anything that gives the holidays of a year."""

    def holidays_in(self, year: int) -> Holidays:
        """The holidays of ``year``; dates of other years are ignored."""
        ...


@dataclass(frozen=True, slots=True)
class WeekendChanges:
    """How one year's weekend differs from the calendar's weekly weekend.

    Some calendars changed their weekend (Friday-Saturday to Saturday-Sunday), and some
    work on a few weekend days to make up for a bridge holiday.
    """

    added: frozenset[date] = frozenset()
    """Weekend days outside the weekly weekend (an earlier weekend rule)."""
    removed: frozenset[date] = frozenset()
    """Days of the weekly weekend that were not weekend days (an earlier weekend rule)."""
    worked: frozenset[date] = frozenset()
    """Weekend days that are business days all the same (make-up working days)."""


@runtime_checkable
class WeekendChangeSource(Protocol):
    """A holiday source that also says how each year's weekend differs from the weekly one."""

    def weekend_changes_in(self, year: int) -> WeekendChanges:
        """The changes of ``year``; dates of other years are ignored."""
        ...


class _OutOfRangeError(Exception):
    """No business day within 0001-01-01..9999-12-31 in the direction searched."""


@dataclass(frozen=True, slots=True)
class _Year:
    """One year's holidays, weekend changes and departures from the weekly pattern."""

    holidays: Holidays
    listing: tuple[Holiday, ...]
    listing_dates: tuple[date, ...]
    added: frozenset[date]
    removed: frozenset[date]
    # Ordinals of pattern business days that are not business days, and the reverse.
    off: tuple[int, ...]
    on: tuple[int, ...]
    off_set: frozenset[int]
    on_set: frozenset[int]


_NO_CHANGES = WeekendChanges()


def _jan1(year: int) -> int:
    """The ordinal of 1 January of ``year`` (proleptic Gregorian; 10000 too)."""
    y = year - 1
    return y * 365 + y // 4 - y // 100 + y // 400 + 1


def _check_weekend(weekend: Iterable[int]) -> frozenset[int]:
    """``weekend`` as a set of ISO weekdays, refusing other numbers and a full week."""
    days = frozenset(weekend)
    for day in sorted(days, key=repr):
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise InvalidArgumentError(
                "weekend_days",
                f"weekend day {day!r} is not a day of the week: use 1 (Monday) to 7 (Sunday)",
                "INVALID_WEEKDAY",
            )
    if len(days) == 7:
        raise InvalidArgumentError(
            "weekend_days",
            "a weekend of all seven days leaves no business days; leave at least one day "
            "of the week out of it",
            "NO_BUSINESS_DAYS",
        )
    return days


def _no_holidays(year: int) -> Holidays:
    """A source without holidays."""
    return {}


class BusinessCalendar:
    """Business days: a weekly weekend, holidays by year, and a custom calendar's edits.

    ``weekend`` holds ISO weekdays (1 Monday to 7 Sunday; all seven are refused).
    ``holidays`` is a :class:`HolidaySource`, a function from a year to its holidays, or
    None for none; a source that is also a :class:`WeekendChangeSource` may change the
    weekend of particular days. ``extra`` adds holidays (date to name), and ``removed``
    takes away every holiday on the dates it holds, ``extra`` ones included: a removed
    date is a business day unless it falls on the weekend.

    Instances are immutable and safe to share between threads; each caches the facts of
    the ``cache_years`` years it used last.
    """

    def __init__(
        self,
        weekend: Iterable[int] = SATURDAY_SUNDAY,
        holidays: HolidaySource | Callable[[int], Holidays] | None = None,
        *,
        extra: Mapping[date, str] | None = None,
        removed: Iterable[date] = (),
        cache_years: int = 256,
    ) -> None:
        """Check the weekend and index the edits; holidays are read lazily, by year."""
        self._weekend = _check_weekend(weekend)
        if holidays is None:
            self._source: Callable[[int], Holidays] = _no_holidays
        elif isinstance(holidays, HolidaySource):
            self._source = holidays.holidays_in
        else:
            self._source = holidays
        self._changes = (
            holidays.weekend_changes_in if isinstance(holidays, WeekendChangeSource) else None
        )
        self._extra: dict[date, str] = dict(extra or {})
        self._extra_by_year: dict[int, dict[date, str]] = {}
        for day, name in self._extra.items():
            self._extra_by_year.setdefault(day.year, {})[day] = name
        self._removed = frozenset(removed)
        # Indexed by date.weekday() (Monday 0), as ordinals are: 0001-01-01 was a Monday.
        self._pattern = tuple(weekday + 1 not in self._weekend for weekday in range(7))
        self._per_week = sum(self._pattern)
        self._partial = tuple(
            tuple(sum(self._pattern[(first + i) % 7] for i in range(length)) for length in range(7))
            for first in range(7)
        )
        self._year = functools.lru_cache(maxsize=cache_years)(self._build_year)

    @classmethod
    def union(
        cls,
        bases: Iterable[BusinessCalendar],
        *,
        weekend: Iterable[int] | None = None,
        extra: Mapping[date, str] | None = None,
        removed: Iterable[date] = (),
    ) -> BusinessCalendar:
        """A calendar with the holidays of all ``bases``, then ``extra`` and ``removed``.

        Each base contributes its holidays after its own edits. ``weekend`` is the new
        calendar's weekly weekend; None means every weekend day of any base (Saturday and
        Sunday without bases). The bases' weekend changes are not carried over: a union
        states its own weekend.
        """
        calendars = tuple(bases)
        if weekend is None:
            weekend = (
                frozenset().union(*(base.weekend for base in calendars))
                if calendars
                else SATURDAY_SUNDAY
            )
        return cls(weekend, _Union(calendars), extra=extra, removed=removed)

    @property
    def weekend(self) -> frozenset[int]:
        """The weekly weekend, as ISO weekdays (1 Monday to 7 Sunday)."""
        return self._weekend

    @property
    def extra(self) -> Mapping[date, str]:
        """The holidays added to the source's, by date."""
        return dict(self._extra)

    @property
    def removed(self) -> frozenset[date]:
        """The dates whose holidays are taken away."""
        return self._removed

    def holidays_in(self, year: int) -> Holidays:
        """The holidays of ``year`` after the edits, by date (a calendar is a source too)."""
        return self._year(year).holidays

    def holidays_on(self, day: date) -> tuple[Holiday, ...]:
        """The holidays on ``day``, by name; empty if none."""
        return self._year(day.year).holidays.get(day, ())

    def is_weekend(self, day: date) -> bool:
        """Whether ``day`` is a weekend day (of the weekend rule in force on it)."""
        year = self._year(day.year)
        if day in year.added:
            return True
        if day in year.removed:
            return False
        return day.isoweekday() in self._weekend

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a business day."""
        return self._is_business(day.toordinal(), self._year(day.year))

    def adjust(self, day: date, convention: Convention = Convention.FOLLOWING) -> date:
        """``day`` if it is a business day, else the business day ``convention`` gives.

        Raises InvalidArgumentError (``date``, ``DATE_OUT_OF_RANGE``) when no business day
        lies in the required direction before the end of the supported dates.
        """
        ordinal = day.toordinal()
        if self._is_business(ordinal, self._year(day.year)):
            return day
        try:
            if convention is Convention.FOLLOWING:
                return date.fromordinal(self._forward(ordinal, 1))
            if convention is Convention.PRECEDING:
                return date.fromordinal(self._backward(ordinal, 1))
            first: Callable[[int, int], int]
            second: Callable[[int, int], int]
            if convention is Convention.MODIFIED_FOLLOWING:
                first, second = self._forward, self._backward
            else:
                first, second = self._backward, self._forward
            try:
                found = date.fromordinal(first(ordinal, 1))
                if found.month == day.month:
                    return found
            except _OutOfRangeError:
                pass
            return date.fromordinal(second(ordinal, 1))
        except _OutOfRangeError:
            raise InvalidArgumentError(
                "date",
                f"no business day {convention.name} {day.isoformat()} within the supported "
                f"dates: {_RANGE}",
                "DATE_OUT_OF_RANGE",
            ) from None

    def add_business_days(self, day: date, n: int) -> date:
        """The ``n``-th business day after ``day`` (before it when ``n`` is negative).

        ``day`` itself is not counted; ``n`` = 0 gives ``day`` if it is a business day, else
        the next one. A result past the supported dates raises InvalidArgumentError
        (``days``, ``DATE_OUT_OF_RANGE``).
        """
        ordinal = day.toordinal()
        try:
            # No span of supported dates holds more business days than it has days.
            if abs(n) > _LAST:
                raise _OutOfRangeError
            if n > 0:
                return date.fromordinal(self._forward(ordinal + 1, n))
            if n < 0:
                return date.fromordinal(self._backward(ordinal - 1, -n))
            return date.fromordinal(self._forward(ordinal, 1))
        except _OutOfRangeError:
            edge = "before 0001-01-01" if n < 0 else "after 9999-12-31"
            raise InvalidArgumentError(
                "days",
                f"{n} business days from {day.isoformat()} would fall {edge}; {_RANGE}",
                "DATE_OUT_OF_RANGE",
            ) from None

    def count_business_days(self, start: date, end: date) -> int:
        """Business days from ``start`` (counted) to ``end`` (not), as numpy's busday_count.

        When ``end`` is before ``start`` the answer is minus the business days after
        ``end`` up to and including ``start``.
        """
        first, last = start.toordinal(), end.toordinal()
        if last >= first:
            return self._count(first, last)
        return -self._count(last + 1, first + 1)

    def holidays_between(self, start: date, end: date) -> list[Holiday]:
        """The holidays from ``start`` to ``end``, both included, by date then name.

        Empty when ``end`` is before ``start``.
        """
        found: list[Holiday] = []
        for year_number in range(start.year, end.year + 1):
            year = self._year(year_number)
            low = bisect.bisect_left(year.listing_dates, start)
            high = bisect.bisect_right(year.listing_dates, end)
            found.extend(year.listing[low:high])
        return found

    def _build_year(self, year: int) -> _Year:
        """Read one year from the source and work out where it leaves the weekly pattern."""
        gathered: dict[date, set[Holiday]] = {}
        for day, given in self._source(year).items():
            if day.year == year and day not in self._removed:
                gathered.setdefault(day, set()).update(given)
        for day, name in self._extra_by_year.get(year, {}).items():
            if day not in self._removed:
                gathered.setdefault(day, set()).add(Holiday(day, name))
        holidays = {day: tuple(sorted(names)) for day, names in sorted(gathered.items())}
        changes = self._changes(year) if self._changes is not None else _NO_CHANGES
        added = frozenset(day for day in changes.added if day.year == year)
        removed = frozenset(day for day in changes.removed if day.year == year)
        worked = frozenset(day for day in changes.worked if day.year == year)
        off: list[int] = []
        on: list[int] = []
        for day in set(holidays) | added | removed | worked:
            pattern = self._pattern[day.weekday()]
            weekend = day in added or (day not in removed and not pattern)
            business = not holidays.get(day) and (not weekend or day in worked)
            if pattern and not business:
                off.append(day.toordinal())
            elif business and not pattern:
                on.append(day.toordinal())
        listing = tuple(itertools.chain.from_iterable(holidays.values()))
        return _Year(
            holidays=holidays,
            listing=listing,
            listing_dates=tuple(holiday.date for holiday in listing),
            added=added,
            removed=removed,
            off=tuple(sorted(off)),
            on=tuple(sorted(on)),
            off_set=frozenset(off),
            on_set=frozenset(on),
        )

    def _is_business(self, ordinal: int, year: _Year) -> bool:
        """Whether the day ``ordinal`` of ``year`` is a business day."""
        if self._pattern[(ordinal - 1) % 7]:
            return ordinal not in year.off_set
        return ordinal in year.on_set

    def _pattern_count(self, first: int, stop: int) -> int:
        """Days of the week outside the weekend in ``[first, stop)``, by whole weeks."""
        weeks, rest = divmod(stop - first, 7)
        return weeks * self._per_week + self._partial[(first - 1) % 7][rest]

    def _count(self, first: int, stop: int) -> int:
        """Business days in the ordinals ``[first, stop)``, ``stop`` at most the last + 1."""
        if stop <= first:
            return 0
        total = self._pattern_count(first, stop)
        for year_number in range(date.fromordinal(first).year, date.fromordinal(stop - 1).year + 1):
            year = self._year(year_number)
            if year.off:
                total -= bisect.bisect_left(year.off, stop) - bisect.bisect_left(year.off, first)
            if year.on:
                total += bisect.bisect_left(year.on, stop) - bisect.bisect_left(year.on, first)
        return total

    def _forward(self, first: int, k: int) -> int:
        """The ``k``-th business day (``k`` >= 1) on or after the ordinal ``first``."""
        while True:
            if first > _LAST:
                raise _OutOfRangeError
            stop = min(_jan1(date.fromordinal(first).year + 1), _LAST + 1)
            available = self._count(first, stop)
            if available >= k:
                break
            k -= available
            first = stop
        low, high = first, stop - 1
        while low < high:
            middle = (low + high) // 2
            if self._count(first, middle + 1) >= k:
                high = middle
            else:
                low = middle + 1
        return low

    def _backward(self, last: int, k: int) -> int:
        """The ``k``-th business day (``k`` >= 1) on or before the ordinal ``last``."""
        while True:
            if last < 1:
                raise _OutOfRangeError
            start = _jan1(date.fromordinal(last).year)
            available = self._count(start, last + 1)
            if available >= k:
                break
            k -= available
            last = start - 1
        low, high = start, last
        while low < high:
            middle = (low + high + 1) // 2
            if self._count(middle, last + 1) >= k:
                low = middle
            else:
                high = middle - 1
        return low

    def __repr__(self) -> str:
        """The weekend and the number of edits, for logs."""
        days = ", ".join(_DAY_NAMES[day - 1] for day in sorted(self._weekend))
        return (
            f"BusinessCalendar(weekend=[{days}], extra={len(self._extra)}, "
            f"removed={len(self._removed)})"
        )


class _Union:
    """The holidays of several calendars together."""

    def __init__(self, bases: tuple[BusinessCalendar, ...]) -> None:
        self._bases = bases

    def holidays_in(self, year: int) -> Holidays:
        """Every base's holidays of ``year``, merged by date."""
        merged: dict[date, tuple[Holiday, ...]] = {}
        for base in self._bases:
            for day, given in base.holidays_in(year).items():
                merged[day] = merged.get(day, ()) + given
        return merged
