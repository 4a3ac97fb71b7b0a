"""The IANA time zone database, read from the pinned ``tzdata`` package only.

zoneinfo looks in the host's /usr/share/zoneinfo before the ``tzdata`` package, so the
answers would depend on the machine. Servers call :func:`load` once at start-up; it
points zoneinfo at the package alone, so every replica answers from the same data and
reports its version.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field

import tzdata

from chrono_domain.errors import InvalidArgumentError, shorten

MAX_NAME_LENGTH = 128
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True)
class ZoneDatabase:
    """The known zone names and a checked way to look one up."""

    version: str
    names: tuple[str, ...]
    _known: frozenset[str] = field(repr=False)
    _by_folded: dict[str, str] = field(repr=False)

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


def load() -> ZoneDatabase:
    """Point zoneinfo at the ``tzdata`` package alone and index the zones it holds."""
    zoneinfo.reset_tzpath(to=())
    # Zones built before the reset may come from the host: drop them.
    zoneinfo.ZoneInfo.clear_cache()
    names = tuple(sorted(zoneinfo.available_timezones()))
    return ZoneDatabase(
        version=tzdata.IANA_VERSION,
        names=names,
        _known=frozenset(names),
        _by_folded={name.casefold(): name for name in names},
    )
