"""``chrono watch``: a time line per update, across server restarts unless --no-reconnect."""

from __future__ import annotations

import argparse
from datetime import timedelta

from client import TimeClient
from client.cli.context import Context
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers, count, positive_seconds


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``watch`` and its options to ``subparsers``."""
    parser = subparsers.add_parser("watch", parents=[common], help="print the time at every tick")
    parser.add_argument(
        "--interval",
        metavar="SECONDS",
        type=positive_seconds,
        default=1.0,
        help="time between updates, 0.1 to 3600 (default 1)",
    )
    parser.add_argument(
        "--count",
        metavar="N",
        type=count,
        default=0,
        help="stop after N updates (default 0: never)",
    )
    parser.add_argument(
        "--no-reconnect",
        action="store_true",
        help="fail when the stream breaks (default: reopen it, on any server of the target)",
    )
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    """Print each update until --count of them, or until interrupted when it is 0.

    --timeout bounds the wait for the first update of each stream, connecting included.
    """
    args = context.args
    zone = context.time_zone()
    interval = timedelta(seconds=args.interval)
    with context.connect(TimeClient, context.time) as client:
        for update in client.watch_time(
            zone, interval, args.count, reconnect=not args.no_reconnect
        ):
            context.print_formatted(update, "Current time")
    return EXIT_OK
