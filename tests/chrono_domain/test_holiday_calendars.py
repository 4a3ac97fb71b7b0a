"""The built-in calendars, checked day by day against the holidays package itself."""

from __future__ import annotations

import re
from datetime import date, timedelta

import holidays
import pytest
from holidays.version import __version__ as package_version

from chrono_domain.business import BusinessCalendar, Convention
from chrono_domain.holiday_calendars import (
    DATA_VERSION,
    BuiltinInfo,
    Kind,
    builtin,
    builtin_names,
    describe_builtin,
)


def days_between(first: date, stop: date) -> list[date]:
    """Every day from ``first`` up to, not including, ``stop``."""
    return [first + timedelta(days=n) for n in range((stop - first).days)]


DECADE = days_between(date(2020, 1, 1), date(2031, 1, 1))
YEAR = days_between(date(2026, 1, 1), date(2027, 1, 1))

# Besides the common cases: weekends that changed (AE 2022, Johor 2025), make-up working
# Saturdays (CN), a Friday-Saturday weekend (SA), English names of a German calendar, and
# the markets. Languages are explicit: without one the package follows the process's locale.
CASES = [
    ("calendars/US", "US", None, False, "en_US"),
    ("calendars/US-CA", "US", "CA", False, "en_US"),
    ("calendars/GB", "GB", None, False, "en_GB"),
    ("calendars/DE-BY", "DE", "BY", False, "en_US"),
    ("calendars/CN", "CN", None, False, "en_US"),
    ("calendars/AE", "AE", None, False, "en_US"),
    ("calendars/MY-01", "MY", "01", False, "en_US"),
    ("calendars/SA", "SA", None, False, "en_US"),
    ("calendars/IN", "IN", None, False, "en_IN"),
    ("calendars/XNYS", "XNYS", None, True, "en_US"),
    ("calendars/XLON", "XLON", None, True, "en_GB"),
    ("calendars/XPAR", "ENX", "XPAR", True, "en_GB"),
]


def package(
    code: str, subdivision: str | None, market: bool, language: str | None, years: range
) -> holidays.HolidayBase:
    """The package's own holidays object for the years."""
    make = holidays.financial_holidays if market else holidays.country_holidays
    return make(code, subdiv=subdivision, years=years, language=language)


@pytest.mark.parametrize(("name", "code", "subdivision", "market", "language"), CASES)
def test_builtins_match_the_package_for_every_day_of_a_decade(
    name: str, code: str, subdivision: str | None, market: bool, language: str | None
) -> None:
    """Business days, weekend days and holiday names agree with the package, 2020-2030."""
    plain = {"calendars/US", "calendars/US-CA", "calendars/GB", "calendars/DE-BY", "calendars/XNYS"}
    calendar = builtin(name)
    assert calendar is not None
    entity = package(code, subdivision, market, language, range(2020, 2031))
    for day in DECADE:
        assert calendar.is_business_day(day) == entity.is_working_day(day), day
        assert calendar.is_weekend(day) == entity.is_weekend(day), day
        names = sorted(holiday.name for holiday in calendar.holidays_on(day))
        assert names == sorted(entity.get_list(day)), day
    # Calendars that always rest on Saturday and Sunday follow the plain rule too.
    if name in plain:
        business = [day.weekday() < 5 and day not in entity for day in DECADE]
        assert [calendar.is_business_day(day) for day in DECADE] == business


def test_every_builtin_matches_the_package_for_a_whole_year() -> None:
    """Every built-in calendar, every day of 2026: business day and weekend as the package says."""
    markets = set(holidays.list_supported_financial())
    for name in builtin_names():
        calendar = builtin(name)
        assert calendar is not None
        code = name.removeprefix("calendars/")
        country, _, subdivision = code.partition("-")
        market = code in markets
        entity = package(country, subdivision or None, market, None, range(2026, 2027))
        assert [calendar.is_business_day(day) for day in YEAR] == [
            entity.is_working_day(day) for day in YEAR
        ], name
        assert [calendar.is_weekend(day) for day in YEAR] == [
            entity.is_weekend(day) for day in YEAR
        ], name


def test_observed_days_are_marked_and_keep_the_package_name() -> None:
    """Observed days keep the package's "(observed)" label and have ``observed`` set."""
    for name in ("calendars/US", "calendars/GB", "calendars/XNYS"):
        calendar = builtin(name)
        assert calendar is not None
        listed = calendar.holidays_between(date(1990, 1, 1), date(2040, 12, 31))
        assert any(holiday.observed for holiday in listed)
        for holiday in listed:
            assert holiday.observed == holiday.name.endswith(" (observed)"), holiday


def test_holiday_names_do_not_follow_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names stay English when the environment asks gettext for Thai, which US supports."""
    monkeypatch.setenv("LANGUAGE", "th")
    us = builtin("calendars/US")
    assert us is not None
    assert [h.name for h in us.holidays_on(date(2097, 7, 4))] == ["Independence Day"]


def test_the_documented_examples() -> None:
    """NYSE closes for Independence Day observed and for President Carter; US conventions."""
    nyse, us = builtin("calendars/XNYS"), builtin("calendars/US")
    assert nyse is not None
    assert us is not None
    assert not nyse.is_business_day(date(2026, 7, 3))
    assert not nyse.is_business_day(date(2025, 1, 9))
    assert "Jimmy Carter" in nyse.holidays_on(date(2025, 1, 9))[0].name
    assert nyse.holidays_on(date(2026, 7, 3))[0].observed
    assert us.adjust(date(2026, 10, 31), Convention.MODIFIED_FOLLOWING) == date(2026, 10, 30)
    assert us.adjust(date(2026, 7, 4), Convention.FOLLOWING) == date(2026, 7, 6)
    assert us.count_business_days(date(2026, 6, 29), date(2026, 7, 6)) == 4
    assert us.add_business_days(date(2026, 7, 2), 1) == date(2026, 7, 6)


def test_names_cover_countries_iso_subdivisions_and_markets() -> None:
    """Every country, every ISO 3166-2 subdivision and every market, sorted, once each."""
    names = builtin_names()
    assert list(names) == sorted(set(names))
    expected = set()
    for code, subdivisions in holidays.list_supported_countries(include_aliases=False).items():
        expected.add(f"calendars/{code}")
        expected.update(
            f"calendars/{code}-{s}" for s in subdivisions if re.fullmatch(r"[A-Z0-9]{1,3}", s)
        )
    for code, markets in holidays.list_supported_financial(include_aliases=False).items():
        expected.add(f"calendars/{code}")
        expected.update(f"calendars/{market}" for market in markets)
    assert set(names) == expected
    assert {"calendars/US", "calendars/US-CA", "calendars/XNYS", "calendars/XPAR"} <= set(names)
    assert "calendars/DE-Augsburg" not in names


def test_descriptions_name_each_calendar_for_people() -> None:
    """Display names come from the package; kinds follow the name's form; unknown is None."""
    assert describe_builtin("calendars/US") == BuiltinInfo(
        "calendars/US", "United States of America", Kind.COUNTRY
    )
    assert describe_builtin("calendars/US-CA") == BuiltinInfo(
        "calendars/US-CA", "United States of America: California", Kind.SUBDIVISION
    )
    assert describe_builtin("calendars/XNYS") == BuiltinInfo(
        "calendars/XNYS", "New York Stock Exchange", Kind.MARKET
    )
    assert describe_builtin("calendars/DE-BY") == BuiltinInfo(
        "calendars/DE-BY", "Germany: Bayern", Kind.SUBDIVISION
    )
    assert describe_builtin("calendars/XPAR") == BuiltinInfo(
        "calendars/XPAR", "Euronext: XPAR", Kind.MARKET
    )
    assert describe_builtin("calendars/BA") == BuiltinInfo(
        "calendars/BA", "Bosnia and Herzegovina", Kind.COUNTRY
    )
    for name in builtin_names():
        info = describe_builtin(name)
        assert info is not None
        assert info.name == name
        assert info.display_name
        code = name.removeprefix("calendars/")
        shape = Kind.SUBDIVISION if "-" in code else Kind.COUNTRY if len(code) == 2 else Kind.MARKET
        assert info.kind == shape, name
    assert describe_builtin("calendars/ZZ") is None


def test_builtins_are_shared_and_unknown_names_are_none() -> None:
    """The same name gives the same calendar; names not built in give None."""
    assert builtin("calendars/US") is builtin("calendars/US")
    for name in ("calendars/ZZ", "calendars/us", "US", "calendars/US-ZZ", "calendars/NYSE", ""):
        assert builtin(name) is None, name
    assert DATA_VERSION == package_version == "0.109"


def test_a_custom_calendar_unites_builtins() -> None:
    """A union of US and GB rests on either's holidays, with its own edits, names from both."""
    us, gb = builtin("calendars/US"), builtin("calendars/GB")
    assert us is not None
    assert gb is not None
    custom = BusinessCalendar.union(
        [us, gb], extra={date(2026, 3, 2): "Offsite"}, removed={date(2026, 5, 25)}
    )
    for day in days_between(date(2024, 1, 1), date(2028, 1, 1)):
        expected = us.is_business_day(day) and gb.is_business_day(day)
        if day == date(2026, 3, 2):
            expected = False
        if day == date(2026, 5, 25):
            expected = True
        assert custom.is_business_day(day) == expected, day
    christmas = date(2026, 12, 25)
    assert [h.name for h in custom.holidays_on(christmas)] == ["Christmas Day"]
    assert {h.name for h in custom.holidays_between(date(2026, 1, 1), date(2026, 12, 31))} >= {
        "Independence Day",
        "Boxing Day",
        "Offsite",
    }
