"""``chrono zones``: every zone name the time service knows, one per line."""

from __future__ import annotations

import argparse

from client import TimeClient
from client.cli.context import Context, print_json
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``zones`` to ``subparsers``."""
    parser = subparsers.add_parser("zones", parents=[common], help="list the time zone names")
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    """Print the names, or with --json one object with them and ``tzdataVersion``."""
    with context.connect(TimeClient, context.time) as client:
        zones = client.list_all_time_zones()
    if context.args.json:
        print_json(zones)
    else:
        print("\n".join(zones.time_zones), flush=True)
    return EXIT_OK
