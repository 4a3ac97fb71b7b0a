"""Input the services could never use exits 2, naming it: oversized values, unusable ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import client.__main__ as cli
from tests.servers import ServerThread, server_settings
from time_service.server import SPEC as TIME_SPEC

HUGE_ZONE = "x" * 10_000


@pytest.fixture
def tiny_time_server() -> Iterator[ServerThread]:
    """A TimeService server refusing any request over 64 bytes (its --max-request-bytes)."""
    server = ServerThread(TIME_SPEC, server_settings(max_request_bytes=64))
    try:
        yield server
    finally:
        server.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run ``chrono argv``; return its exit status, its stdout lines and its stderr."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


@pytest.mark.usefixtures("servers")
@pytest.mark.parametrize("argv", [[], ["time"], ["date"], ["watch", "--count", "1"]])
def test_oversized_tz_is_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A 10 kB --tz exits 2 with one short line saying it is too long, printing nothing."""
    status, lines, err = run(capsys, "--tz", HUGE_ZONE, *argv)
    assert (status, lines) == (2, [])
    assert err.count("\n") == 1, err
    assert err.startswith("chrono: invalid time zone 'xxxxxxxx"), err
    assert "too long (10000 characters); IANA time zone names are at most 128" in err
    assert len(err) < 200


@pytest.mark.usefixtures("servers")
def test_tz_is_ignored_by_commands_that_send_no_zone(capsys: pytest.CaptureFixture[str]) -> None:
    """`zones` and `health` send no zone, so even a 10 kB --tz does not stop them."""
    assert run(capsys, "--tz", HUGE_ZONE, "zones")[0] == 0
    assert run(capsys, "--tz", HUGE_ZONE, "health")[0] == 0


def test_request_refused_for_its_size_is_bad_input(
    capsys: pytest.CaptureFixture[str], tiny_time_server: ServerThread
) -> None:
    """A request the server refuses as over its size limit exits 2, saying a value is too long."""
    zone = "Zone/" + "y" * 100  # within the 128 checked locally, over the server's 64 bytes
    status, lines, err = run(capsys, "--time-target", tiny_time_server.target, "--tz", zone, "time")
    assert (status, lines) == (2, [])
    assert err.count("\n") == 1, err
    assert err.startswith(
        f"chrono: the time service at {tiny_time_server.target} refused the request as too "
        "large: a value given is too long"
    ), err


@pytest.mark.parametrize(
    "target", ["127.0.0.1:notaport", "127.0.0.1:70000", "[::1]:x", "dns:///127.0.0.1:x"]
)
@pytest.mark.parametrize(
    ("flag", "command"), [("--time-target", "time"), ("--date-target", "date")]
)
def test_target_with_an_unusable_port_is_bad_input(
    capsys: pytest.CaptureFixture[str], target: str, flag: str, command: str
) -> None:
    """A target whose port gRPC could not dial exits 2 with one line naming the flag."""
    status, lines, err = run(capsys, flag, target, command)
    assert (status, lines) == (2, [])
    assert err.count("\n") == 1, err
    assert err.startswith(f"chrono: invalid {flag}: target {target!r}: the port must be"), err
