"""The ``chrono`` command (also ``python -m client``): the time and date from the services.

Usage::

    chrono [OPTIONS]              "Current time: YYYY-MM-DD HH:MM:SS" and "Current date: YYYY-MM-DD"
    chrono [OPTIONS] time         the time line alone
    chrono [OPTIONS] date         the date line alone
    chrono [OPTIONS] watch [--interval SECONDS] [--count N] [--no-reconnect]
                                  a time line per update (default every 1 s, until Ctrl-C);
                                  the watch carries on across a server restart unless
                                  --no-reconnect
    chrono [OPTIONS] zones        every zone name the time service knows, one per line
    chrono [OPTIONS] health [time|date]
                                  "time-service TARGET: SERVING" per service (default both)

Options go before or after the command: ``--tz ZONE`` (default: this machine's zone,
from TZ or the system setting; UTC if none is found), ``--json`` (each response as one
line of proto3 JSON; for ``zones`` one object with ``tzdataVersion``; for ``health`` one
object per service), ``--time-target`` and ``--date-target`` (env TIME_SERVICE_TARGET and
DATE_SERVICE_TARGET; default 127.0.0.1:50051 and 127.0.0.1:50052; a gRPC target or a
comma-separated list of ``host:port``), ``--timeout SECONDS`` (default 5), ``--ca FILE``,
``--cert FILE`` and ``--key FILE`` (env CHRONO_CA, CHRONO_CERT, CHRONO_KEY: TLS to both
services, verified against the CA in ``--ca``, with a client certificate for mutual TLS),
``-v``.

Exit statuses:

- 0: done; for ``health``, every service checked is SERVING.
- 1: a service could not be reached, did not answer in time, or failed; for ``health``,
  a service is not SERVING or did not answer.
- 2: bad input: a usage error, an unusable target or TLS file, or a value the service
  refused (INVALID_ARGUMENT), such as an unknown ``--tz``.
- 130: interrupted (Ctrl-C).
- 141: the reader of the output went away (``chrono zones | head``).

Errors are one line on stderr starting with ``chrono: ``.
"""

from __future__ import annotations

import os

# grpc's C core logs to stderr at INFO from the moment it loads: a failed TLS handshake
# adds lines of its own to chrono's one-line error, one per attempt. It reads this
# variable only then; a value the caller set wins. -v does not bring them back: set
# GRPC_VERBOSITY=INFO for that.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import contextlib
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import grpc
import tzlocal
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb
from client import DEFAULT_TIMEOUT, DateClient, TimeClient, tls_credentials

logger = logging.getLogger("chrono")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

# The responses that carry a `formatted` line.
Formatted = time_pb.GetTimeResponse | time_pb.WatchTimeResponse | date_pb.GetDateResponse

ClientT = TypeVar("ClientT", TimeClient, DateClient)

# The flag that sets each request field the services may refuse.
_FIELD_FLAGS = {"interval": "--interval", "max_updates": "--count", "time_zone": "--tz"}


@dataclass(frozen=True)
class Service:
    """One of the two services, as the messages about it name it."""

    name: str
    target: str
    flag: str
    env: str

    @property
    def prog(self) -> str:
        """The service's command name, as health lines and its logs call it."""
        return f"{self.name}-service"


class CommandError(Exception):
    """A failure to report on one line, with the exit status it calls for."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def local_zone_name() -> str:
    """The IANA name of this machine's zone: TZ if it names one, else the system's; or UTC."""
    try:
        # tzlocal caches the name for the life of the process; main() may run more than
        # once in a process with another TZ. Its offset check warns: keep stderr clean.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tzlocal.reload_localzone()
    except Exception as error:  # the name may still have been found; asked for below
        logger.debug("tzlocal could not load the local zone: %s", error)
    try:
        name = tzlocal.get_localzone_name()
    except Exception as error:
        logger.debug("tzlocal could not name the local zone, using UTC: %s", error)
        return "UTC"
    return name or "UTC"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def _add_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add the options every command takes; ``suppress`` leaves unset ones out of the result.

    The main parser holds the defaults; each command's parser adds the same options with
    defaults suppressed, so that an option given before the command survives.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    env = os.environ
    parser.add_argument(
        "--tz", metavar="ZONE", default=default(None), help="IANA time zone (default: local)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print each response as one line of JSON",
    )
    parser.add_argument(
        "--time-target",
        metavar="TARGET",
        default=default(env.get("TIME_SERVICE_TARGET") or "127.0.0.1:50051"),
        help="gRPC target of the time service (env TIME_SERVICE_TARGET; default 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--date-target",
        metavar="TARGET",
        default=default(env.get("DATE_SERVICE_TARGET") or "127.0.0.1:50052"),
        help="gRPC target of the date service (env DATE_SERVICE_TARGET; default 127.0.0.1:50052)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default(DEFAULT_TIMEOUT),
        help=f"deadline of each call (default {DEFAULT_TIMEOUT:g})",
    )
    for flag, variable, meaning in (
        ("--ca", "CHRONO_CA", "PEM CA certificates to verify the servers against: use TLS"),
        ("--cert", "CHRONO_CERT", "PEM client certificate, for mutual TLS (with --key)"),
        ("--key", "CHRONO_KEY", "PEM private key of --cert"),
    ):
        parser.add_argument(
            flag,
            metavar="FILE",
            type=Path,
            default=default(Path(env[variable]) if env.get(variable) else None),
            help=f"{meaning} (env {variable})",
        )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="log details"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line parser; target defaults come from the environment as it is now."""
    parser = argparse.ArgumentParser(
        prog="chrono",
        description="Print the current time and date from the chrono gRPC services.",
        epilog="Exit status: 0 done, 1 a service unreachable or failed, 2 bad input, "
        "130 interrupted, 141 output closed early.",
    )
    _add_options(parser, suppress=False)
    options = argparse.ArgumentParser(add_help=False)
    _add_options(options, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("time", parents=[options], help="print the current time")
    commands.add_parser("date", parents=[options], help="print the current date")
    watch = commands.add_parser("watch", parents=[options], help="print the time at every tick")
    watch.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_positive_seconds,
        default=1.0,
        help="time between updates, 0.1 to 3600 (default 1)",
    )
    watch.add_argument(
        "--count",
        metavar="N",
        type=_count,
        default=0,
        help="stop after N updates (default 0: never)",
    )
    watch.add_argument(
        "--no-reconnect",
        action="store_true",
        help="fail when the stream breaks (default: reopen it, on any server of the target)",
    )
    commands.add_parser("zones", parents=[options], help="list the time zone names")
    health = commands.add_parser(
        "health",
        parents=[options],
        help="check that the services are SERVING (exit 0) or not (exit 1)",
    )
    health.add_argument(
        "service",
        nargs="?",
        choices=("time", "date"),
        help="the service to check (default: both)",
    )
    return parser


def _bad_field(error: grpc.RpcError) -> str | None:
    """The request field a google.rpc.BadRequest detail of ``error`` names, if any."""
    if not isinstance(error, grpc.Call):
        return None
    try:
        status: status_pb2.Status | None = rpc_status.from_call(error)
    except ValueError:
        return None
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request) and bad_request.field_violations:
            return bad_request.field_violations[0].field
    return None


def explain(
    error: grpc.RpcError, service: Service, zone: str, zone_given: bool, tls: str = "off"
) -> CommandError:
    """Say what failed and what to do about it, on one line.

    ``tls`` is how the client connected: ``off``, ``on`` or ``mtls`` (with a certificate).
    """
    code = error.code()
    details = " ".join((error.details() or "").split())
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = _bad_field(error)
        if field == "time_zone":
            where = "" if zone_given else " (this machine's zone; pass --tz)"
            return CommandError(f"invalid time zone {zone!r}{where}: {details}", EXIT_BAD_INPUT)
        flag = _FIELD_FLAGS.get(field or "", "argument")
        return CommandError(f"invalid {flag}: {details}", EXIT_BAD_INPUT)
    where = f"the {service.name} service at {service.target}"
    if code == grpc.StatusCode.UNAVAILABLE and _is_tls_failure(details):
        message = (
            f"cannot reach {where}: the TLS handshake failed; check --ca (and --cert, "
            f"--key for mutual TLS). ({details})"
        )
    elif code == grpc.StatusCode.UNAVAILABLE:
        message = (
            f"cannot reach {where} ({code.name}); is it running? Check {service.flag} or "
            f"{service.env}{_closed_hint(details, tls)}. ({details})"
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"{where} did not answer in time ({code.name}); raise --timeout or check it"
    else:
        message = f"{where} failed ({code.name}): {details}"
    return CommandError(message, EXIT_FAILED)


def _is_tls_failure(details: str) -> bool:
    """Whether an UNAVAILABLE's message says the TLS handshake or certificate check failed."""
    lowered = details.lower()
    return any(word in lowered for word in ("ssl", "tls", "handshake", "certificate"))


def _closed_hint(details: str, tls: str) -> str:
    """What to try when the server closed the connection at once.

    A TLS server does so to a plaintext client, an mTLS one to a client without a
    certificate.
    """
    if "socket closed" not in details.lower():
        return ""
    if tls == "off":
        return "; if it serves TLS, pass --ca"
    if tls == "on":
        return "; if it requires client certificates, pass --cert and --key"
    return ""


class Command:
    """One run of the command: the parsed options, the zone, and the output."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Resolve the zone and the services from ``args``."""
        self.args = args
        self.zone_given = args.tz is not None
        self.zone: str = args.tz if self.zone_given else local_zone_name()
        self.time = Service("time", args.time_target, "--time-target", "TIME_SERVICE_TARGET")
        self.date = Service("date", args.date_target, "--date-target", "DATE_SERVICE_TARGET")
        self.credentials = self._tls()
        self._tls_mode = (
            "off" if self.credentials is None else "mtls" if args.cert is not None else "on"
        )

    def _tls(self) -> grpc.ChannelCredentials | None:
        """TLS credentials from --ca, --cert and --key; None (plaintext) without any."""
        ca, cert, key = self.args.ca, self.args.cert, self.args.key
        if ca is None and cert is None and key is None:
            return None
        if (cert is None) != (key is None):
            given, missing = ("--cert", "--key") if key is None else ("--key", "--cert")
            raise CommandError(
                f"{given} needs {missing} too: a client certificate goes with its key",
                EXIT_BAD_INPUT,
            )
        try:
            return tls_credentials(ca, cert, key)
        except (OSError, ValueError) as error:
            raise CommandError(str(error), EXIT_BAD_INPUT) from None

    def _print(self, message: Formatted, label: str) -> None:
        if self.args.json:
            self._print_json(message)
        else:
            print(f"{label}: {message.formatted}", flush=True)

    @staticmethod
    def _print_json(message: Message) -> None:
        text = json_format.MessageToJson(
            message, indent=None, always_print_fields_with_no_presence=True
        )
        print(text, flush=True)

    @contextlib.contextmanager
    def _connected(self, client_class: type[ClientT], service: Service) -> Iterator[ClientT]:
        """A client of ``service``; a call that fails becomes a CommandError explaining it."""
        try:
            client = client_class(
                service.target, timeout=self.args.timeout, credentials=self.credentials
            )
        except ValueError as error:  # a target list that does not parse or resolve
            raise CommandError(f"invalid {service.flag}: {error}", EXIT_BAD_INPUT) from None
        try:
            with client:
                yield client
        except grpc.RpcError as error:
            logger.debug("%s service call failed: %r", service.name, error)
            raise explain(error, service, self.zone, self.zone_given, self._tls_mode) from None

    def _check_health(self, client_class: type[ClientT], service: Service) -> bool:
        """Print ``service``'s health line; True if it is SERVING."""
        error = ""
        with self._connected(client_class, service) as client:
            try:
                response = client.check_health()
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            except grpc.RpcError as failure:
                status = failure.code().name
                error = " ".join((failure.details() or "").split())
        if self.args.json:
            fields = {"service": service.prog, "target": service.target, "status": status}
            print(json.dumps({**fields, **({"error": error} if error else {})}), flush=True)
        else:
            print(f"{service.prog} {service.target}: {status}", end="")
            print(f" ({error})" if error else "", flush=True)
        return status == "SERVING"

    def run(self) -> int:
        """Run the chosen command (both lines when none was given); the exit status."""
        command = self.args.command
        if command == "health":
            serving = []
            if self.args.service in (None, "time"):
                serving.append(self._check_health(TimeClient, self.time))
            if self.args.service in (None, "date"):
                serving.append(self._check_health(DateClient, self.date))
            return EXIT_OK if all(serving) else EXIT_FAILED
        if command in (None, "time"):
            with self._connected(TimeClient, self.time) as client:
                self._print(client.get_time(self.zone), "Current time")
        if command in (None, "date"):
            with self._connected(DateClient, self.date) as client:
                self._print(client.get_date(self.zone), "Current date")
        if command == "watch":
            interval = timedelta(seconds=self.args.interval)
            reconnect = not self.args.no_reconnect
            with self._connected(TimeClient, self.time) as client:
                for update in client.watch_time(
                    self.zone, interval, self.args.count, reconnect=reconnect
                ):
                    self._print(update, "Current time")
        if command == "zones":
            with self._connected(TimeClient, self.time) as client:
                zones = client.list_all_time_zones()
            if self.args.json:
                self._print_json(zones)
            else:
                print("\n".join(zones.time_zones), flush=True)
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chrono`` with ``argv`` (default: the command line); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, message printed)
        return int(exit_.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="chrono: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return Command(args).run()
    except CommandError as error:
        print(f"chrono: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read the output stopped (chrono zones | head): end quietly, and keep
        # Python from failing again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
