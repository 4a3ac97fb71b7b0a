"""The zone database (pinned tzdata package only) and the quoting of caller input."""

from __future__ import annotations

import zoneinfo

import pytest
import tzdata

from chrono_domain import zones
from chrono_domain.errors import InvalidArgumentError, shorten
from tests.chrono_server.helpers import package_zone_names


@pytest.fixture(scope="module")
def database() -> zones.ZoneDatabase:
    """The zone database as a server loads it at start-up."""
    return zones.load()


def test_load_reads_the_pinned_package(database: zones.ZoneDatabase) -> None:
    """load() reports the tzdata package's IANA version and exactly the zones it ships."""
    assert database.version == tzdata.IANA_VERSION
    assert list(database.names) == sorted(package_zone_names())
    assert zoneinfo.TZPATH == ()


@pytest.mark.parametrize("name", ["localtime", "posixrules", "right/UTC", "posix/UTC"])
def test_host_only_files_are_not_zones(database: zones.ZoneDatabase, name: str) -> None:
    """Files only a host's zoneinfo directory has are neither listed nor resolved."""
    assert name not in database.names
    with pytest.raises(InvalidArgumentError) as failure:
        database.resolve(name)
    assert failure.value.reason == "UNKNOWN_TIME_ZONE"
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        zoneinfo.ZoneInfo.no_cache(name)


@pytest.mark.parametrize(
    ("name", "key"), [("", "UTC"), ("UTC", "UTC"), ("Europe/Kiev", "Europe/Kiev")]
)
def test_resolve_known_names(database: zones.ZoneDatabase, name: str, key: str) -> None:
    """An empty name resolves to UTC; a known name, link or not, resolves under itself."""
    assert database.resolve(name).key == key


def test_resolve_names_the_given_field(database: zones.ZoneDatabase) -> None:
    """The error for an unknown zone names the request field it came from."""
    with pytest.raises(InvalidArgumentError) as failure:
        database.resolve("Nowhere/Special", field_name="zone")
    assert failure.value.field == "zone"
    assert failure.value.description.startswith("zone 'Nowhere/Special' is not")


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("", "''"),
        ("Europe/Paris", "'Europe/Paris'"),
        ("a\x00b", "'a\\x00b'"),
        ("x" * 40, repr("x" * 40)),
        ("x" * 41, repr("x" * 40) + "... (41 characters)"),
        ("y" * 10_240, repr("y" * 40) + "... (10240 characters)"),
    ],
    ids=["empty", "short", "control-character", "at-limit", "over-limit", "10kB"],
)
def test_shorten_quotes_at_most_forty_characters(text: str, quoted: str) -> None:
    """shorten() quotes short input whole and long input as its first 40 characters and length."""
    assert shorten(text) == quoted


def test_shorten_takes_a_limit() -> None:
    """shorten() cuts at the limit it is given."""
    assert shorten("abcdef", limit=3) == "'abc'... (6 characters)"
    assert shorten("abc", limit=3) == "'abc'"
