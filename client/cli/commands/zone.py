"""``chrono zone`` and ``chrono transitions``: what a time zone is, and when it changes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from chrono.time.v1 import time_service_pb2 as pb
from client import TimeClient
from client.cli.context import Context, print_json
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers
from client.cli.values import day_or_instant, format_seconds


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``zone`` and ``transitions`` to ``subparsers``."""
    zone = subparsers.add_parser("zone", parents=[common], help="describe a time zone")
    zone.add_argument("zone", metavar="ZONE", nargs="?", help="IANA name (default: --tz)")
    zone.set_defaults(handler=run_zone)
    changes = subparsers.add_parser(
        "transitions", parents=[common], help="list when a zone's offset or abbreviation changes"
    )
    changes.add_argument("zone", metavar="ZONE", nargs="?", help="IANA name (default: --tz)")
    changes.add_argument(
        "--from", dest="start", type=day_or_instant, metavar="DATE", help="default: now"
    )
    changes.add_argument(
        "--to", dest="end", type=day_or_instant, metavar="DATE", help="default: a year later"
    )
    changes.set_defaults(handler=run_transitions)


def _change(change: pb.Transition) -> str:
    before = format_seconds(change.utc_offset_before.ToTimedelta())
    after = format_seconds(change.utc_offset_after.ToTimedelta())
    dst = " (DST)" if change.dst_after else ""
    return (
        f"{change.time.ToJsonString()}: {before} {change.abbreviation_before} -> "
        f"{after} {change.abbreviation_after}{dst}"
    )


def _zone_name(context: Context) -> str:
    """ZONE if given, else --tz or this machine's zone."""
    if context.args.zone:
        # ZONE stands for --tz: checked the same way, and a refusal quotes it as the
        # zone it is rather than blaming a --tz the user never gave.
        context.args.tz = context.args.zone
        context.zone_given = True
    return context.time_zone()


def run_zone(context: Context) -> int:
    """Print the zone's names, countries, offsets now and its transitions around now."""
    name = _zone_name(context)
    with context.connect(TimeClient, context.time) as client:
        zone = client.get_time_zone(name)
    if context.args.json:
        print_json(zone)
        return EXIT_OK
    canonical = (
        ""
        if zone.canonical_time_zone == zone.time_zone
        else (f" (a link to {zone.canonical_time_zone})")
    )
    lines = [
        f"{zone.time_zone}{canonical}, tzdata {zone.tzdata_version}",
        f"now: {format_seconds(zone.utc_offset.ToTimedelta())} {zone.abbreviation}"
        + (" (DST)" if zone.dst else ""),
        f"countries: {', '.join(zone.country_codes) or '-'}",
        f"aliases: {', '.join(zone.aliases) or '-'}",
    ]
    if zone.HasField("previous_transition"):
        lines.append(f"previous: {_change(zone.previous_transition)}")
    if zone.HasField("next_transition"):
        lines.append(f"next: {_change(zone.next_transition)}")
    print("\n".join(lines), flush=True)
    return EXIT_OK


def run_transitions(context: Context) -> int:
    """Print one line per transition, oldest first (all pages)."""
    args = context.args
    name = _zone_name(context)
    # Fixed once, so that every page is of the same span.
    start = args.start or datetime.now(UTC)
    with context.connect(TimeClient, context.time) as client:
        everything = pb.ListTimeZoneTransitionsResponse()
        token = ""
        while True:
            page = client.list_time_zone_transitions(name, start, args.end, page_token=token)
            everything.transitions.extend(page.transitions)
            everything.tzdata_version = page.tzdata_version
            token = page.next_page_token
            if not token:
                break
    if args.json:
        print_json(everything)
    elif everything.transitions:
        # No transitions print nothing, not an empty line.
        print("\n".join(_change(change) for change in everything.transitions), flush=True)
    return EXIT_OK
