"""``chrono date``: the date line alone."""

from __future__ import annotations

import argparse

from client import DateClient
from client.cli.context import Context
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``date`` to ``subparsers``."""
    parser = subparsers.add_parser("date", parents=[common], help="print the current date")
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    """Print "Current date: ..." in the zone (its JSON with --json)."""
    zone = context.time_zone()
    with context.connect(DateClient, context.date) as client:
        context.print_formatted(client.get_date(zone), "Current date")
    return EXIT_OK
