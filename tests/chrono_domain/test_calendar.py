"""Facts about dates, checked day by day against the C library's strftime and date arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

from chrono_domain.calendar import describe

# Whole years around the edges that trip ISO week numbering and leap rules.
YEARS = (1900, 1999, 2000, 2004, 2020, 2021, 2026, 2027, 2100)


def days(year: int) -> list[date]:
    """Every day of ``year``."""
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def test_facts_match_strftime_and_arithmetic_over_whole_years() -> None:
    """Weekday, ordinal, ISO week and year, leap year and month length agree for every day."""
    for year in YEARS:
        for day in days(year):
            facts = describe(day)
            iso_year, iso_week, weekday = (int(part) for part in day.strftime("%G %V %u").split())
            following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            assert (facts.iso_weekday, facts.iso_week, facts.iso_week_year) == (
                weekday,
                iso_week,
                iso_year,
            ), day
            assert facts.day_of_year == int(day.strftime("%j")), day
            assert facts.days_in_month == (following - day.replace(day=1)).days, day
            assert facts.leap_year == ((date(year, 3, 1) - date(year, 2, 28)).days == 2), day
            assert facts.formatted == day.strftime("%Y-%m-%d"), day
