"""The ``chrono`` command line parser, built from the registered subcommands."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from client.cli.commands import COMMANDS, DEFAULT
from client.cli.options import Subparsers, add_common_options


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one line, like the command's other errors."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` and where the usage is on one line; exit 2."""
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The command line parser; target defaults come from the environment as it is now.

    Parsing sets ``handler`` to the chosen subcommand's handler, or to the default one
    (the time and the date) when none is named.
    """
    parser = _Parser(
        prog="chrono",
        description="Print the current time and date from the chrono gRPC services.",
        epilog="Exit status: 0 done, 1 a service unreachable or failed, 2 bad input, "
        "130 interrupted, 141 output closed early.",
    )
    add_common_options(parser, suppress=False)
    parser.set_defaults(handler=DEFAULT)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, suppress=True)
    # Typed as plain parsers: what the commands register are _Parser instances all the same.
    subparsers: Subparsers = parser.add_subparsers(  # type: ignore[assignment]
        dest="command", metavar="COMMAND"
    )
    for register in COMMANDS:
        register(subparsers, common)
    return parser
