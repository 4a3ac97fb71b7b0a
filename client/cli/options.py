"""The options every subcommand takes, the value types of options, and the registry types.

The main parser holds the options' defaults; each subcommand's parser adds the same
options with their defaults suppressed (see :func:`add_common_options`), so that an
option given before the command survives and one given after it wins.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from client import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable

# Written as strings: argparse's classes take no type arguments at run time.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: a subcommand module adds its parser to it."""

Register: TypeAlias = "Callable[[Subparsers, argparse.ArgumentParser], None]"
"""A subcommand module's ``register(subparsers, common)``.

It adds its parser with ``parents=[common]`` (the options every command takes) and sets
``handler`` on it with ``set_defaults``; a group adds its own subparsers the same way.
"""


def positive_seconds(text: str) -> float:
    """An option's value as a finite, positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def count(text: str) -> int:
    """An option's value as a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def add_common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add the options every command takes; ``suppress`` leaves unset ones out of the result.

    Target and TLS defaults come from the environment as it is now.
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
        help="gRPC target of the time service, host:port,... or etcd://ENDPOINTS[/NAME] "
        "(env TIME_SERVICE_TARGET; default 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--date-target",
        metavar="TARGET",
        default=default(env.get("DATE_SERVICE_TARGET") or "127.0.0.1:50052"),
        help="gRPC target of the date service, host:port,... or etcd://ENDPOINTS[/NAME] "
        "(env DATE_SERVICE_TARGET; default 127.0.0.1:50052)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
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
