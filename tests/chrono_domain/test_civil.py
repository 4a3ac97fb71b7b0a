"""Wall-clock facts of instants in every zone, against zoneinfo and the C library's strftime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chrono_domain import zones
from chrono_domain.civil import format_civil, zoned

# Instants spread over 1900-2100, a few hours apart in phase, so that DST and standard
# time, and the years a zone's rule computes beyond its table, all come up.
INSTANTS = [
    datetime(1900, 1, 1, tzinfo=UTC) + timedelta(days=373 * n, hours=5 * n, minutes=7 * n)
    for n in range(196)
]


def test_every_zone_at_many_instants_matches_zoneinfo() -> None:
    """Offset, DST, abbreviation and the formatted civil time agree with zoneinfo's own."""
    database = zones.load()
    for name in database.names:
        zone = database.resolve(name)
        for instant in INSTANTS:
            facts = zoned(instant, zone)
            local = instant.astimezone(zone)
            assert facts.local == local
            assert facts.utc_offset == local.utcoffset(), (name, instant)
            assert facts.dst_offset == local.dst(), (name, instant)
            assert facts.dst == bool(local.dst()), (name, instant)
            assert facts.abbreviation == local.tzname(), (name, instant)
            assert facts.formatted == local.strftime("%Y-%m-%d %H:%M:%S"), (name, instant)


def test_format_pads_years_before_1000() -> None:
    """Years before 1000 keep four digits, as YYYY-MM-DD HH:MM:SS promises."""
    assert format_civil(datetime(33, 4, 3, 9, 5, 7)) == "0033-04-03 09:05:07"
