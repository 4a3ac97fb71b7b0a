"""Business-day calendars, checked against numpy's busday functions over whole years.

numpy's ``busday_offset`` counts from the day it rolls to, and ours never counts the
start; so for n > 0 numpy rolls backward first (no business day lies between the rolled
day and the start), for n < 0 forward, and for n = 0 forward, which is our rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Literal

import holidays
import numpy as np
import pytest

from chrono_domain.business import (
    SATURDAY_SUNDAY,
    BusinessCalendar,
    Convention,
    Holiday,
    Holidays,
    WeekendChanges,
)
from chrono_domain.errors import InvalidArgumentError

# ISO weekdays and numpy weekmasks (Monday first, 1 for a business day).
WEEKENDS = {
    "sat-sun": (frozenset({6, 7}), "1111100"),
    "fri-sat": (frozenset({5, 6}), "1111001"),
    "sun": (frozenset({7}), "1111110"),
    "mon-thu": (frozenset({1, 4}), "0110111"),
}
OFFSETS = (-400, -31, -8, -7, -6, -1, 0, 1, 2, 6, 7, 8, 31, 365, 400)
STEPS = (-300, -23, -5, -2, -1, 0, 1, 2, 5, 23, 300)
Roll = Literal["forward", "backward", "modifiedfollowing", "modifiedpreceding"]
ROLLS: dict[Convention, Roll] = {
    Convention.FOLLOWING: "forward",
    Convention.MODIFIED_FOLLOWING: "modifiedfollowing",
    Convention.PRECEDING: "backward",
    Convention.MODIFIED_PRECEDING: "modifiedpreceding",
}


def days_between(first: date, stop: date) -> list[date]:
    """Every day from ``first`` up to, not including, ``stop``."""
    return [first + timedelta(days=n) for n in range((stop - first).days)]


DAYS = days_between(date(2024, 1, 1), date(2028, 1, 1))


def table(entity: holidays.HolidayBase) -> dict[date, tuple[Holiday, ...]]:
    """A holidays object as a calendar's holidays by date."""
    return {day: tuple(Holiday(day, name) for name in entity.get_list(day)) for day in entity}


US = table(holidays.country_holidays("US", years=range(1920, 2032)))
GB = table(holidays.country_holidays("GB", years=range(2020, 2032)))


class Source:
    """A fixed set of holidays, given year by year as a calendar asks for them."""

    def __init__(self, by_date: Mapping[date, tuple[Holiday, ...]]) -> None:
        self.by_year: dict[int, dict[date, tuple[Holiday, ...]]] = {}
        for day, names in by_date.items():
            self.by_year.setdefault(day.year, {})[day] = names

    def holidays_in(self, year: int) -> Holidays:
        """The holidays of ``year``."""
        return self.by_year.get(year, {})


def numpy_days(days: Iterable[date]) -> np.ndarray:
    """Dates as numpy day values."""
    return np.array(sorted(days), dtype="datetime64[D]")


def as_dates(values: np.ndarray) -> list[date]:
    """Dates from numpy day values."""
    return [value.item() for value in values]


def check_against_numpy(calendar: BusinessCalendar, mask: str, off: Iterable[date]) -> None:
    """Every query on every day of 2024-2027 answers as numpy does with ``off`` as holidays."""
    cal = np.busdaycalendar(weekmask=mask, holidays=numpy_days(off))
    starts = numpy_days(DAYS)
    assert [calendar.is_business_day(day) for day in DAYS] == list(
        np.is_busday(starts, busdaycal=cal)
    )
    for offset in OFFSETS:
        ends = [day + timedelta(days=offset) for day in DAYS]
        expected = np.busday_count(starts, numpy_days(ends), busdaycal=cal)
        got = [calendar.count_business_days(day, end) for day, end in zip(DAYS, ends, strict=True)]
        assert got == list(expected), offset
    for n in STEPS:
        roll: Roll = "backward" if n > 0 else "forward"
        expected_days = as_dates(np.busday_offset(starts, n, roll=roll, busdaycal=cal))
        assert [calendar.add_business_days(day, n) for day in DAYS] == expected_days, n
    for convention, roll in ROLLS.items():
        expected_days = as_dates(np.busday_offset(starts, 0, roll=roll, busdaycal=cal))
        assert [calendar.adjust(day, convention) for day in DAYS] == expected_days, convention


@pytest.mark.parametrize("weekend", WEEKENDS)
def test_us_holidays_match_numpy_for_every_day(weekend: str) -> None:
    """With the US holidays, every query on every day of 2024-2027 agrees with numpy."""
    days, mask = WEEKENDS[weekend]
    check_against_numpy(BusinessCalendar(days, Source(US)), mask, US)


def test_a_function_is_a_source_and_edits_match_numpy() -> None:
    """A function of the year is a source; extra holidays add days off, removed ones take them."""
    removed = {day for day in US if day.month in (1, 7)}
    extra = {date(2025, 3, 14): "Pi Day", date(2026, 8, 3): "Summer Day", date(2027, 1, 1): "Twice"}
    calendar = BusinessCalendar(
        SATURDAY_SUNDAY, Source(US).holidays_in, extra=extra, removed=removed | {date(2027, 1, 1)}
    )
    off = (set(US) | set(extra)) - removed - {date(2027, 1, 1)}
    check_against_numpy(calendar, "1111100", off)
    assert calendar.holidays_on(date(2025, 3, 14)) == (Holiday(date(2025, 3, 14), "Pi Day"),)
    assert calendar.holidays_on(date(2026, 7, 3)) == ()


def test_union_has_every_base_holiday_and_its_own_weekend() -> None:
    """A union is a day off whenever any base is, with the weekend it is given."""
    us = BusinessCalendar(SATURDAY_SUNDAY, Source(US), removed={date(2025, 11, 27)})
    gb = BusinessCalendar(SATURDAY_SUNDAY, Source(GB), extra={date(2026, 6, 1): "Works outing"})
    union = BusinessCalendar.union(
        [us, gb], weekend={5, 6}, extra={date(2027, 2, 2): "Founders"}, removed={date(2024, 1, 1)}
    )
    off = (set(US) - {date(2025, 11, 27)}) | set(GB) | {date(2026, 6, 1), date(2027, 2, 2)}
    check_against_numpy(union, "1111001", off - {date(2024, 1, 1)})
    christmas = date(2026, 12, 25)
    assert union.holidays_on(christmas) == (Holiday(christmas, "Christmas Day"),)


def test_union_without_a_weekend_takes_every_base_weekend() -> None:
    """Without a weekend of its own a union rests on any day a base does; none gives Sat-Sun."""
    sunday_only = BusinessCalendar({7})
    friday_saturday = BusinessCalendar({5, 6}, Source(GB))
    assert BusinessCalendar.union([sunday_only, friday_saturday]).weekend == {5, 6, 7}
    assert BusinessCalendar.union([]).weekend == SATURDAY_SUNDAY
    with pytest.raises(InvalidArgumentError) as caught:
        BusinessCalendar.union([BusinessCalendar({1, 2, 3}), BusinessCalendar({4, 5, 6, 7})])
    assert caught.value.reason == "NO_BUSINESS_DAYS"


def test_holidays_between_includes_both_ends_in_date_then_name_order() -> None:
    """Listing holidays from one date to another includes both, sorted by date then name."""
    both = BusinessCalendar.union(
        [BusinessCalendar(holidays=Source(US)), BusinessCalendar(holidays=Source(GB))]
    )
    start, end = date(2024, 1, 1), date(2031, 12, 25)
    expected = sorted(
        {
            holiday
            for by_date in (US, GB)
            for day, names in by_date.items()
            for holiday in names
            if start <= day <= end
        }
    )
    listed = both.holidays_between(start, end)
    assert listed == expected
    assert listed[0].date == start
    assert listed[-1].date == end
    assert [(h.date, h.name) for h in listed] == sorted((h.date, h.name) for h in listed)
    assert both.holidays_between(end, start) == []


def test_long_spans_match_numpy() -> None:
    """A century of counting and a million business days agree with numpy."""
    for weekend, mask in WEEKENDS.values():
        calendar = BusinessCalendar(weekend, Source(US))
        cal = np.busdaycalendar(weekmask=mask, holidays=numpy_days(US))
        for start, end in [
            (date(1926, 1, 1), date(2026, 1, 1)),
            (date(2031, 12, 31), date(1920, 1, 1)),
        ]:
            assert calendar.count_business_days(start, end) == np.busday_count(
                start, end, busdaycal=cal
            )
        for n in (1_000_000, -500_000, 2_000_000):
            expected = np.busday_offset(
                date(2026, 5, 9), n, roll="backward" if n > 0 else "forward", busdaycal=cal
            )
            assert calendar.add_business_days(date(2026, 5, 9), n) == expected.item()
    assert BusinessCalendar().count_business_days(date.min, date.max) == np.busday_count(
        date.min, date.max
    )


def test_a_year_without_business_days_is_skipped() -> None:
    """When every day of a year is a holiday, moving and adjusting reach past it."""
    year = {day: "Closed" for day in days_between(date(2026, 1, 1), date(2027, 1, 1))}
    calendar = BusinessCalendar(extra=year)
    assert calendar.add_business_days(date(2025, 12, 31), 1) == date(2027, 1, 1)
    assert calendar.add_business_days(date(2027, 1, 1), -1) == date(2025, 12, 31)
    assert calendar.adjust(date(2026, 6, 1)) == date(2027, 1, 1)
    assert calendar.adjust(date(2026, 6, 1), Convention.MODIFIED_FOLLOWING) == date(2025, 12, 31)
    assert calendar.count_business_days(date(2026, 1, 1), date(2027, 1, 1)) == 0


class Changing(Source):
    """US holidays, a Friday-Saturday weekend until 2025-07-01, and two worked Saturdays."""

    worked = frozenset({date(2026, 2, 14), date(2026, 10, 10)})

    def weekend_changes_in(self, year: int) -> WeekendChanges:
        """The earlier weekend's days, and the worked ones."""
        old = [
            day
            for day in days_between(date(year, 1, 1), date(year + 1, 1, 1))
            if day < date(2025, 7, 1)
        ]
        return WeekendChanges(
            added=frozenset(day for day in old if day.isoweekday() == 5),
            removed=frozenset(day for day in old if day.isoweekday() == 7),
            worked=self.worked,
        )


def test_weekend_changes_match_a_day_by_day_oracle() -> None:
    """An earlier weekend rule and worked weekend days agree with stepping day by day."""
    calendar = BusinessCalendar(SATURDAY_SUNDAY, Changing(US))

    def weekend(day: date) -> bool:
        return day.isoweekday() in ({5, 6} if day < date(2025, 7, 1) else {6, 7})

    def business(day: date) -> bool:
        return day not in US and (not weekend(day) or day in Changing.worked)

    span = days_between(date(2023, 6, 1), date(2028, 6, 1))
    assert [calendar.is_weekend(day) for day in span] == [weekend(day) for day in span]
    assert [calendar.is_business_day(day) for day in span] == [business(day) for day in span]
    good = [day for day in span if business(day)]
    for day in DAYS:
        later = [other for other in good if other > day]
        earlier = [other for other in good if other < day]
        assert calendar.add_business_days(day, 5) == later[4], day
        assert calendar.add_business_days(day, -5) == earlier[-5], day
        end = day + timedelta(days=40)
        assert calendar.count_business_days(day, end) == sum(day <= other < end for other in good)
    assert calendar.is_business_day(date(2026, 2, 14))
    assert calendar.is_weekend(date(2026, 2, 14))


@pytest.mark.parametrize(
    ("weekend", "reason"),
    [
        (range(1, 8), "NO_BUSINESS_DAYS"),
        ({0, 6}, "INVALID_WEEKDAY"),
        ({8}, "INVALID_WEEKDAY"),
        ({True}, "INVALID_WEEKDAY"),
    ],
)
def test_weekends_without_business_days_or_with_bad_days_are_refused(
    weekend: Iterable[int], reason: str
) -> None:
    """A weekend of the whole week, or of numbers that are not ISO weekdays, is refused."""
    with pytest.raises(InvalidArgumentError) as caught:
        BusinessCalendar(weekend)
    assert (caught.value.field, caught.value.reason) == ("weekend_days", reason)


def test_moving_past_the_supported_dates_is_refused() -> None:
    """Results outside 0001..9999 fail with DATE_OUT_OF_RANGE, huge counts at once."""
    calendar = BusinessCalendar()
    fridays = BusinessCalendar({5, 6})
    attempts: list[Callable[[], date]] = [
        lambda: calendar.add_business_days(date(9999, 12, 27), 5),
        lambda: calendar.add_business_days(date(1, 1, 5), -5),
        lambda: calendar.add_business_days(date(2026, 1, 1), 2**63 - 1),
        lambda: calendar.add_business_days(date(2026, 1, 1), -(2**63)),
        lambda: calendar.add_business_days(date(2026, 1, 1), 3_000_000),
        lambda: fridays.add_business_days(date(9999, 12, 31), 0),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidArgumentError) as caught:
            attempt()
        assert (caught.value.field, caught.value.reason) == ("days", "DATE_OUT_OF_RANGE")
    with pytest.raises(InvalidArgumentError) as caught:
        fridays.adjust(date(9999, 12, 31))
    assert (caught.value.field, caught.value.reason) == ("date", "DATE_OUT_OF_RANGE")
    assert fridays.adjust(date(9999, 12, 31), Convention.MODIFIED_FOLLOWING) == date(9999, 12, 30)
    assert calendar.add_business_days(date(9999, 12, 27), 4) == date(9999, 12, 31)
    assert calendar.add_business_days(date(1, 1, 5), -4) == date(1, 1, 1)
