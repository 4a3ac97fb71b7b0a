"""Server settings from flags, environment variables and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from chrono_server.config import ServerSettings, parse_settings
from chrono_server.spec import ServiceEntry
from date_service import ENTRY as DATE_ENTRY
from tests.devcerts import write_dev_certs
from time_service import ENTRY as TIME_ENTRY
from time_service.options import TimeOptions


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServerSettings:
    """Settings for a service named ``svc`` with env prefix ``SVC`` and default port 50099."""
    entry = ServiceEntry(prog="svc", env_prefix="SVC", default_port=50099, spec_module="")
    return parse_settings(entry, argv, environ or {})


def test_defaults() -> None:
    """With no flags and no variables every setting takes its documented default."""
    assert parse([]) == ServerSettings(
        host="127.0.0.1", port=50099, grace=5.0, log_level="INFO", reflection=True
    )


def test_environment_fills_in_missing_flags() -> None:
    """Each {PREFIX}_* variable sets its setting when the flag is left out."""
    environ = {
        "SVC_HOST": "0.0.0.0",
        "SVC_PORT": "0",
        "SVC_GRACE": "2.5",
        "SVC_LOG_LEVEL": "debug",
        "OTHER_PORT": "1",
    }
    assert parse([], environ) == ServerSettings(
        host="0.0.0.0", port=0, grace=2.5, log_level="DEBUG", reflection=True
    )


def test_flags_win_over_environment() -> None:
    """A flag overrides its variable, even a variable whose value is invalid."""
    environ = {"SVC_HOST": "0.0.0.0", "SVC_PORT": "abc", "SVC_GRACE": "-1", "SVC_LOG_LEVEL": "LOUD"}
    argv = ["--host", "::1", "--port", "7", "--grace", "0", "--log-level", "warning"]
    assert parse([*argv, "--no-reflection"], environ) == ServerSettings(
        host="::1", port=7, grace=0.0, log_level="WARNING", reflection=False
    )


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--port", "70000"], {}, "argument --port: port must be between 0 and 65535, not 70000"),
        (["--port", "-1"], {}, "argument --port: port must be between 0 and 65535, not -1"),
        (["--port", "http"], {}, "argument --port: port must be a whole number, not 'http'"),
        (["--grace", "-1"], {}, "argument --grace: grace must be zero or more seconds, not '-1'"),
        (["--grace", "nan"], {}, "argument --grace: grace must be zero or more seconds"),
        (["--grace", "soon"], {}, "argument --grace: grace must be a number of seconds"),
        (["--log-level", "LOUD"], {}, "argument --log-level: log level must be one of DEBUG"),
        (["--host", ""], {}, "argument --host: host must not be empty"),
        (["--colour"], {}, "unrecognized arguments: --colour"),
        ([], {"SVC_PORT": "abc"}, "environment variable SVC_PORT: port must be a whole number"),
        ([], {"SVC_PORT": "65536"}, "environment variable SVC_PORT: port must be between"),
        ([], {"SVC_GRACE": "inf"}, "environment variable SVC_GRACE: grace must be zero or more"),
        ([], {"SVC_LOG_LEVEL": "LOUD"}, "environment variable SVC_LOG_LEVEL: log level must be"),
        ([], {"SVC_HOST": ""}, "environment variable SVC_HOST: host must not be empty"),
    ],
    ids=[
        "port-too-big",
        "port-negative",
        "port-not-a-number",
        "grace-negative",
        "grace-nan",
        "grace-not-a-number",
        "log-level-unknown",
        "host-empty",
        "unknown-flag",
        "env-port-not-a-number",
        "env-port-too-big",
        "env-grace-infinite",
        "env-log-level-unknown",
        "env-host-empty",
    ],
)
def test_bad_value_exits_2_naming_flag_or_variable(
    capsys: pytest.CaptureFixture[str], argv: list[str], environ: dict[str, str], message: str
) -> None:
    """A bad flag or variable exits with status 2 and a usage error that names it."""
    with pytest.raises(SystemExit) as exit_info:
        parse(argv, environ)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: svc")
    assert f"svc: error: {message}" in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1:8080"),
        ("0.0.0.0", "0.0.0.0:8080"),
        ("localhost", "localhost:8080"),
        ("::1", "[::1]:8080"),
        ("::", "[::]:8080"),
        ("fe80::1%eth0", "[fe80::1%eth0]:8080"),
    ],
)
def test_address_brackets_ipv6_hosts(host: str, address: str) -> None:
    """The bind address puts IPv6 hosts in brackets and leaves others as they are."""
    assert ServerSettings(host=host, port=8080).address == address


def test_native_engine_turns_off_what_it_cannot_enforce() -> None:
    """Under --engine native the connection age and ping limits default to off, not to ignored."""
    native = parse(["--engine", "native"])
    assert (native.max_connection_age, native.keepalive_min_interval) == (0.0, 0.0)
    grpcio = parse([])
    assert (grpcio.max_connection_age, grpcio.keepalive_min_interval) == (300.0, 10.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-connection-age", "60"], "cannot enforce --max-connection-age 60"),
        (["--keepalive-min-interval", "5"], "cannot enforce --keepalive-min-interval 5"),
        (["--tls-cert", "{cert}", "--tls-key", "{key}"], "--engine native cannot serve TLS"),
    ],
    ids=["connection-age", "keepalive", "tls"],
)
def test_native_engine_refuses_flags_it_cannot_honour(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    """A flag the native engine would silently drop stops the server at start with status 2."""
    certs = write_dev_certs(tmp_path)
    names = {"cert": certs.server_cert, "key": certs.server_key}
    with pytest.raises(SystemExit) as exit_info:
        parse(["--engine", "native", *(arg.format(**names) for arg in argv)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def help_text(entry: ServiceEntry, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``--help`` prints for ``entry``."""
    with pytest.raises(SystemExit):
        parse_settings(entry, ["--help"], {})
    return capsys.readouterr().out


def test_each_service_shows_only_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """The time service has --max-watches; the date service has no watch flag at all."""
    time_help, date_help = help_text(TIME_ENTRY, capsys), help_text(DATE_ENTRY, capsys)
    assert "--max-watches N" in time_help
    assert "TIME_SERVICE_MAX_WATCHES" in time_help
    assert "watch" not in date_help.lower()
    for shared in ("--port", "--grace", "--metrics-port", "--max-request-bytes"):
        assert shared in time_help
        assert shared in date_help


def test_a_services_own_flag_and_variable_reach_its_options() -> None:
    """--max-watches (or TIME_SERVICE_MAX_WATCHES) sets the time service's own options."""
    assert parse_settings(TIME_ENTRY, [], {}).service == TimeOptions()
    assert parse_settings(TIME_ENTRY, ["--max-watches", "7"], {}).service == TimeOptions(7)
    variable = {"TIME_SERVICE_MAX_WATCHES": "9"}
    assert parse_settings(TIME_ENTRY, [], variable).service == TimeOptions(9)
