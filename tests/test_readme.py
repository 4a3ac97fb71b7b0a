"""The README's grpcurl commands work as written, against real servers."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from date_service.options import DateOptions
from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import running
from tests.devcerts import DevCerts
from tests.http.conftest import http_port
from tests.servers import ServerThread, server_settings, tls_settings
from tests.test_grpcurl import EXIT_INVALID_ARGUMENT, GRPCURL
from time_service.server import SPEC as TIME_SPEC

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_grpcurl_commands() -> list[str]:
    """Every line of a ```sh block in the README that runs grpcurl."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("grpcurl ")]


def test_readme_shows_grpcurl_commands() -> None:
    """The README shows grpcurl calls for listing, describing, each RPC and the health check."""
    text = "\n".join(readme_grpcurl_commands())
    for needle in (
        " list",
        " describe ",
        "/GetTime",
        "/WatchTime",
        "/ListTimeZones",
        "/GetDate",
        "Health/Check",
        "/ConvertTime",
        "/GetTimeZone",
        "/ListTimeZoneTransitions",
        "/ReadClock",
        "/AddPeriod",
        "/DiffDates",
        "/IsBusinessDay",
        "/AdjustToBusinessDay",
        "/AddBusinessDays",
        "/CountBusinessDays",
        "/ListHolidays",
        "/CreateCalendar",
        "/GetCalendar",
        "/ListCalendars",
        "authorization: Bearer",
    ):
        assert needle in text


# The token the README's write example starts the date service with.
README_TOKEN = "change-me"


@pytest.fixture(scope="module")
def writable_date_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A date server as the README starts it for writes: a token file, its own database."""
    folder = tmp_path_factory.mktemp("writers")
    tokens = folder / "writers.txt"
    tokens.write_text(f"{README_TOKEN}\n")
    options = DateOptions(database=f"sqlite:///{folder / 'calendars.db'}", write_token_file=tokens)
    with running(DATE_SPEC, server_settings(service=options)) as server:
        yield server


@pytest.fixture(scope="module")
def tls_servers(certs: DevCerts) -> Iterator[tuple[Path, ServerThread, ServerThread]]:
    """The development certificates' folder, and a TLS and an mTLS time server using them."""
    with (
        running(TIME_SPEC, tls_settings(certs)) as tls_server,
        running(TIME_SPEC, tls_settings(certs, mutual=True)) as mtls_server,
    ):
        yield certs.ca.parent, tls_server, mtls_server


@pytest.mark.parametrize("command", readme_grpcurl_commands())
def test_readme_grpcurl_command_works(
    command: str,
    time_server: ServerThread,
    date_server: ServerThread,
    tls_servers: tuple[Path, ServerThread, ServerThread],
    writable_date_server: ServerThread,
) -> None:
    """A grpcurl command from the README succeeds, or fails exactly as the README says."""
    certs, tls_server, mtls_server = tls_servers
    if "authorization: Bearer" in command or "calendars/acme" in command:
        # The write example and what it made, on the date server started for writes.
        date_server = writable_date_server
    if "-cacert" in command:
        # The Production section's commands: its certs/ folder, a TLS or an mTLS server.
        time_server = mtls_server if "-cert " in command else tls_server
        command = command.replace("certs/", f"{certs}/")
    args = shlex.split(command)
    args = [GRPCURL, "-max-time", "10"] + [
        arg.replace("127.0.0.1:50051", time_server.target).replace(
            "127.0.0.1:50052", date_server.target
        )
        for arg in args[1:]
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    expected = EXIT_INVALID_ARGUMENT if "Mars/" in command else 0
    assert result.returncode == expected, result.stderr


def readme_curl_commands() -> list[str]:
    """Every line of a ```sh block in the README that runs curl."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


def test_readme_shows_curl_for_both_services() -> None:
    """The README's HTTP section calls both services, a write, a stream and the old endpoints."""
    text = "\n".join(readme_curl_commands())
    for needle in (
        "localhost:8080/v1/time",
        "localhost:8081/v1/date",
        "/v1/time:watch",
        "Authorization: Bearer",
        "localhost:8080/time",
        "localhost:8081/date",
    ):
        assert needle in text


@pytest.fixture(scope="module")
def http_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """The HTTP ports of a time server and of a writable date server, as the README starts them."""
    folder = tmp_path_factory.mktemp("http")
    tokens = folder / "writers.txt"
    tokens.write_text(f"{README_TOKEN}\n")
    options = DateOptions(database=f"sqlite:///{folder / 'calendars.db'}", write_token_file=tokens)
    with (
        running(TIME_SPEC, server_settings(http_port=0)) as time_server,
        running(DATE_SPEC, server_settings(http_port=0, service=options)) as date_server,
    ):
        yield http_port(time_server), http_port(date_server)


@pytest.mark.parametrize("command", readme_curl_commands())
def test_readme_curl_command_works(command: str, http_servers: tuple[int, int]) -> None:
    """A curl command from the README answers JSON: the error it shows, or no error at all."""
    time_port, date_port = http_servers
    args = [
        arg.replace("localhost:8080", f"127.0.0.1:{time_port}").replace(
            "localhost:8081", f"127.0.0.1:{date_port}"
        )
        for arg in shlex.split(command)
    ]
    result = subprocess.run(
        [*args, "--max-time", "10"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    # A stream answers one object per line; everything else one object.
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert answers, command
    if "Mars/" in command:
        assert answers[0]["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert all("error" not in answer for answer in answers), result.stdout
