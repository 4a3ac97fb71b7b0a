"""The chrono command, run in-process through main() against real servers."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
import tzlocal

import client.__main__ as cli
from client.cli.context import local_zone_name
from tests.client.checks import check_formatted_time, today_in
from tests.servers import ServerThread

TIME_LINE = re.compile(r"^Current time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$")
DATE_LINE = re.compile(r"^Current date: (\d{4}-\d\d-\d\d)$")
DAY_NAMES = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run ``chrono argv``; return its exit status, its stdout lines and its stderr."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def check_time_line(line: str, zone: str) -> None:
    """Assert ``line`` is the time line, showing the time in ``zone`` now."""
    match = TIME_LINE.match(line)
    assert match, line
    check_formatted_time(match[1], zone)


def check_date_line(line: str, zone: str) -> None:
    """Assert ``line`` is the date line, showing today in ``zone``."""
    match = DATE_LINE.match(line)
    assert match, line
    assert any(match[1] == day.isoformat() for day in today_in(zone))


def check_one_line_error(err: str, start: str) -> None:
    """Assert ``err`` is one line beginning with ``start``, and no traceback."""
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert err.startswith(start), err
    assert "Traceback" not in err


@pytest.mark.usefixtures("servers")
def test_no_command_prints_time_and_date_in_the_zone(capsys: pytest.CaptureFixture[str]) -> None:
    """With no command, chrono prints exactly the time line and the date line for --tz."""
    status, lines, err = run(capsys, "--tz", "Pacific/Kiritimati")
    assert (status, err) == (0, "")
    assert len(lines) == 2
    check_time_line(lines[0], "Pacific/Kiritimati")
    check_date_line(lines[1], "Pacific/Kiritimati")


@pytest.mark.usefixtures("servers")
@pytest.mark.parametrize(
    "argv",
    [["time", "--tz", "Asia/Kathmandu"], ["--tz", "Asia/Kathmandu", "time"]],
    ids=["option-after", "option-before"],
)
def test_time_command(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """`chrono time` prints the time line alone, with --tz before or after the command."""
    status, lines, err = run(capsys, *argv)
    assert (status, err) == (0, "")
    assert len(lines) == 1
    check_time_line(lines[0], "Asia/Kathmandu")


@pytest.mark.usefixtures("servers")
def test_date_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono date` prints the date line alone."""
    status, lines, err = run(capsys, "date", "--tz", "America/Sao_Paulo")
    assert (status, err) == (0, "")
    assert len(lines) == 1
    check_date_line(lines[0], "America/Sao_Paulo")


@pytest.mark.usefixtures("servers")
def test_watch_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono watch --count N` prints N time lines, then exits 0."""
    status, lines, err = run(
        capsys, "--tz", "Europe/Paris", "watch", "--interval", "0.1", "--count", "3"
    )
    assert (status, err) == (0, "")
    assert len(lines) == 3
    for line in lines:
        check_time_line(line, "Europe/Paris")


@pytest.mark.usefixtures("servers")
def test_zones_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`chrono zones` prints every zone name, one per line, and nothing else."""
    status, lines, err = run(capsys, "zones")
    assert (status, err) == (0, "")
    assert lines == sorted(zoneinfo.available_timezones())


@pytest.mark.usefixtures("servers")
def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints each response as one line of proto3 JSON, one per update for watch."""
    status, lines, _ = run(capsys, "--json", "--tz", "Asia/Tokyo")
    assert status == 0
    time_reply, date_reply = (json.loads(line) for line in lines)
    assert time_reply["timeZone"] == date_reply["timeZone"] == "Asia/Tokyo"
    check_formatted_time(time_reply["formatted"], "Asia/Tokyo")
    (today,) = (day for day in today_in("Asia/Tokyo") if day.isoformat() == date_reply["formatted"])
    assert date_reply["dayOfWeek"] == DAY_NAMES[today.weekday()]

    status, lines, _ = run(capsys, "watch", "--json", "--interval", "0.1", "--count", "2")
    assert status == 0
    assert [set(json.loads(line)) >= {"currentTime", "formatted"} for line in lines] == [True] * 2

    status, lines, _ = run(capsys, "zones", "--json")
    (zones,) = (json.loads(line) for line in lines)
    assert status == 0
    assert zones["tzdataVersion"]
    assert len(zones["timeZones"]) == zones["totalSize"]


@pytest.mark.usefixtures("servers")
def test_unknown_zone_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --tz exits 2 with the server's reason on one stderr line, printing nothing."""
    status, lines, err = run(capsys, "--tz", "Mars/Base")
    assert (status, lines) == (2, [])
    check_one_line_error(err, "chrono: invalid time zone 'Mars/Base': ")
    assert "not an IANA time zone name" in err


@pytest.mark.usefixtures("servers")
def test_out_of_range_interval_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    """An interval the server refuses exits 2 naming --interval; a bad --count is a usage error."""
    status, _, err = run(capsys, "watch", "--interval", "0.05", "--count", "1")
    assert status == 2
    check_one_line_error(err, "chrono: invalid --interval: ")
    status, _, err = run(capsys, "watch", "--count", "-1")
    assert status == 2
    assert "--count" in err


def test_dead_time_service_fails_on_one_line(
    capsys: pytest.CaptureFixture[str], dead_target: str
) -> None:
    """A time service that is down exits 1 with one line naming it and how to point at it."""
    status, lines, err = run(capsys, "--time-target", dead_target, "--tz", "UTC")
    assert (status, lines) == (1, [])
    check_one_line_error(
        err, f"chrono: cannot reach the time service at {dead_target} (UNAVAILABLE)"
    )
    assert "--time-target" in err


def test_dead_date_service_fails_on_one_line(
    capsys: pytest.CaptureFixture[str], dead_target: str, time_server: ServerThread
) -> None:
    """A date service that is down exits 1 after the time line, with one line naming it."""
    argv = ["--time-target", time_server.target, "--date-target", dead_target]
    status, lines, err = run(capsys, *argv)
    assert status == 1
    assert len(lines) == 1
    check_one_line_error(
        err, f"chrono: cannot reach the date service at {dead_target} (UNAVAILABLE)"
    )


@pytest.mark.usefixtures("servers")
def test_tz_environment_variable_sets_the_default_zone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --tz, the zone TZ names is used, read afresh on each run despite tzlocal's cache."""
    for zone in ("Asia/Kathmandu", "America/Sao_Paulo"):
        monkeypatch.setenv("TZ", zone)
        status, lines, err = run(capsys, "time", "--json")
        assert (status, err) == (0, "")
        assert json.loads(lines[0])["timeZone"] == zone
        status, lines, err = run(capsys)
        check_time_line(lines[0], zone)
        check_date_line(lines[1], zone)


def test_local_zone_falls_back_to_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """When tzlocal cannot name the local zone, the command uses UTC."""

    def fail() -> str:
        raise zoneinfo.ZoneInfoNotFoundError("no zone configured")

    monkeypatch.setattr(tzlocal, "get_localzone_name", fail)
    assert local_zone_name() == "UTC"


class _InterruptAfterFirstLine(io.StringIO):
    """A stdout that raises Ctrl-C's KeyboardInterrupt once the first line is written.

    Raised here rather than through ``_thread.interrupt_main()``: a simulated SIGINT is
    delivered at the next check of the main thread, and if that check falls inside a
    finalizer run by the garbage collector, Python reports the exception as ignored
    instead of raising it; the endless watch then never ends (the likely cause of one
    hang in a full run).
    """

    def write(self, text: str) -> int:
        written = super().write(text)
        if "\n" in text:
            raise KeyboardInterrupt
        return written


@pytest.mark.usefixtures("servers")
def test_ctrl_c_during_watch_exits_130_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during an endless watch exits 130 and prints no error."""
    stdout = _InterruptAfterFirstLine()
    monkeypatch.setattr(sys, "stdout", stdout)
    assert cli.main(["watch", "--interval", "0.1"]) == 130
    assert len(stdout.getvalue().splitlines()) >= 1
    assert capsys.readouterr().err == ""


def test_module_entry_point(time_server: ServerThread, date_server: ServerThread) -> None:
    """`python -m client` runs the command: the two lines, from the services named in the env."""
    env = {
        **os.environ,
        "TIME_SERVICE_TARGET": time_server.target,
        "DATE_SERVICE_TARGET": date_server.target,
        "TZ": "Asia/Kathmandu",
    }
    done = subprocess.run(
        [sys.executable, "-m", "client"],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    time_line, date_line = done.stdout.splitlines()
    check_time_line(time_line, "Asia/Kathmandu")
    check_date_line(date_line, "Asia/Kathmandu")
