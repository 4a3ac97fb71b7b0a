"""What an instant is on a zone's wall clock: the civil time, its offset and abbreviation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_ZERO = timedelta(0)


def format_civil(local: datetime) -> str:
    """``local`` as ``YYYY-MM-DD HH:MM:SS``, truncated to whole seconds."""
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )


@dataclass(frozen=True, slots=True)
class ZonedTime:
    """An instant and what the wall clock of one zone shows at it."""

    instant: datetime
    """The instant, an aware datetime."""
    zone: ZoneInfo
    local: datetime
    """The civil date and time in ``zone``, aware."""
    utc_offset: timedelta
    """Civil time minus UTC, daylight saving time included."""
    abbreviation: str
    """The abbreviation the time zone database gives, such as "CET" or "+0545"."""
    dst: bool
    """Whether the database counts this as daylight saving time (negative DST included)."""
    dst_offset: timedelta
    """How far daylight saving time moves civil time from standard time; zero without DST."""

    @property
    def formatted(self) -> str:
        """The civil time as ``YYYY-MM-DD HH:MM:SS``."""
        return format_civil(self.local)


def zoned(instant: datetime, zone: ZoneInfo) -> ZonedTime:
    """What ``zone``'s wall clock shows at ``instant`` (an aware datetime)."""
    local = instant.astimezone(zone)
    dst = local.dst() or _ZERO
    return ZonedTime(
        instant=instant,
        zone=zone,
        local=local,
        utc_offset=local.utcoffset() or _ZERO,
        abbreviation=local.tzname() or "",
        dst=bool(dst),
        dst_offset=dst,
    )
