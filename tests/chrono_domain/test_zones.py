"""The zone database (pinned tzdata package only) and the quoting of caller input."""

from __future__ import annotations

import importlib.resources
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


def package_table(resource: str) -> list[list[str]]:
    """The rows of one of the tzdata package's tab-separated tables."""
    text = importlib.resources.files("tzdata.zoneinfo").joinpath(resource).read_text("utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def package_links() -> dict[str, str]:
    """tzdata.zi's links: each compatibility name and the name it points to."""
    text = importlib.resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text("utf-8")
    return {line.split()[2]: line.split()[1] for line in text.splitlines() if line.startswith("L ")}


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Europe/Kiev", "Europe/Kyiv"),
        ("US/Eastern", "America/New_York"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("UTC", "Etc/UTC"),
        ("Europe/Kyiv", "Europe/Kyiv"),
        ("America/New_York", "America/New_York"),
    ],
)
def test_canonical_follows_links(database: zones.ZoneDatabase, name: str, canonical: str) -> None:
    """A link resolves to the zone it stands for; a canonical zone to itself."""
    assert database.canonical(name) == canonical
    assert database.is_canonical(name) == (name == canonical)
    assert database.is_canonical(canonical)


def test_canonical_zones_are_the_databases_zones(database: zones.ZoneDatabase) -> None:
    """The canonical names are exactly the zones tzdata.zi defines (its Z lines)."""
    text = importlib.resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text("utf-8")
    defined = {line.split()[1] for line in text.splitlines() if line.startswith("Z ")}
    assert set(database.filter_names(canonical_only=True)) == defined
    assert {database.canonical(name) for name in database.names} == defined


def test_every_link_points_at_a_known_canonical_zone(database: zones.ZoneDatabase) -> None:
    """Each link's target is a known zone, and the link and its target share a canonical zone."""
    links = package_links()
    assert len(links) > 200
    for alias, target in links.items():
        assert alias in database.names
        assert target in database.names
        assert not database.is_canonical(alias)
        assert database.canonical(alias) == database.canonical(target)
        assert database.is_canonical(database.canonical(alias))


def test_a_link_is_the_same_data_as_its_zone(database: zones.ZoneDatabase) -> None:
    """A name and its canonical zone have byte-identical TZif files in the package."""
    root = importlib.resources.files("tzdata.zoneinfo")
    for name in database.names:
        canonical = database.canonical(name)
        read = root.joinpath(*name.split("/")).read_bytes
        assert read() == root.joinpath(*canonical.split("/")).read_bytes(), name


def test_aliases(database: zones.ZoneDatabase) -> None:
    """aliases() lists the links to the canonical zone, sorted, without the canonical zone."""
    assert database.aliases("Europe/Kyiv") == (
        "Europe/Kiev",
        "Europe/Uzhgorod",
        "Europe/Zaporozhye",
    )
    assert database.aliases("Europe/Kiev") == database.aliases("Europe/Kyiv")
    assert "US/Eastern" in database.aliases("America/New_York")
    assert database.aliases("Etc/GMT+5") == ()
    for name in database.names:
        aliases = database.aliases(name)
        assert list(aliases) == sorted(aliases)
        assert database.canonical(name) not in aliases
        assert all(database.canonical(alias) == database.canonical(name) for alias in aliases)
        assert name == database.canonical(name) or name in aliases


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("Europe/Kyiv", ("UA",)),
        ("Europe/Kiev", ("UA",)),
        ("US/Eastern", ("US",)),
        ("Asia/Kolkata", ("IN",)),
        ("Europe/Brussels", ("BE", "LU", "NL")),
        ("Europe/Amsterdam", ("BE", "LU", "NL")),
        ("UTC", ()),
        ("Etc/GMT+5", ()),
        ("Etc/UTC", ()),
    ],
)
def test_country_codes_examples(
    database: zones.ZoneDatabase, name: str, codes: tuple[str, ...]
) -> None:
    """A zone's countries come from zone1970.tab and zone.tab; a link has its zone's."""
    assert database.country_codes(name) == codes


def test_berlin_includes_germany(database: zones.ZoneDatabase) -> None:
    """Europe/Berlin is used in Germany."""
    assert "DE" in database.country_codes("Europe/Berlin")


def test_country_codes_cover_the_zone_tables(database: zones.ZoneDatabase) -> None:
    """Every zone1970.tab and zone.tab row's countries are among its zone's codes, all real."""
    iso = {row[0] for row in package_table("iso3166.tab")}
    for codes, _, zone, *_ in package_table("zone1970.tab"):
        assert database.country_codes(zone), zone
        assert set(codes.split(",")) <= set(database.country_codes(zone)), zone
    for code, _, zone, *_ in package_table("zone.tab"):
        assert code in database.country_codes(database.canonical(zone)), zone
    for name in database.names:
        found = database.country_codes(name)
        assert list(found) == sorted(set(found))
        assert set(found) <= iso, name
        assert found == database.country_codes(database.canonical(name))


def test_names_in_is_the_inverse_of_country_codes(database: zones.ZoneDatabase) -> None:
    """A country's names are exactly those whose country codes include it, sorted."""
    for code in {row[0] for row in package_table("iso3166.tab")}:
        names = database.names_in(code)
        assert list(names) == sorted(names)
        assert names == tuple(n for n in database.names if code in database.country_codes(n))


def test_filter_by_country(database: zones.ZoneDatabase) -> None:
    """Filtering on US keeps New York and its links, and leaves out Paris."""
    united_states = database.filter_names("US")
    assert "America/New_York" in united_states
    assert "US/Eastern" in united_states
    assert "Europe/Paris" not in united_states
    canonical = database.filter_names("US", canonical_only=True)
    assert "America/New_York" in canonical
    assert "US/Eastern" not in canonical
    assert set(canonical) < set(united_states)


def test_filter_without_a_country(database: zones.ZoneDatabase) -> None:
    """No country keeps every name; canonical_only leaves out the links."""
    assert database.filter_names() == database.names
    canonical = database.filter_names(canonical_only=True)
    assert "US/Eastern" not in canonical
    assert "Europe/Kyiv" in canonical
    assert all(database.is_canonical(name) for name in canonical)


def test_a_country_with_no_zone_is_empty(database: zones.ZoneDatabase) -> None:
    """A real country code the zone tables never use (Bouvet Island) has no names."""
    assert database.names_in("BV") == ()
    assert database.filter_names("BV", canonical_only=True) == ()


@pytest.mark.parametrize(
    ("country", "hint"),
    [
        ("us", "did you mean 'US'?"),
        ("XX", "upper-case ISO 3166-1"),
        ("USA", "upper-case ISO"),
        (" US", ""),
    ],
)
def test_unknown_country_codes_are_refused(
    database: zones.ZoneDatabase, country: str, hint: str
) -> None:
    """A code iso3166.tab does not list fails on country_code with UNKNOWN_COUNTRY_CODE."""
    for call in (database.names_in, database.filter_names):
        with pytest.raises(InvalidArgumentError) as failure:
            call(country)
        assert failure.value.field == "country_code"
        assert failure.value.reason == "UNKNOWN_COUNTRY_CODE"
        assert hint in failure.value.description


@pytest.mark.parametrize("method", ["canonical", "aliases", "country_codes", "is_canonical"])
def test_unknown_names_raise_key_error(database: zones.ZoneDatabase, method: str) -> None:
    """Names are checked with resolve() first; the lookups raise KeyError for others."""
    with pytest.raises(KeyError):
        getattr(database, method)("Nowhere/Special")
