"""Periods of years, months, weeks and days on dates, with java.time semantics.

:func:`add_period` is ``LocalDate.plus(Period)``: years and months are added first, as one
count of months, with the day moved back to the end of a shorter month (or refused, with
:attr:`Overflow.REJECT`); weeks and days are added after that. :func:`between` is
``Period.between``. Dates stay within 0001-01-01 and 9999-12-31, the range of
:class:`datetime.date` and of google.type.Date; amounts may be any integer (int64 from
the wire, or larger) and are refused, never overflowed, when they leave that range.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date

from chrono_domain.errors import InvalidArgumentError

# Months counted from January of year 0, as java.time's proleptic month is.
_FIRST_MONTH = 1 * 12
_LAST_MONTH = 9999 * 12 + 11
_RANGE = "dates run from 0001-01-01 to 9999-12-31"


class Overflow(enum.Enum):
    """What adding months does when the day does not exist in the month it lands in."""

    CLAMP = "clamp"
    """Use the month's last day instead (java.time's behaviour)."""
    REJECT = "reject"
    """Refuse with InvalidArgumentError, reason ``DAY_OUT_OF_RANGE``."""


@dataclass(frozen=True, slots=True)
class Added:
    """The date a period leads to, and whether its day was moved back to a month's end."""

    date: date
    clamped: bool


@dataclass(frozen=True, slots=True)
class Period:
    """An amount of time in years, months and days, as java.time's ``Period``.

    From :func:`between`, the components all have the sign of ``total_days`` (or are
    zero), ``months`` is from -11 to 11, and ``total_days`` is the plain difference in days.
    """

    years: int
    months: int
    days: int
    total_days: int

    @property
    def iso(self) -> str:
        """The period in ISO 8601 form as java.time writes it: ``P1Y2M3D``, ``P0D``."""
        parts = [
            f"{value}{unit}"
            for value, unit in ((self.years, "Y"), (self.months, "M"), (self.days, "D"))
            if value
        ]
        return "P" + ("".join(parts) or "0D")


def _amount(value: int, unit: str) -> str:
    """``plus 3 months``, ``minus 1 year``."""
    size = abs(value)
    return f"{'minus' if value < 0 else 'plus'} {size} {unit}{'' if size == 1 else 's'}"


def _months_phrase(years: int, months: int) -> str:
    """The year-and-month step in words, naming years alone when only years were given."""
    if months == 0:
        return _amount(years, "year")
    return _amount(years * 12 + months, "month")


def _days_phrase(weeks: int, days: int) -> str:
    """The week-and-day step in words, naming weeks alone when only weeks were given."""
    if days == 0:
        return _amount(weeks, "week")
    return _amount(weeks * 7 + days, "day")


def _ymd(year: int, month: int, day: int) -> str:
    """A date as ``YYYY-MM-DD``, whether or not it exists (2026-02-31)."""
    return f"{year:04d}-{month:02d}-{day:02d}"


def _plus_months(start: date, months: int) -> tuple[date, bool] | None:
    """``start`` plus ``months``, clamped, and whether it was; None outside the range."""
    index = start.year * 12 + start.month - 1 + months
    if not _FIRST_MONTH <= index <= _LAST_MONTH:
        return None
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last)), start.day > last


def add_period(
    start: date,
    years: int = 0,
    months: int = 0,
    weeks: int = 0,
    days: int = 0,
    overflow: Overflow = Overflow.CLAMP,
) -> Added:
    """``start`` plus the period, as java.time's ``LocalDate.plus(Period)``.

    Years and months are added as one count of months (``plusMonths(years * 12 +
    months)``), keeping the day of the month unless the month is shorter: then the day is
    the month's last (``clamped``), or with :attr:`Overflow.REJECT` an InvalidArgumentError
    on ``date`` (reason ``DAY_OUT_OF_RANGE``). Weeks and days are added to that date.

    A date before 0001-01-01 or after 9999-12-31, the result or the one between the two
    steps, raises InvalidArgumentError (reason ``DATE_OUT_OF_RANGE``) naming the component
    that contributes most to the step that leaves the range.
    """
    middle, clamped = start, False
    total_months = years * 12 + months
    if total_months:
        moved = _plus_months(start, total_months)
        if moved is None:
            field = "years" if abs(years * 12) >= abs(months) else "months"
            raise InvalidArgumentError(
                field,
                f"{start.isoformat()} {_months_phrase(years, months)} is outside the "
                f"supported range: {_RANGE}; use fewer {field}",
                "DATE_OUT_OF_RANGE",
            )
        middle, clamped = moved
        if clamped and overflow is Overflow.REJECT:
            raise InvalidArgumentError(
                "date",
                f"{start.isoformat()} {_months_phrase(years, months)} falls on "
                f"{_ymd(middle.year, middle.month, start.day)}, which does not exist; use "
                f"OVERFLOW_CLAMP to get {middle.isoformat()}",
                "DAY_OUT_OF_RANGE",
            )
    total_days = weeks * 7 + days
    ordinal = middle.toordinal() + total_days
    if not 1 <= ordinal <= date.max.toordinal():
        field = "weeks" if abs(weeks * 7) >= abs(days) else "days"
        raise InvalidArgumentError(
            field,
            f"{middle.isoformat()} {_days_phrase(weeks, days)} is outside the supported "
            f"range: {_RANGE}; use fewer {field}",
            "DATE_OUT_OF_RANGE",
        )
    return Added(date=date.fromordinal(ordinal), clamped=clamped)


def between(start: date, end: date) -> Period:
    """The period from ``start`` to ``end``, as java.time's ``Period.between``.

    Whole months are counted first, then the days left over; when ``end`` is before
    ``start`` every component is negative or zero (2011-03-18 to 2010-01-15 is -1 year,
    -2 months, -3 days). As in java.time, 2026-01-31 to 2026-02-28 is 28 days, not a
    month: a month is only complete once the day of the month is reached again.
    """
    total_months = (end.year * 12 + end.month) - (start.year * 12 + start.month)
    days = end.day - start.day
    if total_months > 0 and days < 0:
        total_months -= 1
        moved = _plus_months(start, total_months)
        # The month before end's is within the range, since start is before it.
        assert moved is not None
        days = end.toordinal() - moved[0].toordinal()
    elif total_months < 0 and days > 0:
        total_months += 1
        days -= calendar.monthrange(end.year, end.month)[1]
    # java's / and % truncate toward zero, so both parts keep the sign of the whole.
    years = abs(total_months) // 12 * (1 if total_months >= 0 else -1)
    return Period(
        years=years,
        months=total_months - years * 12,
        days=days,
        total_days=end.toordinal() - start.toordinal(),
    )
