"""`chrono convert`, `zone`, `transitions` and `offset`, run in-process against a real server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import tzdata

import client.__main__ as cli
from chrono_domain.kernel_clock import read_kernel_clock
from client import TimeClient
from tests.servers import ServerThread

OFFSET_LINE = re.compile(
    r"^offset (?P<offset>[+-]\d+\.\d{6}) s ± (?P<bound>\d+\.\d{6}) s "
    r"\((?P<samples>\d+) samples, best round trip (?P<round_trip>\d+\.\d) ms; "
    r"server clock (?P<status>synchronized|unsynchronized|unknown)"
    r"(?:, max error (?P<max_error>[0-9.e+-]+) s)?\)$"
)
CHANGE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: [+-]\d\d:\d\d \S+ -> [+-]\d\d:\d\d \S+( \(DST\))?"


@pytest.fixture
def target(time_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> str:
    """The time server's target, which the command reads from TIME_SERVICE_TARGET."""
    monkeypatch.setenv("TIME_SERVICE_TARGET", time_server.target)
    return time_server.target


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run ``chrono argv``; return its exit status, its stdout lines and its stderr."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def check_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], start: str) -> str:
    """``chrono argv`` exits 2, prints nothing, and says why on one stderr line from ``start``."""
    status, lines, err = run(capsys, *argv)
    assert (status, lines) == (2, []), err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert err.startswith(start), err
    assert "Traceback" not in err
    return err


def check_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], start: str) -> None:
    """``chrono argv`` is a usage error: exit 2, nothing printed, one line on stderr."""
    status, lines, err = run(capsys, *argv)
    assert (status, lines) == (2, []), err
    assert err.count("\n") == 1, err
    assert err.startswith(start), err
    assert "--help'" in err, err
    assert "Traceback" not in err


# chrono convert


@pytest.mark.usefixtures("target")
def test_convert_skipped_civil_time(capsys: pytest.CaptureFixture[str]) -> None:
    """A skipped civil time says so and what it could mean, then one line per target zone."""
    status, lines, err = run(
        capsys,
        "convert",
        "2026-03-29 01:30",
        "--from",
        "Europe/London",
        "--to",
        "UTC",
        "--to",
        "America/New_York",
    )
    assert (status, err) == (0, "")
    assert lines == [
        "2026-03-29 01:30:00 in Europe/London is skipped: it could mean 2026-03-29T00:30:00Z "
        "or 2026-03-29T01:30:00Z; taking 2026-03-29T01:30:00Z",
        "UTC: 2026-03-29 01:30:00 UTC (+00:00)",
        "America/New_York: 2026-03-28 21:30:00 EDT (-04:00)",
    ]


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize(
    ("way", "answer"),
    [("earlier", "2026-11-01 05:30:00"), ("LATER", "2026-11-01 06:30:00")],
)
def test_convert_ambiguous_civil_time(
    capsys: pytest.CaptureFixture[str], way: str, answer: str
) -> None:
    """--disambiguation picks which of a repeated civil time's instants is shown."""
    status, lines, err = run(
        capsys, "convert", "2026-11-01 01:30", "--from", "America/New_York", "--disambiguation", way
    )
    assert (status, err) == (0, "")
    assert lines[0].startswith("2026-11-01 01:30:00 in America/New_York is ambiguous: ")
    assert lines[1:] == [f"UTC: {answer} UTC (+00:00)"]


@pytest.mark.usefixtures("target")
def test_convert_instant_and_fixed_offset(capsys: pytest.CaptureFixture[str]) -> None:
    """An instant needs no --from; a civil time may be at a fixed offset, never skipped there."""
    status, lines, err = run(capsys, "convert", "2026-03-29T01:30:00Z", "--to", "Asia/Kathmandu")
    assert (status, err, lines) == (0, "", ["Asia/Kathmandu: 2026-03-29 07:15:00 +0545 (+05:45)"])
    status, lines, err = run(capsys, "convert", "2026-03-29 01:30", "--from", "+05:30")
    assert (status, err, lines) == (0, "", ["UTC: 2026-03-28 20:00:00 UTC (+00:00)"])


@pytest.mark.usefixtures("target")
def test_convert_civil_time_defaults_to_tz(capsys: pytest.CaptureFixture[str]) -> None:
    """A civil time without --from is read in the --tz zone."""
    status, lines, err = run(capsys, "--tz", "Asia/Tokyo", "convert", "2026-01-01 09:00")
    assert (status, err, lines) == (0, "", ["UTC: 2026-01-01 00:00:00 UTC (+00:00)"])


@pytest.mark.usefixtures("target")
def test_convert_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the ConvertTime response as one line of proto3 JSON."""
    status, lines, err = run(
        capsys, "convert", "--json", "2026-03-29 01:30", "--from", "Europe/London", "--to", "UTC"
    )
    assert (status, err) == (0, "")
    (answer,) = (json.loads(line) for line in lines)
    assert answer["time"] == "2026-03-29T01:30:00Z"
    assert answer["localTimeKind"] == "LOCAL_TIME_KIND_SKIPPED"
    assert answer["candidateTimes"] == ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"]
    (utc,) = answer["times"]
    assert utc["timeZone"] == "UTC"
    assert utc["formatted"] == "2026-03-29 01:30:00"
    assert utc["localTime"]["timeZone"] == {"id": "UTC", "version": tzdata.IANA_VERSION}


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["2026-03-29 01:30", "--from", "Europe/London", "--disambiguation", "reject"],
            "00:30:00Z",
        ),
        (["2026-11-01 01:30", "--from", "America/New_York", "--disambiguation", "reject"], "05:30"),
        (["2026-03-29 01:30", "--from", "Mars/Base"], "Mars/Base"),
        (["2026-03-29 01:30", "--from", "UTC", "--to", "UTC", "--to", "Mars/Base"], "Mars/Base"),
        (["0001-01-01 00:00", "--from", "Asia/Tokyo"], "0001-01-01T00:00:00"),
    ],
    ids=["reject-skipped", "reject-ambiguous", "unknown-from", "unknown-to", "before-year-1"],
)
def test_convert_bad_input(capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    """What the server refuses exits 2 with its one-line reason on stderr, printing nothing."""
    err = check_bad_input(capsys, ["convert", *args], "chrono: invalid ")
    assert words in err


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["2026-13-29 01:30"], "chrono convert: error: argument TIME:"),
        (["2026-03-29 1:30pm"], "chrono convert: error: argument TIME:"),
        (["2026-03-29 01:30", "--disambiguation", "sideways"], "chrono convert: error: argument"),
    ],
    ids=["month-13", "not-a-time", "unknown-disambiguation"],
)
def test_convert_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], start: str
) -> None:
    """A TIME or --disambiguation that does not parse is a usage error, exit 2."""
    check_usage_error(capsys, ["convert", *args], start)


# chrono zone


def check_now_line(line: str, name: str) -> None:
    """``line`` is the zone's offset and abbreviation now, by zoneinfo."""
    local = datetime.now(UTC).astimezone(ZoneInfo(name))
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    shown = f"now: {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d} {local.tzname()}"
    assert line == shown + (" (DST)" if local.dst() else "")


@pytest.mark.usefixtures("target")
def test_zone_describes_a_link(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono zone Europe/Kiev` names its zone, its countries, aliases and transitions."""
    status, lines, err = run(capsys, "zone", "Europe/Kiev")
    assert (status, err) == (0, "")
    assert len(lines) == 6
    assert lines[0] == f"Europe/Kiev (a link to Europe/Kyiv), tzdata {tzdata.IANA_VERSION}"
    check_now_line(lines[1], "Europe/Kyiv")
    assert lines[2] == "countries: UA"
    assert lines[3] == "aliases: Europe/Kiev, Europe/Uzhgorod, Europe/Zaporozhye"
    assert re.fullmatch(f"previous: {CHANGE}", lines[4]), lines[4]
    assert re.fullmatch(f"next: {CHANGE}", lines[5]), lines[5]


@pytest.mark.usefixtures("target")
def test_zone_defaults_to_tz(capsys: pytest.CaptureFixture[str]) -> None:
    """Without ZONE, --tz is described; a zone that stopped changing has no next line."""
    status, lines, err = run(capsys, "--tz", "Asia/Tokyo", "zone")
    assert (status, err) == (0, "")
    assert lines[0] == f"Asia/Tokyo, tzdata {tzdata.IANA_VERSION}"
    check_now_line(lines[1], "Asia/Tokyo")
    assert "JP" in lines[2].removeprefix("countries: ").split(", ")
    assert lines[3] == "aliases: Japan"
    assert lines[4].startswith("previous: 1951-")
    assert len(lines) == 5


@pytest.mark.usefixtures("target")
def test_zone_without_transitions(capsys: pytest.CaptureFixture[str]) -> None:
    """UTC has no countries and no transition lines."""
    status, lines, err = run(capsys, "zone", "UTC")
    assert (status, err) == (0, "")
    assert lines[0] == f"UTC (a link to Etc/UTC), tzdata {tzdata.IANA_VERSION}"
    assert lines[1:3] == ["now: +00:00 UTC", "countries: -"]
    assert len(lines) == 4


@pytest.mark.usefixtures("target")
def test_zone_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono zone --json` prints the TimeZone message as one line of JSON."""
    status, lines, err = run(capsys, "zone", "--json", "US/Eastern")
    assert (status, err) == (0, "")
    (zone,) = (json.loads(line) for line in lines)
    assert zone["timeZone"] == "US/Eastern"
    assert zone["canonicalTimeZone"] == "America/New_York"
    assert "US" in zone["countryCodes"]
    assert zone["tzdataVersion"] == tzdata.IANA_VERSION
    assert {"previousTransition", "nextTransition", "utcOffset", "standardOffset"} <= set(zone)


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("command", ["zone", "transitions"])
def test_unknown_zone_is_bad_input(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """An unknown ZONE exits 2 naming it as a time zone, on one line."""
    err = check_bad_input(capsys, [command, "Mars/Base"], "chrono: invalid time zone 'Mars/Base': ")
    assert "not an IANA time zone name" in err
    err = check_bad_input(
        capsys, [command, "europe/london"], "chrono: invalid time zone 'europe/london': "
    )
    assert "did you mean 'Europe/London'?" in err


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("command", ["zone", "transitions"])
def test_overlong_zone_is_bad_input(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """A ZONE longer than any zone name exits 2 before any call, saying it is too long."""
    err = check_bad_input(capsys, [command, "x" * 10_000], "chrono: invalid time zone 'xxxxxxxx")
    assert "too long (10000 characters)" in err
    assert len(err) < 200


# chrono transitions


LONDON_2026 = [
    "2026-03-29T01:00:00Z: +00:00 GMT -> +01:00 BST (DST)",
    "2026-10-25T01:00:00Z: +01:00 BST -> +00:00 GMT",
]


@pytest.mark.usefixtures("target")
def test_transitions_of_a_year(capsys: pytest.CaptureFixture[str]) -> None:
    """London's 2026 is two lines: spring forward, fall back."""
    status, lines, err = run(
        capsys, "transitions", "Europe/London", "--from", "2026-01-01", "--to", "2027-01-01"
    )
    assert (status, err, lines) == (0, "", LONDON_2026)


@pytest.mark.usefixtures("target")
def test_transitions_bounds_may_be_instants(capsys: pytest.CaptureFixture[str]) -> None:
    """--from and --to take instants with an offset; the span is start-inclusive."""
    status, lines, err = run(
        capsys,
        "--tz",
        "Europe/London",
        "transitions",
        "--from",
        "2026-03-29T02:00:00+01:00",
        "--to",
        "2026-10-25T01:00:00Z",
    )
    assert (status, err, lines) == (0, "", LONDON_2026[:1])


@pytest.mark.usefixtures("target")
def test_transitions_follow_every_page(capsys: pytest.CaptureFixture[str], target: str) -> None:
    """Two hundred years of London, several pages, print every transition once, in order."""
    status, lines, err = run(
        capsys, "transitions", "Europe/London", "--from", "1900-01-01", "--to", "2100-01-01"
    )
    assert (status, err) == (0, "")
    with TimeClient(target) as client:
        whole = client.list_time_zone_transitions(
            "Europe/London",
            datetime(1900, 1, 1, tzinfo=UTC),
            datetime(2100, 1, 1, tzinfo=UTC),
            1000,
        )
    assert len(lines) == len(whole.transitions) > 300
    assert lines == sorted(set(lines))
    assert [line[:20] for line in lines] == [c.time.ToJsonString() for c in whole.transitions]


@pytest.mark.usefixtures("target")
def test_transitions_none_in_the_span(capsys: pytest.CaptureFixture[str]) -> None:
    """A zone with no transitions in the span prints nothing at all."""
    status, lines, err = run(capsys, "transitions", "UTC", "--from", "2026-01-01")
    assert (status, err, lines) == (0, "", [])


@pytest.mark.usefixtures("target")
def test_transitions_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono transitions --json` prints all of them in one JSON object."""
    status, lines, err = run(
        capsys,
        "transitions",
        "--json",
        "Europe/London",
        "--from",
        "2026-01-01",
        "--to",
        "2027-01-01",
    )
    assert (status, err) == (0, "")
    (answer,) = (json.loads(line) for line in lines)
    assert [change["time"] for change in answer["transitions"]] == [
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:00:00Z",
    ]
    assert answer["transitions"][0]["abbreviationAfter"] == "BST"
    assert answer["transitions"][0]["utcOffsetAfter"] == "3600s"
    assert answer["tzdataVersion"] == tzdata.IANA_VERSION


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "2027-01-01", "--to", "2026-01-01"], "end_time must not be before start_time"),
        (["--from", "1800-01-01", "--to", "2100-01-01"], "over 200 years"),
    ],
    ids=["end-before-start", "over-200-years"],
)
def test_transitions_bad_span(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    """A span the server refuses exits 2 with its reason on one line."""
    err = check_bad_input(capsys, ["transitions", "Europe/London", *args], "chrono: invalid ")
    assert words in err


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize(
    "args",
    [["--from", "20x6-01-01"], ["--to", "2026-01-01 00:00"], ["--from", "2026-02-30"]],
    ids=["not-a-date", "no-offset", "no-such-day"],
)
def test_transitions_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """A --from or --to that names no instant is a usage error, exit 2."""
    check_usage_error(
        capsys, ["transitions", "Europe/London", *args], "chrono transitions: error: argument"
    )


# chrono offset


def expected_server_words() -> str:
    """How the offset line describes this machine's clock, from adjtimex read here."""
    kernel = read_kernel_clock()
    words = f"server clock {kernel.status.value}"
    if kernel.max_error is not None:
        words += f", max error {kernel.max_error.total_seconds():g} s"
    return words


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("samples", [None, "3"])
def test_offset_line(capsys: pytest.CaptureFixture[str], samples: str | None) -> None:
    """`chrono offset` prints one line: offset 0 within a bound under 10 ms, and the server's."""
    extra = [] if samples is None else ["--samples", samples]
    status, lines, err = run(capsys, "offset", *extra)
    assert (status, err) == (0, "")
    (line,) = lines
    match = OFFSET_LINE.match(line)
    assert match, line
    assert int(match["samples"]) == (8 if samples is None else 3)
    assert abs(float(match["offset"])) <= float(match["bound"]) < 0.01
    assert float(match["round_trip"]) >= 0
    assert line.endswith(f"; {expected_server_words()})"), line


@pytest.mark.usefixtures("target")
def test_offset_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono offset --json` prints the estimate as one JSON object, in seconds."""
    status, lines, err = run(capsys, "offset", "--json")
    assert (status, err) == (0, "")
    (found,) = (json.loads(line) for line in lines)
    assert set(found) == {
        "offsetSeconds",
        "measurementBoundSeconds",
        "trueTimeBoundSeconds",
        "serverErrorBoundSeconds",
        "roundTripSeconds",
        "samples",
        "serverStatus",
    }
    assert found["samples"] == 8
    assert abs(found["offsetSeconds"]) <= found["measurementBoundSeconds"] < 0.01
    kernel = read_kernel_clock()
    assert found["serverStatus"] == kernel.status.value
    if found["serverErrorBoundSeconds"] is None:
        assert found["trueTimeBoundSeconds"] is None
    else:
        assert found["trueTimeBoundSeconds"] == pytest.approx(
            found["serverErrorBoundSeconds"] + found["measurementBoundSeconds"]
        )


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("samples", ["0", "65", "-1", "many"])
def test_offset_bad_samples(capsys: pytest.CaptureFixture[str], samples: str) -> None:
    """--samples outside 1 to 64 is a usage error, exit 2."""
    check_usage_error(
        capsys, ["offset", "--samples", samples], "chrono offset: error: argument --samples"
    )


def test_offset_of_a_dead_server(capsys: pytest.CaptureFixture[str], dead_target: str) -> None:
    """A time service that is down exits 1 with one line naming it."""
    status, lines, err = run(capsys, "--time-target", dead_target, "offset")
    assert (status, lines) == (1, [])
    assert err.count("\n") == 1, err
    assert err.startswith(f"chrono: cannot reach the time service at {dead_target}"), err
