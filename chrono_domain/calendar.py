"""Facts about a calendar date (proleptic Gregorian) that callers usually compute next."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class DateFacts:
    """A date and where it falls: its weekday, ordinal day, ISO week, year and month."""

    day: date
    iso_weekday: int
    """Monday 1 to Sunday 7, as ISO 8601 (and google.type.DayOfWeek) number them."""
    day_of_year: int
    iso_week: int
    iso_week_year: int
    leap_year: bool
    days_in_month: int

    @property
    def formatted(self) -> str:
        """The date as ``YYYY-MM-DD``."""
        return self.day.isoformat()


def describe(day: date) -> DateFacts:
    """The facts about ``day``."""
    iso = day.isocalendar()
    return DateFacts(
        day=day,
        iso_weekday=day.isoweekday(),
        day_of_year=day.timetuple().tm_yday,
        iso_week=iso.week,
        iso_week_year=iso.year,
        leap_year=calendar.isleap(day.year),
        days_in_month=calendar.monthrange(day.year, day.month)[1],
    )
