"""Server settings: one frozen dataclass, built once from flags and environment.

The converters (:func:`whole`, :func:`seconds`, :func:`choice`) check a flag's text; a
service declares its own flags with them and :func:`chrono_server.spec.option`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chrono_server import engines
from chrono_server.spec import Option, ServiceEntry, option
from client._targets import ETCD_PREFIX

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def join_host_port(host: str, port: int) -> str:
    """``host:port``, with a bare IPv6 host in brackets."""
    bare_ipv6 = ":" in host and not host.startswith("[")
    return f"[{host}]:{port}" if bare_ipv6 else f"{host}:{port}"


def _host(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("host must not be empty")
    return text


def whole(name: str, low: int, high: int) -> Callable[[str], int]:
    """A converter to a whole number from ``low`` to ``high``; ``name`` is for messages."""

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


def seconds(name: str, positive: bool = False) -> Callable[[str], float]:
    """A converter to a finite number of seconds, 0 or more (more than 0 if ``positive``)."""

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


def choice(name: str, choices: Sequence[str], fold: Callable[[str], str]) -> Callable[[str], str]:
    """A converter to one of ``choices``, after ``fold`` (such as str.lower)."""

    def convert(text: str) -> str:
        value = fold(text)
        if value not in choices:
            raise argparse.ArgumentTypeError(
                f"{name} must be one of {', '.join(choices)}, not {text!r}"
            )
        return value

    return convert


def readable_file(name: str) -> Callable[[str], Path]:
    """A converter to the path of a readable file; ``name`` says what the file is."""

    def convert(text: str) -> Path:
        path = Path(text)
        if not os.access(path, os.R_OK) or not path.is_file():
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not a readable file")
        return path

    return convert


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return whole("workers", 1, 256)(text)


_port = whole("port", 0, 65535)


def _host_port(name: str) -> Callable[[str], str]:
    """A converter checking ``host:port`` (an IPv6 host in brackets, a port 1-65535)."""

    def convert(text: str) -> str:
        host, colon, port = text.rpartition(":")
        bracketed = host.startswith("[") and host.endswith("]") and len(host) > 2
        if not (colon and host and (":" not in host or bracketed) and port.isdigit()) or not (
            1 <= int(port) <= 65535
        ):
            raise argparse.ArgumentTypeError(
                f"{name} must be host:port, an IPv6 host in brackets ([::1]:2379), not {text!r}"
            )
        return text

    return convert


def _etcd_endpoints(text: str) -> tuple[str, ...]:
    """The endpoints of etcd: ``host:port``, or with ``http://`` or ``https://`` (TLS)."""
    entries = tuple(entry.strip() for entry in text.split(","))
    schemes = set()
    for entry in entries:
        scheme, separator, rest = entry.rpartition("://")
        if separator and scheme not in ("http", "https"):
            raise argparse.ArgumentTypeError(
                f"etcd endpoint {entry!r}: the scheme must be http:// or https://"
            )
        schemes.add(scheme == "https")
        _host_port("etcd endpoint")(rest.rstrip("/"))
    if len(schemes) > 1:
        raise argparse.ArgumentTypeError(
            f"etcd endpoints {text!r}: either all https:// (TLS) or none"
        )
    return entries


def _otlp_endpoint(text: str) -> str:
    # The exporter would take a bare host:port as TLS unless OTEL_EXPORTER_OTLP_INSECURE
    # says otherwise: the scheme says which, here.
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise argparse.ArgumentTypeError(
            f"OTLP endpoint must be a URL such as http://localhost:4317 (https:// for TLS), "
            f"not {text!r}"
        )
    return text


def _origins(text: str) -> tuple[str, ...]:
    """Browser origins, comma-separated: ``scheme://host[:port]`` each, or ``*`` for any."""
    found = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        scheme, separator, rest = entry.partition("://")
        rest = rest.rstrip("/")
        if entry != "*" and (
            not separator or scheme not in ("http", "https") or not rest or "/" in rest
        ):
            raise argparse.ArgumentTypeError(
                f"CORS origin {entry!r} must be scheme://host[:port], such as "
                "https://app.example.com, or * for any origin"
            )
        found.append(entry if entry == "*" else f"{scheme}://{rest}".lower())
    return tuple(found)


@dataclass(frozen=True)
class ServerSettings:
    """Everything a server process needs to know, fixed at start-up.

    Each field is declared once, as a flag with its environment variable; a service's
    own flags live in its entry's ``options`` class, whose instance is ``service``.
    """

    host: str = option("127.0.0.1", _host, "HOST", "address to listen on")
    port: int = option(0, _port, "PORT", "port to listen on, 0 for any free one")
    grace: float = option(
        5.0, seconds("grace"), "SECONDS", "how long in-flight calls may finish on shutdown"
    )
    drain_delay: float = option(
        0.25,
        seconds("drain delay"),
        "SECONDS",
        "how long to keep serving after health turns NOT_SERVING, so clients move away",
    )
    log_level: str = option(
        "INFO", choice("log level", LOG_LEVELS, str.upper), "LEVEL", "/".join(LOG_LEVELS)
    )
    log_format: str = option(
        "text",
        choice("log format", LOG_FORMATS, str.lower),
        "FORMAT",
        "text, or json: one object per line",
    )
    reflection: bool = True
    tls_cert: Path | None = option(
        None, readable_file("TLS certificate"), "FILE", "PEM certificate chain: serve TLS"
    )
    tls_key: Path | None = option(
        None, readable_file("TLS key"), "FILE", "PEM private key of --tls-cert"
    )
    tls_client_ca: Path | None = option(
        None,
        readable_file("client CA"),
        "FILE",
        "PEM CA bundle: require client certificates signed by it (mTLS)",
    )
    metrics_port: int | None = option(
        None, _port, "PORT", "serve Prometheus /metrics over HTTP on this port; off if unset"
    )
    http_port: int | None = option(
        None,
        _port,
        "PORT",
        "serve the API as HTTP/JSON (from its google.api.http annotations) on this port; "
        "off if unset",
    )
    http_cors_origins: tuple[str, ...] = option(
        (),
        _origins,
        "ORIGINS",
        "browser origins (scheme://host[:port], comma-separated, or *) allowed to call the "
        "HTTP/JSON API across origins (CORS); none if unset",
    )
    otlp_endpoint: str | None = option(
        None,
        _otlp_endpoint,
        "URL",
        "export OpenTelemetry spans over OTLP/gRPC to this URL (or set "
        "OTEL_EXPORTER_OTLP_ENDPOINT); tracing is off if neither is set",
    )
    # The API's largest request is a zone name and a page token: a few hundred bytes.
    max_request_bytes: int = option(
        4096,
        whole("max request bytes", 64, 4 * 1024 * 1024),
        "BYTES",
        "largest request message accepted; larger ones get RESOURCE_EXHAUSTED",
    )
    # Above the time service's 10,000 watches per process, so that one client (a gateway,
    # a dashboard) can hold them all over one connection; the watch limit, not this one,
    # is what answers with an error.
    max_concurrent_streams: int = option(
        11_000,
        whole("max concurrent streams", 1, 1_000_000),
        "N",
        "calls one connection may have open at once (more wait for a free slot)",
    )
    keepalive_min_interval: float = option(
        10.0,
        seconds("keepalive min interval"),
        "SECONDS",
        "clients that ping more often than this are disconnected (0: any rate)",
    )
    max_connection_age: float = option(
        300.0,
        seconds("max connection age"),
        "SECONDS",
        "close connections this old (0: never), so clients re-resolve and rebalance",
    )
    max_connection_age_grace: float = option(
        30.0,
        seconds("max connection age grace"),
        "SECONDS",
        "how long calls on an aged connection may still run",
    )
    workers: int = option(
        1, _workers, "N", "server processes sharing the port, or auto (one per CPU)"
    )
    engine: str = option(
        "grpcio",
        choice("engine", engines.ENGINES, str.lower),
        "ENGINE",
        "grpcio, or native (pygrpc-native; the 'native' extra)",
    )
    etcd: tuple[str, ...] | None = option(
        None,
        _etcd_endpoints,
        "ENDPOINTS",
        "etcd endpoints, host:port,...: register this server there while it serves; off if unset",
    )
    advertise_address: str | None = option(
        None,
        _host_port("advertise address"),
        "HOST:PORT",
        "the address clients should dial, registered in etcd (default: --host and the "
        "port; required when --host is 0.0.0.0 or ::)",
    )
    etcd_prefix: str = option(
        ETCD_PREFIX,
        str,
        "PREFIX",
        "etcd key prefix: the key is PREFIX<full service name>/<advertise address>",
    )
    etcd_ttl: int = option(
        5,
        whole("etcd ttl", 2, 3600),
        "SECONDS",
        "TTL of the registration's etcd lease: how long a process that died stays listed",
    )
    etcd_ca: Path | None = option(
        None, readable_file("etcd CA"), "FILE", "PEM CA bundle to verify etcd against: TLS"
    )
    etcd_cert: Path | None = option(
        None, readable_file("etcd client certificate"), "FILE", "PEM client certificate for etcd"
    )
    etcd_key: Path | None = option(
        None, readable_file("etcd client key"), "FILE", "PEM private key of --etcd-cert"
    )
    service: Any = None
    """The service's own options: an instance of its entry's ``options`` class, or None."""

    @property
    def address(self) -> str:
        """The address to bind, with IPv6 hosts in brackets."""
        return join_host_port(self.host, self.port)

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS."""
        return self.tls_cert is not None


def check_tls_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Raise OSError or ValueError unless the files can serve TLS now.

    That is: they are PEM, the key fits the certificate, and the certificate is valid
    today. grpc takes any bytes, and any dates, and fails each handshake later; the ssl
    module checks the files now, and cryptography reads the dates, which ssl cannot.
    Only the server's own certificate is dated: an expired extra certificate further
    down the chain (an old cross-signature) need not break a client's path to a root.
    """
    # Here rather than at the top: only a server with TLS pays for importing it.
    from datetime import UTC, datetime

    from cryptography import x509

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
    # load_cert_chain used the first certificate in the file as the server's own.
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    now = datetime.now(UTC)
    if now < start:
        raise ValueError(f"--tls-cert {cert} is not valid until {start:%Y-%m-%d %H:%M:%S} UTC")
    if now > end:
        raise ValueError(f"--tls-cert {cert} expired on {end:%Y-%m-%d %H:%M:%S} UTC")


def check(settings: ServerSettings) -> str | None:
    """The problem with a combination of settings, or None."""
    if problem := engines.check(settings):
        return problem
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
    if problem := _check_http(settings):
        return problem
    return _check_etcd(settings)


def _check_http(settings: ServerSettings) -> str | None:
    """The problem with the HTTP/JSON listener's settings, or None."""
    if settings.http_port is None:
        if settings.http_cors_origins:
            return "--http-cors-origins is for --http-port: pass it too"
        return None
    for flag, other in (("--port", settings.port), ("--metrics-port", settings.metrics_port)):
        if settings.http_port == other != 0:
            return f"--http-port must differ from {flag} ({other})"
    if settings.tls:
        return (
            "--http-port serves plain HTTP and cannot be combined with --tls-cert: put a "
            "TLS-terminating proxy in front of it, or leave it off"
        )
    return None


def _check_etcd(settings: ServerSettings) -> str | None:
    """The problem with the etcd registration's settings, or None."""
    tls_files = (settings.etcd_ca, settings.etcd_cert, settings.etcd_key)
    if settings.etcd is None:
        if any(path is not None for path in tls_files):
            return "--etcd-ca, --etcd-cert and --etcd-key are for --etcd: pass it too"
        return None
    if (settings.etcd_cert is None) != (settings.etcd_key is None):
        return "--etcd-cert and --etcd-key go together: pass both, or neither"
    if settings.advertise_address is None and settings.host.strip("[]") in ("0.0.0.0", "::"):
        return (
            f"--advertise-address is required with --etcd when listening on {settings.host}: "
            "give the host:port clients should dial, such as 10.0.0.5:50051"
        )
    return None


def _declared(cls: type) -> list[tuple[dataclasses.Field[Any], Option]]:
    """The fields of a settings class that are flags, with their declarations."""
    return [
        (item, item.metadata["option"])
        for item in dataclasses.fields(cls)
        if "option" in item.metadata
    ]


def _default_text(value: Any) -> str:
    if value is None or value in ("", ()):
        return "unset"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _entry_defaults(entry: ServiceEntry) -> dict[str, Any]:
    """The shared settings' defaults that ``entry`` sets: its port, and what it overrides."""
    return {"port": entry.default_port, **entry.setting_defaults}


def parse_settings(
    entry: ServiceEntry,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """Build settings from flags, falling back to ``{env_prefix}_*`` variables, then defaults.

    The flags are the shared server's and those of ``entry.options``. Bad values exit
    with status 2 and a message naming the flag or variable, as argparse does.
    """
    env = os.environ if environ is None else environ
    prog = entry.prog
    parser = argparse.ArgumentParser(prog=prog, description=f"Run the {prog} gRPC server.")
    classes: list[type] = [ServerSettings, *([entry.options] if entry.options else [])]
    declared = [(cls, item, declared) for cls in classes for item, declared in _declared(cls)]
    for _, item, declared_option in declared:
        default = _entry_defaults(entry).get(item.name, item.default)
        # Left out, a flag stays None and falls back to its variable after parsing, so
        # that a bad variable is reported under its own name and a flag overrides it.
        parser.add_argument(
            f"--{item.name.replace('_', '-')}",
            type=declared_option.convert,
            metavar=declared_option.metavar,
            help=f"{declared_option.help} (env {entry.env_prefix}_{item.name.upper()}; "
            f"default {_default_text(default)})",
        )
    parser.add_argument(
        "--no-reflection",
        action="store_true",
        help="do not serve gRPC server reflection (default: served)",
    )
    args = parser.parse_args(argv)
    given: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
    for cls, item, declared_option in declared:
        value = getattr(args, item.name)
        variable = f"{entry.env_prefix}_{item.name.upper()}"
        if value is None and variable in env:
            try:
                value = declared_option.convert(env[variable])
            except argparse.ArgumentTypeError as error:
                parser.error(f"environment variable {variable}: {error}")
        if value is not None:
            given[cls][item.name] = value
    common = {**_entry_defaults(entry), **given[ServerSettings]}
    common = {**engines.defaults(common.get("engine", "grpcio")), **common}
    service = entry.options(**given[entry.options]) if entry.options else None
    settings = ServerSettings(reflection=not args.no_reflection, service=service, **common)
    if problem := check(settings):
        parser.error(problem)
    return settings
