"""Server settings: one frozen dataclass, built once from flags and environment."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ServerSettings:
    """Everything a server process needs to know, fixed at start-up."""

    host: str = "127.0.0.1"
    port: int = 0
    grace: float = 5.0
    log_level: str = "INFO"
    reflection: bool = True

    @property
    def address(self) -> str:
        """The address to bind, with IPv6 hosts in brackets."""
        bare_ipv6 = ":" in self.host and not self.host.startswith("[")
        host = f"[{self.host}]" if bare_ipv6 else self.host
        return f"{host}:{self.port}"


def _host(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("host must not be empty")
    return text


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, not {port}")
    return port


def _grace(text: str) -> float:
    try:
        grace = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"grace must be a number of seconds, not {text!r}"
        ) from None
    if not math.isfinite(grace) or grace < 0:
        raise argparse.ArgumentTypeError(f"grace must be zero or more seconds, not {text!r}")
    return grace


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in _LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"log level must be one of {', '.join(_LOG_LEVELS)}, not {text!r}"
        )
    return level


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
    # Flags left out stay None and fall back to the variable below, after parsing, so
    # that a bad variable is reported under its own name and a flag overrides it.
    fallbacks: dict[str, tuple[Callable[[str], Any], str]] = {
        "host": (_host, "127.0.0.1"),
        "port": (_port, str(default_port)),
        "grace": (_grace, "5"),
        "log_level": (_log_level, "INFO"),
    }

    parser.add_argument(
        "--host",
        type=_host,
        help=f"address to listen on (env {env_prefix}_HOST; default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        help=f"port to listen on, 0 for any free one (env {env_prefix}_PORT; "
        f"default {default_port})",
    )
    parser.add_argument(
        "--grace",
        type=_grace,
        help=f"seconds to let in-flight calls finish on shutdown (env {env_prefix}_GRACE; "
        "default 5)",
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        help=f"one of {', '.join(_LOG_LEVELS)} (env {env_prefix}_LOG_LEVEL; default INFO)",
    )
    parser.add_argument(
        "--no-reflection",
        action="store_true",
        help="do not serve gRPC server reflection (default: served)",
    )
    args = parser.parse_args(argv)
    for dest, (convert, fallback) in fallbacks.items():
        if getattr(args, dest) is not None:
            continue
        variable = f"{env_prefix}_{dest.upper()}"
        try:
            setattr(args, dest, convert(env.get(variable, fallback)))
        except argparse.ArgumentTypeError as error:
            parser.error(f"environment variable {variable}: {error}")
    return ServerSettings(
        host=args.host,
        port=args.port,
        grace=args.grace,
        log_level=args.log_level,
        reflection=not args.no_reflection,
    )
