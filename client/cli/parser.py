"""The ``chrono`` command line parser, built from the registered subcommands."""

from __future__ import annotations

import argparse

from client.cli.commands import COMMANDS, DEFAULT
from client.cli.options import add_common_options


def build_parser() -> argparse.ArgumentParser:
    """The command line parser; target defaults come from the environment as it is now.

    Parsing sets ``handler`` to the chosen subcommand's handler, or to the default one
    (the time and the date) when none is named.
    """
    parser = argparse.ArgumentParser(
        prog="chrono",
        description="Print the current time and date from the chrono gRPC services.",
        epilog="Exit status: 0 done, 1 a service unreachable or failed, 2 bad input, "
        "130 interrupted, 141 output closed early.",
    )
    add_common_options(parser, suppress=False)
    parser.set_defaults(handler=DEFAULT)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, suppress=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers, common)
    return parser
