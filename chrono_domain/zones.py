"""The IANA time zone database, read from the pinned ``tzdata`` package only.

zoneinfo looks in the host's /usr/share/zoneinfo before the ``tzdata`` package, so the
answers would depend on the machine. Servers call :func:`load` once at start-up; it
points zoneinfo at the package alone, so every replica answers from the same data and
reports its version.

Besides the zones, the package ships the database's own tables, and :func:`load` reads
them too: the links (``tzdata.zi``'s ``L target alias`` lines) that make names such as
"US/Eastern" compatibility names of a canonical zone, and the countries each zone is
used in (``zone1970.tab`` and ``zone.tab``, codes checked against ``iso3166.tab``).
"""

from __future__ import annotations

import importlib.resources
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

import tzdata

from chrono_domain.errors import InvalidArgumentError, shorten

MAX_NAME_LENGTH = 128
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True)
class ZoneDatabase:
    """The known zone names, a checked way to look one up, and what the tables say of each."""

    version: str
    names: tuple[str, ...]
    _known: frozenset[str] = field(repr=False)
    _by_folded: dict[str, str] = field(repr=False)
    _canonical: dict[str, str] = field(repr=False)
    _aliases: dict[str, tuple[str, ...]] = field(repr=False)
    _countries: dict[str, tuple[str, ...]] = field(repr=False)
    _by_country: dict[str, tuple[str, ...]] = field(repr=False)
    _country_codes: frozenset[str] = field(repr=False)

    def resolve(self, name: str, field_name: str = "time_zone") -> zoneinfo.ZoneInfo:
        """Return the zone for a request field; empty means UTC.

        Raises InvalidArgumentError naming ``field_name`` for anything that is not a
        zone this database knows.
        """
        if not name:
            name = DEFAULT_ZONE
        if name in self._known:
            return zoneinfo.ZoneInfo(name)
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidArgumentError(
                field_name,
                f"{field_name} is {len(name)} characters long; IANA time zone names are at "
                f"most {MAX_NAME_LENGTH}",
                "TIME_ZONE_TOO_LONG",
            )
        suggestion = self._by_folded.get(name.casefold())
        if suggestion is not None:
            description = (
                f"{field_name} {shorten(name)} is not a known IANA time zone name; names are "
                f"case-sensitive: did you mean {suggestion!r}?"
            )
        else:
            description = (
                f"{field_name} {shorten(name)} is not an IANA time zone name known to this "
                f"server (tzdata {self.version}); use a name such as 'Europe/Paris' "
                "(ListTimeZones lists them all), or leave it empty for UTC"
            )
        raise InvalidArgumentError(
            field_name,
            description,
            "UNKNOWN_TIME_ZONE",
        )

    def canonical(self, name: str) -> str:
        """The zone a link such as "Europe/Kiev" stands for ("Europe/Kyiv"); a zone itself.

        Raises KeyError for a name this database does not know (check it with
        :meth:`resolve` first).
        """
        return self._canonical[name]

    def is_canonical(self, name: str) -> bool:
        """Whether ``name`` is a zone of its own rather than a link; KeyError if unknown."""
        return self._canonical[name] == name

    def aliases(self, name: str) -> tuple[str, ...]:
        """The links to ``name``'s canonical zone, sorted, ``name`` itself too if a link.

        The canonical zone is not among them. Raises KeyError for an unknown name.
        """
        return self._aliases.get(self._canonical[name], ())

    def country_codes(self, name: str) -> tuple[str, ...]:
        """The ISO 3166-1 alpha-2 codes of the countries ``name``'s zone is used in, sorted.

        A name stands for its canonical zone, so a link has the same codes as the zone
        it links to ("US/Eastern" has America/New_York's US). A canonical zone has the
        codes of its rows in zone1970.tab and zone.tab, and of the zone.tab rows of the
        links to it: zone.tab still keeps a row per country, such as NL's
        "Europe/Amsterdam", where zone1970.tab lists Europe/Brussels for BE, LU and NL.
        Empty for zones of no country, such as "UTC" and "Etc/GMT+5". Raises KeyError
        for an unknown name.
        """
        return self._countries.get(self._canonical[name], ())

    def names_in(self, country: str) -> tuple[str, ...]:
        """The names whose :meth:`country_codes` include ``country``, sorted.

        ``country`` is an upper-case ISO 3166-1 alpha-2 code; one that iso3166.tab does
        not list raises InvalidArgumentError on field ``country_code``.
        """
        self._check_country(country)
        return self._by_country.get(country, ())

    def filter_names(self, country: str = "", canonical_only: bool = False) -> tuple[str, ...]:
        """The names, sorted, of one country's zones (empty: all), links left out on request.

        ``country`` is checked as :meth:`names_in` checks it.
        """
        found = self.names_in(country) if country else self.names
        if canonical_only:
            return tuple(name for name in found if self._canonical[name] == name)
        return found

    def _check_country(self, country: str) -> None:
        if country in self._country_codes:
            return
        if country.upper() in self._country_codes:
            hint = f"codes are upper-case: did you mean {country.upper()!r}?"
        else:
            hint = "use an upper-case ISO 3166-1 alpha-2 code such as 'US' or 'DE'"
        raise InvalidArgumentError(
            "country_code",
            f"country_code {shorten(country)} is not a country the time zone database "
            f"(tzdata {self.version}) knows; {hint}",
            "UNKNOWN_COUNTRY_CODE",
        )


def load() -> ZoneDatabase:
    """Point zoneinfo at the ``tzdata`` package alone and index the zones it holds."""
    zoneinfo.reset_tzpath(to=())
    # Zones built before the reset may come from the host: drop them.
    zoneinfo.ZoneInfo.clear_cache()
    names = tuple(sorted(zoneinfo.available_timezones()))
    known = frozenset(names)
    canonical = _canonical_names(known)
    aliases: defaultdict[str, list[str]] = defaultdict(list)
    for name, target in canonical.items():
        if name != target:
            aliases[target].append(name)
    countries = _countries(canonical, aliases)
    by_country: defaultdict[str, list[str]] = defaultdict(list)
    for name in names:
        for code in countries.get(canonical[name], ()):
            by_country[code].append(name)
    return ZoneDatabase(
        version=tzdata.IANA_VERSION,
        names=names,
        _known=known,
        _by_folded={name.casefold(): name for name in names},
        _canonical=canonical,
        _aliases={target: tuple(sorted(links)) for target, links in aliases.items()},
        _countries=countries,
        _by_country={code: tuple(found) for code, found in by_country.items()},
        _country_codes=frozenset(row[0] for row in _rows("iso3166.tab", 2)),
    )


def _canonical_names(known: frozenset[str]) -> dict[str, str]:
    """Every known name and the zone it stands for, following chains of links."""
    links: dict[str, str] = {}
    for line in _package_text("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    canonical: dict[str, str] = {}
    for name in known:
        target, seen = name, {name}
        while target in links:
            target = links[target]
            if target in seen:
                raise ValueError(f"tzdata.zi links {name!r} in a loop")
            seen.add(target)
        if target not in known:
            raise ValueError(f"tzdata.zi links {name!r} to {target!r}, which is not a zone")
        canonical[name] = target
    return canonical


def _countries(
    canonical: dict[str, str], aliases: dict[str, list[str]]
) -> dict[str, tuple[str, ...]]:
    """Each canonical zone's countries, by the rule :meth:`ZoneDatabase.country_codes` gives."""
    recent: defaultdict[str, set[str]] = defaultdict(set)
    for countries_column, _, zone, *_ in _rows("zone1970.tab", 3):
        recent[zone].update(countries_column.split(","))
    own: defaultdict[str, set[str]] = defaultdict(set)
    for country, _, zone, *_ in _rows("zone.tab", 3):
        own[zone].add(country)
    countries: dict[str, tuple[str, ...]] = {}
    for name, target in canonical.items():
        if name == target:
            codes = recent[name] | own[name]
            for link in aliases.get(name, ()):
                codes |= own[link]
            if codes:
                countries[name] = tuple(sorted(codes))
    return countries


def _rows(resource: str, columns: int) -> list[list[str]]:
    """The tab-separated rows of one of the package's tables, comments left out."""
    rows = []
    for line in _package_text(resource).splitlines():
        if line and not line.startswith("#"):
            row = line.split("\t")
            if len(row) < columns:
                raise ValueError(f"{resource}: a row with fewer than {columns} columns: {line!r}")
            rows.append(row)
    return rows


def _package_text(resource: str) -> str:
    return importlib.resources.files("tzdata.zoneinfo").joinpath(resource).read_text("utf-8")
