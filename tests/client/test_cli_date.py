"""`chrono add`, `diff`, `busday`, `holidays` and `calendars`, in-process against a real server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import holidays
import pytest

import client.__main__ as cli
from chrono_domain import holiday_calendars
from date_service.options import DateOptions
from date_service.server import SPEC
from tests.chrono_server.helpers import running
from tests.servers import ServerThread, server_settings


@dataclass(frozen=True)
class Served:
    """A DateService server taking writes with the token in ``token_file``."""

    target: str
    token_file: Path

    @property
    def token(self) -> str:
        """The write token."""
        return self.token_file.read_text(encoding="utf-8").strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A DateService server with calendars of the test's own and a write token file."""
    token_file = tmp_path / "token"
    token_file.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
    options = DateOptions(
        database=f"sqlite:///{tmp_path / 'calendars.db'}", write_token_file=token_file
    )
    with running(SPEC, server_settings(service=options)) as server:
        yield Served(server.target, token_file)


def chrono(
    capsys: pytest.CaptureFixture[str], target: str, *argv: str
) -> tuple[int, list[str], str]:
    """Run ``chrono --date-target TARGET argv``; its exit status, stdout lines and stderr."""
    status = cli.main(["--date-target", target, *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def ok(capsys: pytest.CaptureFixture[str], target: str, *argv: str) -> list[str]:
    """The stdout lines of a run that must succeed silently on stderr."""
    status, lines, err = chrono(capsys, target, *argv)
    assert (status, err) == (0, ""), (argv, err)
    return lines


def failed(capsys: pytest.CaptureFixture[str], target: str, status: int, *argv: str) -> str:
    """The one stderr line of a run that must exit ``status`` printing nothing on stdout."""
    got, lines, err = chrono(capsys, target, *argv)
    assert (got, lines) == (status, []), (argv, err)
    assert err.startswith("chrono: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["add", "2026-01-31", "--months", "1"], "2026-02-28 (clamped)"),
        (["add", "2024-02-29", "--years", "1"], "2025-02-28 (clamped)"),
        (["add", "2026-01-15", "--months", "1"], "2026-02-15"),
        (["add", "2026-03-31", "--months", "-1", "--days", "-1"], "2026-02-27 (clamped)"),
        (["add", "2026-07-02", "--weeks", "2"], "2026-07-16"),
        (["diff", "2010-01-15", "2011-03-18"], "1 year, 2 months, 3 days (427 days)"),
        (["diff", "2011-03-18", "2010-01-15"], "-1 year, -2 months, -3 days (-427 days)"),
        (["diff", "2026-01-31", "2026-02-28"], "0 years, 0 months, 28 days (28 days)"),
        (["diff", "2026-01-01", "2027-02-02"], "1 year, 1 month, 1 day (397 days)"),
    ],
)
def test_add_and_diff(
    capsys: pytest.CaptureFixture[str], served: Served, argv: list[str], expected: str
) -> None:
    """`chrono add` prints the date reached (clamped or not); `chrono diff` the period in words."""
    assert ok(capsys, served.target, *argv) == [expected]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["busday", "is", "XNYS", "2026-07-03"],
            "2026-07-03 is not a business day: Independence Day (observed)",
        ),
        (
            ["busday", "is", "US", "2026-07-04"],
            "2026-07-04 is not a business day: weekend, Independence Day",
        ),
        (["busday", "is", "XNYS", "2026-07-06"], "2026-07-06 is a business day"),
        (
            ["busday", "adjust", "US", "2026-10-31", "--convention", "modified-following"],
            "2026-10-30",
        ),
        (["busday", "adjust", "US", "2026-10-31"], "2026-11-02"),
        (["busday", "adjust", "US", "2026-07-04", "--convention", "PRECEDING"], "2026-07-02"),
        (["busday", "add", "XNYS", "2026-07-02", "1"], "2026-07-06"),
        (["busday", "add", "XNYS", "2026-07-06", "-1"], "2026-07-02"),
        (["busday", "add", "XNYS", "2026-07-03", "0"], "2026-07-06"),
        (["busday", "count", "XNYS", "2026-06-29", "2026-07-06"], "4"),
        (["busday", "count", "XNYS", "2026-07-06", "2026-06-29"], "-4"),
    ],
)
def test_busday(
    capsys: pytest.CaptureFixture[str], served: Served, argv: list[str], expected: str
) -> None:
    """`chrono busday is|adjust|add|count` print one line: the answer, and for `is` why not."""
    assert ok(capsys, served.target, *argv) == [expected]


def test_holidays(capsys: pytest.CaptureFixture[str], served: Served) -> None:
    """`chrono holidays US 2026-01-01 2026-12-31` prints the package's 2026 list, one per line."""
    lines = ok(capsys, served.target, "holidays", "US", "2026-01-01", "2026-12-31")
    package = holidays.country_holidays("US", years=2026)
    assert lines == [f"{day}  {package[day]}" for day in sorted(package)]


def test_json_output(capsys: pytest.CaptureFixture[str], served: Served) -> None:
    """--json prints each answer as one line of proto3 JSON."""
    (line,) = ok(capsys, served.target, "--json", "add", "2026-01-31", "--months", "1")
    assert json.loads(line) == {"date": {"year": 2026, "month": 2, "day": 28}, "clamped": True}
    (line,) = ok(capsys, served.target, "diff", "2010-01-15", "2011-03-18", "--json")
    assert json.loads(line) == {"years": 1, "months": 2, "days": 3, "totalDays": 427}
    (line,) = ok(capsys, served.target, "busday", "is", "XNYS", "2026-07-03", "--json")
    answer = json.loads(line)
    assert (answer["businessDay"], answer["weekend"]) == (False, False)
    assert answer["holidays"] == [
        {
            "date": {"year": 2026, "month": 7, "day": 3},
            "name": "Independence Day (observed)",
            "observed": True,
        }
    ]
    (line,) = ok(
        capsys, served.target, "busday", "count", "XNYS", "2026-06-29", "2026-07-06", "--json"
    )
    assert json.loads(line) == {"businessDays": 4}
    (line,) = ok(capsys, served.target, "--json", "busday", "adjust", "US", "2026-07-04")
    assert json.loads(line) == {"date": {"year": 2026, "month": 7, "day": 6}}
    (line,) = ok(capsys, served.target, "--json", "holidays", "US", "2026-01-01", "2026-12-31")
    assert len(json.loads(line)["holidays"]) == 12


def test_calendars_lifecycle(capsys: pytest.CaptureFixture[str], served: Served) -> None:
    """Create a calendar with --token-file, use it, get, list, update and delete it by etag."""
    target, token = served.target, ["--token-file", str(served.token_file)]
    (made,) = ok(
        capsys, target, "calendars", "create", "acme", "--base", "US",
        "--holiday", "2026-12-24=Christmas Eve", "--display-name", "Acme", *token,
    )  # fmt: skip
    assert made.startswith('calendars/acme  Acme  ("1-')
    assert ok(capsys, target, "busday", "is", "acme", "2026-12-24") == [
        "2026-12-24 is not a business day: Christmas Eve"
    ]
    text = ok(capsys, target, "calendars", "get", "acme")
    assert text[:4] == [
        "calendars/acme: Acme",
        "weekend: Sat, Sun",
        "base calendars: calendars/US",
        "extra holidays: 1, removed holidays: 0",
    ]
    (line,) = ok(capsys, target, "calendars", "get", "acme", "--json")
    first = json.loads(line)
    assert text[4] == f"etag: {first['etag']}"
    assert first["extraHolidays"] == [
        {"date": {"year": 2026, "month": 12, "day": 24}, "name": "Christmas Eve", "observed": False}
    ]
    listed = ok(capsys, target, "calendars", "list")
    builtins = holiday_calendars.builtin_names()
    assert [line.split()[0] for line in listed] == [*builtins, "calendars/acme"]
    assert listed[0].endswith(f"(built in, holidays {holiday_calendars.DATA_VERSION})")

    (changed,) = ok(
        capsys, target, "calendars", "update", "acme", "--display-name", "Acme Corp",
        "--weekend", "fri,sat", "--etag", first["etag"], *token,
    )  # fmt: skip
    assert changed.startswith('calendars/acme  Acme Corp  ("2-')
    assert ok(capsys, target, "busday", "is", "acme", "2026-07-10") == [
        "2026-07-10 is not a business day: weekend"
    ]
    stale = ["--etag", first["etag"]]
    err = failed(
        capsys, target, 1, "calendars", "update", "acme", "--display-name", "X", *stale, *token
    )
    assert "(ABORTED)" in err
    err = failed(capsys, target, 1, "calendars", "delete", "acme", *stale, *token)
    assert "(ABORTED)" in err
    current = json.loads(ok(capsys, target, "--json", "calendars", "get", "acme")[0])["etag"]
    assert ok(capsys, target, "calendars", "delete", "acme", "--etag", current, *token) == [
        "deleted acme"
    ]
    assert "(NOT_FOUND)" in failed(capsys, target, 1, "calendars", "get", "acme")


def test_token_from_the_environment(
    capsys: pytest.CaptureFixture[str], served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --token-file the token comes from $CHRONO_TOKEN; without either, no write."""
    err = failed(capsys, served.target, 1, "calendars", "create", "beta")
    assert "(UNAUTHENTICATED)" in err
    monkeypatch.setenv("CHRONO_TOKEN", served.token)
    (line,) = ok(capsys, served.target, "calendars", "create", "beta", "--json")
    assert json.loads(line)["name"] == "calendars/beta"
    assert ok(capsys, served.target, "calendars", "delete", "beta", "--json") == []
    monkeypatch.setenv("CHRONO_TOKEN", "not-the-token")
    err = failed(capsys, served.target, 1, "calendars", "create", "gamma")
    assert "(PERMISSION_DENIED)" in err
    assert "not-the-token" not in err


def test_writes_to_a_server_that_takes_none(
    capsys: pytest.CaptureFixture[str], date_server: ServerThread, tmp_path: Path
) -> None:
    """A server started without write flags refuses a create: exit 1, the flag named."""
    token_file = tmp_path / "token"
    token_file.write_text("anything\n", encoding="utf-8")
    err = failed(
        capsys,
        date_server.target,
        1,
        "calendars",
        "create",
        "acme",
        "--token-file",
        str(token_file),
    )
    assert "(PERMISSION_DENIED)" in err
    assert "--write-token-file" in err


@pytest.mark.parametrize(
    ("argv", "status", "words"),
    [
        (["busday", "is", "ZZ", "2026-07-03"], 1, "(NOT_FOUND)"),
        (["busday", "is", "Bad_Id", "2026-07-03"], 2, "is not a calendar name"),
        (["holidays", "US", "2026-12-31", "2026-01-01"], 2, "end_date must not be before"),
        (["holidays", "US", "1900-01-01", "2026-01-01"], 2, "at most 100 years"),
        (["add", "2026-01-31", "--months", "1", "--reject"], 2, "OVERFLOW_CLAMP"),
        (["add", "9999-12-31", "--days", "1"], 2, "9999-12-31"),
        (["calendars", "create", "Acme"], 2, "calendar_id 'Acme'"),
        (["calendars", "create", "acme", "--base", "ZZ"], 2, "calendar.base_calendars[0]"),
        (["calendars", "update", "acme"], 2, "nothing to change"),
        (["calendars", "update", "US", "--display-name", "x"], 1, "(FAILED_PRECONDITION)"),
        (["calendars", "create", "acme", "--token-file", "/nonexistent/token"], 2, "--token-file"),
    ],
)
def test_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], served: Served, argv: list[str], status: int, words: str
) -> None:
    """Bad input exits 2 and a failure of the service 1, each with one line on stderr."""
    token = [] if "--token-file" in argv else ["--token-file", str(served.token_file)]
    extra = token if argv[0] == "calendars" else []
    assert words in failed(capsys, served.target, status, *argv, *extra)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["add", "2026-02-30"], "'2026-02-30' is not a date YYYY-MM-DD"),
        (["diff", "2026-01-01", "tomorrow"], "'tomorrow' is not a date"),
        (["busday", "adjust", "US", "2026-07-04", "--convention", "nearest"], "'nearest'"),
        (["busday", "add", "US", "2026-07-04", "one"], "'one' is not a whole number"),
        (["calendars", "create", "acme", "--holiday", "2026-12-24"], "is not DATE=NAME"),
        (["calendars", "create", "acme", "--weekend", "funday"], "not a day of the week"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], served: Served, argv: list[str], words: str
) -> None:
    """A value the command cannot parse is a usage error: exit 2, nothing sent or printed."""
    status, lines, err = chrono(capsys, served.target, *argv)
    assert (status, lines) == (2, [])
    assert words in err.splitlines()[-1]
    assert "Traceback" not in err
