"""The built-in calendars: countries, their subdivisions and financial markets.

Their data is the pinned ``holidays`` package's, whose version is :data:`DATA_VERSION`.
Names are resource names: ``calendars/US`` (a country, ISO 3166-1 alpha-2),
``calendars/US-CA`` (a subdivision, ISO 3166-2) and ``calendars/XNYS`` (a market by its
MIC, as the package names it; Euronext's markets are ``calendars/XPAR`` and so on).
Subdivisions that the package knows by a name rather than an ISO 3166-2 code (cities,
school zones, language communities) are not built in.

Each calendar has its entity's weekly weekend, its working weekend days and, in the years
it changed, its earlier weekend rule. Holiday names are in English where the package has
them (its own language otherwise), exactly as the package gives them: the observed day of
a holiday keeps its label (``Independence Day (observed)``) and has ``observed`` set.
Outside the years the package covers for an entity a calendar has weekends only.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta

import holidays
from holidays.holiday_base import HolidayBase
from holidays.version import __version__ as _package_version

from chrono_domain.business import BusinessCalendar, Holiday, Holidays, WeekendChanges

DATA_VERSION: str = _package_version
"""The version of the holidays package, the version of the built-in calendars' data."""

PREFIX = "calendars/"

logger = logging.getLogger(__name__)

_ISO_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
_LOCK = threading.Lock()
_CALENDARS: dict[str, BusinessCalendar] = {}


class Kind(enum.StrEnum):
    """What a built-in calendar stands for."""

    COUNTRY = "country"
    SUBDIVISION = "subdivision"
    MARKET = "market"


@dataclass(frozen=True, slots=True)
class BuiltinInfo:
    """A built-in calendar's resource name, its name for people and its kind."""

    name: str
    display_name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class _Entity:
    """What the holidays package calls a built-in calendar."""

    kind: Kind
    code: str
    subdivision: str | None

    @property
    def market(self) -> bool:
        """Whether the package keeps it with its financial calendars."""
        return self.kind is Kind.MARKET

    def load(
        self, years: int | tuple[int, ...] = (), *, observed: bool = True, language: str | None
    ) -> HolidayBase:
        """The package's holidays object for ``years``, which it must not extend itself."""
        make = holidays.financial_holidays if self.market else holidays.country_holidays
        return make(
            self.code,
            subdiv=self.subdivision,
            years=years,
            expand=False,
            observed=observed,
            language=language,
        )


@functools.cache
def _catalogue() -> dict[str, _Entity]:
    """Every built-in calendar by resource name."""
    entities: dict[str, _Entity] = {}
    for code, subdivisions in holidays.list_supported_countries(include_aliases=False).items():
        entities[PREFIX + code] = _Entity(Kind.COUNTRY, code, None)
        for subdivision in subdivisions:
            if _ISO_SUBDIVISION.fullmatch(subdivision):
                entities[f"{PREFIX}{code}-{subdivision}"] = _Entity(
                    Kind.SUBDIVISION, code, subdivision
                )
    for code, markets in holidays.list_supported_financial(include_aliases=False).items():
        entities[PREFIX + code] = _Entity(Kind.MARKET, code, None)
        # Euronext's markets are its subdivisions, each a MIC of its own (XPAR).
        for market in markets:
            entities[PREFIX + market] = _Entity(Kind.MARKET, code, market)
    return entities


def builtin_names() -> tuple[str, ...]:
    """The resource names of every built-in calendar, sorted."""
    return _sorted_names()


@functools.cache
def _sorted_names() -> tuple[str, ...]:
    """The catalogue's names in order, computed once."""
    return tuple(sorted(_catalogue()))


def builtin(name: str) -> BusinessCalendar | None:
    """The built-in calendar called ``name`` (``calendars/US``), or None if there is none.

    Calendars are made once and shared; their holidays are read year by year, as used.
    """
    calendar = _CALENDARS.get(name)
    if calendar is not None:
        return calendar
    entity = _catalogue().get(name)
    if entity is None:
        return None
    with _LOCK:
        calendar = _CALENDARS.get(name)
        if calendar is None:
            source = _PackageSource(entity)
            calendar = BusinessCalendar(source.weekend, source)
            _CALENDARS[name] = calendar
            logger.debug("built-in calendar %s: weekend %s", name, sorted(source.weekend))
    return calendar


def describe_builtin(name: str) -> BuiltinInfo | None:
    """The resource name, display name and kind of a built-in calendar; None if unknown.

    Display names are the package's: ``United States of America``, ``United States of
    America: California``, ``New York Stock Exchange``, ``Euronext: XPAR``.
    """
    if name not in _catalogue():
        return None
    return _describe(name)


@functools.cache
def _describe(name: str) -> BuiltinInfo:
    """The description of a name in the catalogue, worked out once."""
    entity = _catalogue()[name]
    if entity.subdivision is None:
        return BuiltinInfo(name, _entity_name(entity), entity.kind)
    parent = _describe(PREFIX + entity.code).display_name
    if entity.kind is Kind.SUBDIVISION:
        return BuiltinInfo(name, f"{parent}: {_subdivision_name(entity)}", entity.kind)
    return BuiltinInfo(name, f"{parent}: {entity.subdivision}", entity.kind)


def _entity_name(entity: _Entity) -> str:
    """The country's or market's name, from the first line of its class's docstring."""
    for cls in type(entity.load(language=None)).__mro__:
        first = (cls.__doc__ or "").strip().split("\n", 1)[0]
        if first.endswith(" holidays."):
            title = first.removesuffix(" holidays.")
            # "United States of America (the)"; markets add their ticker: "(NYSE)".
            if entity.market:
                return re.sub(r"\s*\([^()]*\)$", "", title)
            return title.removesuffix(" (the)")
    return entity.code


def _subdivision_name(entity: _Entity) -> str:
    """The subdivision's first name among the package's aliases for it, else its code."""
    aliases = entity.load(language=None).subdivisions_aliases
    for alias, code in aliases.items():
        if code == entity.subdivision:
            return alias
    return entity.subdivision or entity.code


def _english(obj: HolidayBase) -> str | None:
    """The language to ask for: the entity's own if English, else English if it has it."""
    default = obj.default_language
    if default is None or default.startswith("en"):
        return default
    if "en_US" in obj.supported_languages:
        return "en_US"
    english = [language for language in obj.supported_languages if language.startswith("en")]
    return english[0] if english else default


class _PackageSource:
    """One entity's holidays and weekend changes, read from the package year by year."""

    def __init__(self, entity: _Entity) -> None:
        probe = entity.load(language=None)
        self._entity = entity
        self._language = _english(probe)
        self._first_year = probe.start_year
        self._last_year = probe.end_year
        # holidays numbers weekdays from Monday 0; the calendar from Monday 1.
        self.weekend = frozenset(day + 1 for day in probe.weekend)
        # Only entities whose weekend rule changes need each day of a year checked.
        self._weekend_varies = type(probe)._get_weekend is not HolidayBase._get_weekend
        # The calendar asks for holidays and weekend changes of a year one after the
        # other, and caches what it makes of them.
        self._year = functools.lru_cache(maxsize=4)(self._read)

    def holidays_in(self, year: int) -> Holidays:
        """The holidays of ``year``, with the observed days marked."""
        return self._year(year)[0]

    def weekend_changes_in(self, year: int) -> WeekendChanges:
        """How the weekend of ``year`` differs from the weekly one."""
        return self._year(year)[1]

    def _read(self, year: int) -> tuple[Holidays, WeekendChanges]:
        """Load ``year`` from the package twice, with and without observed days."""
        if not self._first_year <= year <= self._last_year:
            return {}, WeekendChanges()
        observed = self._entity.load(year, language=self._language)
        actual = self._entity.load(year, observed=False, language=self._language)
        table: dict[date, tuple[Holiday, ...]] = {}
        for day in observed:
            own = set(actual.get_list(day))
            table[day] = tuple(
                Holiday(day, name, observed=name not in own) for name in observed.get_list(day)
            )
        return table, self._changes(observed, year)

    def _changes(self, loaded: HolidayBase, year: int) -> WeekendChanges:
        """The year's working weekend days and, where the rule changes, its weekend."""
        worked = frozenset(day for day in loaded.weekend_workdays if day.year == year)
        if not self._weekend_varies:
            return WeekendChanges(worked=worked)
        added: set[date] = set()
        removed: set[date] = set()
        day = date(year, 1, 1)
        while day.year == year:
            weekend = loaded.is_weekend(day)
            if weekend != (day.isoweekday() in self.weekend):
                (added if weekend else removed).add(day)
            day += timedelta(days=1)
        return WeekendChanges(frozenset(added), frozenset(removed), worked)
