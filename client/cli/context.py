"""What every subcommand's handler gets: the options, the services, TLS, the zone, output.

A handler is ``run(context) -> exit status``; it connects with :meth:`Context.connect`,
which turns a failed call into a one-line :class:`~client.cli.errors.CommandError`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import tzlocal
from google.protobuf import json_format
from google.protobuf.message import Message

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb
from client import DateClient, TimeClient, tls_credentials
from client.cli.errors import EXIT_BAD_INPUT, CommandError, Service, explain

logger = logging.getLogger(__name__)

MAX_ZONE_NAME_LENGTH = 128
"""The longest IANA zone name the services accept, as they say when refusing a longer one.

Checked here as well: a much longer ``--tz`` would not reach the check, the server refusing
the whole request for its size instead (RESOURCE_EXHAUSTED, as if the service failed).
"""

# The responses that carry a `formatted` line.
Formatted = time_pb.GetTimeResponse | time_pb.WatchTimeResponse | date_pb.GetDateResponse

ClientT = TypeVar("ClientT", TimeClient, DateClient)


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


class Context:
    """One run of the command: the parsed options, the two services, TLS, and the output."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Take the services and TLS from ``args``; CommandError for unusable TLS files."""
        self.args = args
        self.zone_given = args.tz is not None
        self.time = Service("time", args.time_target, "--time-target", "TIME_SERVICE_TARGET")
        self.date = Service("date", args.date_target, "--date-target", "DATE_SERVICE_TARGET")
        self.credentials = self._tls()
        self._tls_mode = (
            "off" if self.credentials is None else "mtls" if args.cert is not None else "on"
        )
        self._zone = ""

    def time_zone(self) -> str:
        """The zone to send: --tz, else this machine's; CommandError if too long to be one.

        Read only by commands whose requests carry a zone: the others ignore --tz.
        """
        if not self._zone:
            self._zone = self.args.tz if self.zone_given else local_zone_name()
        if len(self._zone) > MAX_ZONE_NAME_LENGTH:
            shown = repr(self._zone) if len(self._zone) <= 40 else f"{self._zone[:32]!r}..."
            where = "" if self.zone_given else " (this machine's zone; pass --tz)"
            raise CommandError(
                f"invalid time zone {shown}{where}: too long ({len(self._zone)} characters); "
                f"IANA time zone names are at most {MAX_ZONE_NAME_LENGTH}",
                EXIT_BAD_INPUT,
            )
        return self._zone

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

    @contextlib.contextmanager
    def connect(
        self, client_class: type[ClientT], service: Service, **options: Any
    ) -> Iterator[ClientT]:
        """A client of ``service``; a call that fails becomes a CommandError explaining it.

        ``options`` go to the client's constructor (the date client's ``token``).
        """
        try:
            client = client_class(
                service.target, timeout=self.args.timeout, credentials=self.credentials, **options
            )
        except ValueError as error:  # a target that does not parse, or a list that does not resolve
            raise CommandError(f"invalid {service.flag}: {error}", EXIT_BAD_INPUT) from None
        try:
            with client:
                yield client
        except grpc.RpcError as error:
            logger.debug("%s service call failed: %r", service.name, error)
            raise explain(error, service, self._zone, self.zone_given, self._tls_mode) from None

    def print_formatted(self, message: Formatted, label: str) -> None:
        """Print ``message`` as ``label: formatted``, or as JSON with --json."""
        self.print_answer(message, f"{label}: {message.formatted}")

    def print_answer(self, message: Message, line: str) -> None:
        """Print ``line``, or ``message`` as JSON with --json."""
        if self.args.json:
            print_json(message)
        else:
            print(line, flush=True)


def print_json(message: Message) -> None:
    """Print ``message`` as one line of proto3 JSON, fields left at their default included."""
    text = json_format.MessageToJson(
        message, indent=None, always_print_fields_with_no_presence=True
    )
    print(text, flush=True)


Handler = Callable[[Context], int]
"""A subcommand's handler: runs it with the context, returns the exit status."""
