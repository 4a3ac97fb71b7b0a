"""Server settings: one frozen dataclass, built once from flags and environment."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
ENGINES = ("grpcio", "native")


@dataclass(frozen=True)
class ServerSettings:
    """Everything a server process needs to know, fixed at start-up."""

    host: str = "127.0.0.1"
    port: int = 0
    grace: float = 5.0
    log_level: str = "INFO"
    log_format: str = "text"
    reflection: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    metrics_port: int | None = None
    # The API's largest request is a zone name and a page token: a few hundred bytes.
    max_request_bytes: int = 4096
    max_concurrent_streams: int = 100
    max_watches: int = 10_000
    keepalive_min_interval: float = 10.0
    max_connection_age: float = 300.0
    max_connection_age_grace: float = 30.0
    workers: int = 1
    engine: str = "grpcio"

    @property
    def address(self) -> str:
        """The address to bind, with IPv6 hosts in brackets."""
        return join_host_port(self.host, self.port)

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS."""
        return self.tls_cert is not None


def join_host_port(host: str, port: int) -> str:
    """``host:port``, with a bare IPv6 host in brackets."""
    bare_ipv6 = ":" in host and not host.startswith("[")
    return f"[{host}]:{port}" if bare_ipv6 else f"{host}:{port}"


def _host(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("host must not be empty")
    return text


def _whole(name: str, low: int, high: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, not {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be between {low} and {high}, not {value}"
            )
        return value

    return convert


def _seconds(name: str, positive: bool = False) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a number of seconds, not {text!r}"
            ) from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            more = "more than zero" if positive else "zero or more"
            raise argparse.ArgumentTypeError(f"{name} must be {more} seconds, not {text!r}")
        return value

    return convert


def _choice(name: str, choices: Sequence[str], fold: Callable[[str], str]) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = fold(text)
        if value not in choices:
            raise argparse.ArgumentTypeError(
                f"{name} must be one of {', '.join(choices)}, not {text!r}"
            )
        return value

    return convert


def _file(name: str) -> Callable[[str], Path]:
    def convert(text: str) -> Path:
        path = Path(text)
        if not os.access(path, os.R_OK) or not path.is_file():
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not a readable file")
        return path

    return convert


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return _whole("workers", 1, 256)(text)


_port = _whole("port", 0, 65535)

# dest -> (converter, metavar, help). Defaults come from ServerSettings; each option
# also reads {PREFIX}_{DEST} from the environment when the flag is left out.
_OPTIONS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "host": (_host, "HOST", "address to listen on"),
    "port": (_port, "PORT", "port to listen on, 0 for any free one"),
    "grace": (_seconds("grace"), "SECONDS", "how long in-flight calls may finish on shutdown"),
    "log_level": (_choice("log level", LOG_LEVELS, str.upper), "LEVEL", "/".join(LOG_LEVELS)),
    "log_format": (
        _choice("log format", LOG_FORMATS, str.lower),
        "FORMAT",
        "text, or json: one object per line",
    ),
    "tls_cert": (_file("TLS certificate"), "FILE", "PEM certificate chain: serve TLS"),
    "tls_key": (_file("TLS key"), "FILE", "PEM private key of --tls-cert"),
    "tls_client_ca": (
        _file("client CA"),
        "FILE",
        "PEM CA bundle: require client certificates signed by it (mTLS)",
    ),
    "metrics_port": (
        _port,
        "PORT",
        "serve Prometheus /metrics over HTTP on this port; off if unset",
    ),
    "max_request_bytes": (
        _whole("max request bytes", 64, 4 * 1024 * 1024),
        "BYTES",
        "largest request message accepted; larger ones get RESOURCE_EXHAUSTED",
    ),
    "max_concurrent_streams": (
        _whole("max concurrent streams", 1, 1_000_000),
        "N",
        "calls one connection may have open at once",
    ),
    "max_watches": (
        _whole("max watches", 0, 1_000_000),
        "N",
        "open WatchTime streams per process; more get RESOURCE_EXHAUSTED",
    ),
    "keepalive_min_interval": (
        _seconds("keepalive min interval"),
        "SECONDS",
        "clients that ping more often than this are disconnected (0: any rate)",
    ),
    "max_connection_age": (
        _seconds("max connection age"),
        "SECONDS",
        "close connections this old (0: never), so clients re-resolve and rebalance",
    ),
    "max_connection_age_grace": (
        _seconds("max connection age grace"),
        "SECONDS",
        "how long calls on an aged connection may still run",
    ),
    "workers": (_workers, "N", "server processes sharing the port, or auto (one per CPU)"),
    "engine": (
        _choice("engine", ENGINES, str.lower),
        "ENGINE",
        "grpcio, or native (pygrpc-native; the 'native' extra)",
    ),
}

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ServerSettings)}


def _default_text(dest: str) -> str:
    value = _DEFAULTS[dest]
    return "unset" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def check_tls_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Raise OSError or ValueError unless the files are PEM and the key fits the certificate.

    grpc takes any bytes and fails each handshake later; the ssl module checks now.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)


# What the native engine cannot do; left unset, these are off under it.
_NATIVE_LIMITS = ("max_connection_age", "keepalive_min_interval")


def check(settings: ServerSettings) -> str | None:
    """The problem with a combination of settings, or None."""
    if settings.engine == "native":
        if importlib.util.find_spec("pygrpc_native") is None:
            return (
                "--engine native needs the pygrpc-native package: "
                "pip install 'chrono[native]' (or use --engine grpcio)"
            )
        if settings.tls:
            return "--engine native cannot serve TLS; use --engine grpcio for --tls-*"
        enforced = [
            f"--{name.replace('_', '-')} {getattr(settings, name):g}"
            for name in _NATIVE_LIMITS
            if getattr(settings, name) > 0
        ]
        if enforced:
            return (
                f"--engine native cannot enforce {' or '.join(enforced)}; set them to 0 to "
                "run without, or use --engine grpcio"
            )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        return "--tls-cert and --tls-key go together: pass both, or neither"
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        return "--tls-client-ca needs --tls-cert and --tls-key: mTLS runs over TLS"
    if settings.tls_cert is not None and settings.tls_key is not None:
        try:
            check_tls_files(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        except (OSError, ValueError) as error:
            return f"cannot use the TLS files: {error}"
    if settings.metrics_port is not None and settings.metrics_port == settings.port != 0:
        return f"--metrics-port must differ from --port ({settings.port})"
    return None


def parse_settings(
    prog: str,
    env_prefix: str,
    default_port: int,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """Build settings from flags, falling back to ``{env_prefix}_*`` variables, then defaults.

    Bad values exit with status 2 and a message naming the flag or variable, as argparse does.
    """
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog=prog, description=f"Run the {prog} gRPC server.")
    defaults: dict[str, Any] = {**_DEFAULTS, "port": default_port}
    for dest, (convert, metavar, text) in _OPTIONS.items():
        default = str(default_port) if dest == "port" else _default_text(dest)
        # Left out, a flag stays None and falls back to its variable after parsing, so
        # that a bad variable is reported under its own name and a flag overrides it.
        parser.add_argument(
            f"--{dest.replace('_', '-')}",
            type=convert,
            metavar=metavar,
            help=f"{text} (env {env_prefix}_{dest.upper()}; default {default})",
        )
    parser.add_argument(
        "--no-reflection",
        action="store_true",
        help="do not serve gRPC server reflection (default: served)",
    )
    args = parser.parse_args(argv)
    given: dict[str, Any] = {}
    for dest, (convert, _, _) in _OPTIONS.items():
        value = getattr(args, dest)
        variable = f"{env_prefix}_{dest.upper()}"
        if value is None and variable in env:
            try:
                value = convert(env[variable])
            except argparse.ArgumentTypeError as error:
                parser.error(f"environment variable {variable}: {error}")
        given[dest] = value
    if given["engine"] == "native":
        # Limits the native engine cannot enforce are off unless asked for (and refused).
        defaults.update(dict.fromkeys(_NATIVE_LIMITS, 0.0))
    values = {dest: defaults[dest] if value is None else value for dest, value in given.items()}
    settings = ServerSettings(reflection=not args.no_reflection, **values)
    if problem := check(settings):
        parser.error(problem)
    return settings
