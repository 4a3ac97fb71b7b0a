"""``chrono time``: the time line alone."""

from __future__ import annotations

import argparse

from client import TimeClient
from client.cli.context import Context
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``time`` to ``subparsers``."""
    parser = subparsers.add_parser("time", parents=[common], help="print the current time")
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    """Print "Current time: ..." in the zone (its JSON with --json)."""
    zone = context.time_zone()
    with context.connect(TimeClient, context.time) as client:
        context.print_formatted(client.get_time(zone), "Current time")
    return EXIT_OK
