"""Periods on dates, checked against dateutil's relativedelta and java.time's algorithm."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]

from chrono_domain.errors import InvalidArgumentError
from chrono_domain.periods import Added, Overflow, Period, add_period, between

# Leap and common years, and the century rules (1900 is not leap, 2000 is).
YEARS = (1900, 2000, 2024, 2026)
MONTHS = range(-25, 26)
HUGE = (2**63 - 1, -(2**63), 10**30, -(10**30))


def days_of(year: int) -> list[date]:
    """Every day of ``year``."""
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range(366 if calendar.isleap(year) else 365)]


def add(start: date, period: dict[str, int]) -> Added:
    """``add_period`` with the period's parts by name, missing ones zero."""
    years, months, weeks, days = (period.get(p, 0) for p in ("years", "months", "weeks", "days"))
    return add_period(start, years, months, weeks, days)


def test_months_match_relativedelta_for_every_day_of_whole_years() -> None:
    """Adding -25 to 25 months clamps the day exactly as relativedelta does, and says so."""
    for year in YEARS:
        for day in days_of(year):
            for months in MONTHS:
                expected = day + relativedelta(months=months)
                got = add_period(day, months=months)
                assert got == Added(expected, expected.day != day.day), (day, months)


def test_mixed_periods_match_relativedelta_then_days_for_every_day() -> None:
    """Years and months go first as one month count, then weeks and days are added."""
    periods = [(1, 0, 0, 0), (-1, 0, 0, 0), (4, 0, 0, 0), (1, 13, 2, -3), (-2, 11, -1, 40)]
    periods += [(1, -13, 0, 1), (0, 1, 0, -31), (0, 0, 52, 1), (-100, -1, 0, 0), (3, 3, 3, 3)]
    for year in YEARS:
        for day in days_of(year):
            for years, months, weeks, days in periods:
                middle = day + relativedelta(years=years, months=months)
                expected = middle + timedelta(weeks=weeks, days=days)
                got = add_period(day, years, months, weeks, days)
                assert got == Added(expected, middle.day != day.day), (day, years, months)


def test_reject_refuses_exactly_the_days_that_clamp_moves() -> None:
    """OVERFLOW_REJECT fails with DAY_OUT_OF_RANGE on ``date`` exactly when CLAMP clamps."""
    for year in YEARS:
        for day in days_of(year):
            for months in MONTHS:
                clamped = add_period(day, months=months)
                if not clamped.clamped:
                    assert add_period(day, months=months, overflow=Overflow.REJECT) == clamped
                    continue
                with pytest.raises(InvalidArgumentError) as caught:
                    add_period(day, months=months, overflow=Overflow.REJECT)
                assert (caught.value.field, caught.value.reason) == ("date", "DAY_OUT_OF_RANGE")
                assert f"OVERFLOW_CLAMP to get {clamped.date.isoformat()}" in str(caught.value)


def test_reject_message_names_the_missing_day_and_the_clamped_one() -> None:
    """2026-01-31 plus a month names 2026-02-31 and offers 2026-02-28."""
    assert add_period(date(2026, 1, 31), months=1) == Added(date(2026, 2, 28), True)
    with pytest.raises(InvalidArgumentError) as caught:
        add_period(date(2026, 1, 31), months=1, overflow=Overflow.REJECT)
    assert caught.value.description == (
        "2026-01-31 plus 1 month falls on 2026-02-31, which does not exist; "
        "use OVERFLOW_CLAMP to get 2026-02-28"
    )
    with pytest.raises(InvalidArgumentError, match="2024-02-29 plus 1 year falls on 2025-02-29"):
        add_period(date(2024, 2, 29), years=1, overflow=Overflow.REJECT)
    leap = add_period(date(2024, 2, 29), years=4, overflow=Overflow.REJECT)
    assert leap == Added(date(2028, 2, 29), False)


@pytest.mark.parametrize(
    ("start", "period", "field"),
    [
        (date(9999, 12, 31), {"days": 1}, "days"),
        (date(1, 1, 1), {"days": -1}, "days"),
        (date(1, 1, 1), {"weeks": -1, "days": 6}, "weeks"),
        (date(9999, 12, 1), {"months": 1}, "months"),
        (date(1, 1, 31), {"months": -1}, "months"),
        (date(2026, 6, 15), {"years": 7974}, "years"),
        (date(2026, 6, 15), {"years": -2026}, "years"),
        (date(2026, 6, 15), {"years": 1, "months": -30000}, "months"),
        # The step between months and days leaves the range although the end would not.
        (date(9999, 12, 15), {"months": 1, "days": -30}, "months"),
    ],
)
def test_dates_outside_the_range_are_refused_naming_the_largest_part(
    start: date, period: dict[str, int], field: str
) -> None:
    """A result or intermediate date outside 0001..9999 fails with DATE_OUT_OF_RANGE."""
    with pytest.raises(InvalidArgumentError) as caught:
        add(start, period)
    assert (caught.value.field, caught.value.reason) == (field, "DATE_OUT_OF_RANGE")
    assert "0001-01-01 to 9999-12-31" in caught.value.description


def test_the_range_edges_themselves_are_reachable() -> None:
    """The first and last dates can be reached from each other by days and by months."""
    assert add_period(date(1, 1, 1), days=date.max.toordinal() - 1).date == date.max
    assert add_period(date.max, days=1 - date.max.toordinal()).date == date.min
    assert add_period(date(1, 1, 31), years=9998, months=11) == Added(date.max, False)
    assert add_period(date(9999, 12, 31), months=-(9998 * 12 + 11)) == Added(date(1, 1, 31), False)


@pytest.mark.parametrize("amount", HUGE)
@pytest.mark.parametrize("field", ["years", "months", "weeks", "days"])
def test_huge_amounts_are_refused_not_overflowed(field: str, amount: int) -> None:
    """int64 extremes and beyond fail with DATE_OUT_OF_RANGE, never OverflowError."""
    with pytest.raises(InvalidArgumentError) as caught:
        add(date(2026, 6, 15), {field: amount})
    assert (caught.value.field, caught.value.reason) == (field, "DATE_OUT_OF_RANGE")


def java_between(start: date, end: date) -> tuple[int, int, int]:
    """java.time's Period.between, written out from its source, with relativedelta months."""
    total_months = (end.year * 12 + end.month - 1) - (start.year * 12 + start.month - 1)
    days = end.day - start.day
    if total_months > 0 and days < 0:
        total_months -= 1
        days = (end - (start + relativedelta(months=total_months))).days
    elif total_months < 0 and days > 0:
        total_months += 1
        days -= calendar.monthrange(end.year, end.month)[1]
    years = int(total_months / 12)
    return years, total_months - years * 12, days


def test_between_matches_java_and_its_invariants_for_every_start_day() -> None:
    """Every start day of whole years, to ends up to two years either side, agrees with java."""
    offsets = [*range(-760, 761, 23), *range(-40, 41)]
    for year in YEARS:
        for start in days_of(year):
            for offset in offsets:
                end = start + timedelta(days=offset)
                period = between(start, end)
                parts = (period.years, period.months, period.days)
                assert parts == java_between(start, end), (start, end)
                assert period.total_days == offset
                assert all(p >= 0 for p in parts) or all(p <= 0 for p in parts), (start, end)
                assert abs(period.months) <= 11, (start, end)
                assert abs(period.days) <= 30, (start, end)
                if offset >= 0:
                    there = add_period(start, period.years, period.months, days=period.days)
                    assert there.date == end, (start, end)


def test_between_examples() -> None:
    """The documented examples, forward and backward, with their ISO forms."""
    assert between(date(2010, 1, 15), date(2011, 3, 18)) == Period(1, 2, 3, 427)
    assert between(date(2011, 3, 18), date(2010, 1, 15)) == Period(-1, -2, -3, -427)
    assert between(date(2026, 1, 31), date(2026, 2, 28)) == Period(0, 0, 28, 28)
    assert between(date(2026, 3, 31), date(2026, 2, 28)) == Period(0, -1, -3, -31)
    assert between(date(2010, 1, 15), date(2011, 3, 18)).iso == "P1Y2M3D"
    assert between(date(2026, 5, 5), date(2026, 5, 5)).iso == "P0D"
    assert between(date.min, date.max) == Period(9998, 11, 30, date.max.toordinal() - 1)
