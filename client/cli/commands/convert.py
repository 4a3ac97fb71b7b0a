"""``chrono convert``: an instant or a civil time, on the wall clocks of other zones."""

from __future__ import annotations

import argparse

from google.protobuf.timestamp_pb2 import Timestamp

from chrono.time.v1 import time_service_pb2 as pb
from client import TimeClient
from client.cli.context import Context, print_json
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers
from client.cli.values import choice, format_seconds, moment, utc_offset

DISAMBIGUATIONS = {
    "compatible": pb.DISAMBIGUATION_COMPATIBLE,
    "earlier": pb.DISAMBIGUATION_EARLIER,
    "later": pb.DISAMBIGUATION_LATER,
    "reject": pb.DISAMBIGUATION_REJECT,
}
_KINDS = {
    pb.LOCAL_TIME_KIND_SKIPPED: "skipped",
    pb.LOCAL_TIME_KIND_AMBIGUOUS: "ambiguous",
}


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``convert`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "convert",
        parents=[common],
        help="show an instant or a civil time in other zones",
        description="TIME is an instant (2026-03-29T01:30:00Z) or, with --from, a civil "
        "time 'YYYY-MM-DD HH:MM[:SS]' in a zone or at a fixed offset.",
    )
    parser.add_argument("when", metavar="TIME", type=moment)
    parser.add_argument(
        "--from",
        dest="source",
        metavar="ZONE",
        help="the IANA zone (or +HH:MM offset) of a civil TIME (default: --tz or this machine's)",
    )
    parser.add_argument(
        "--to",
        dest="targets",
        metavar="ZONE",
        action="append",
        default=[],
        help="a zone to show it in; repeat for more (default UTC)",
    )
    parser.add_argument(
        "--disambiguation",
        type=choice(DISAMBIGUATIONS),
        default=pb.DISAMBIGUATION_COMPATIBLE,
        metavar="WAY",
        help="for a skipped or repeated civil time: compatible (default), earlier, later, reject",
    )
    parser.set_defaults(handler=run)


def _rfc3339(stamp: Timestamp) -> str:
    return stamp.ToJsonString()


def run(context: Context) -> int:
    """Print how the source was read, then one line per target zone."""
    args = context.args
    when = args.when
    zone = offset = None
    if when.tzinfo is None:
        source = args.source or context.time_zone()
        offset = utc_offset(source)
        zone = None if offset is not None else source
    with context.connect(TimeClient, context.time) as client:
        answer = client.convert_time(
            when,
            args.targets,
            time_zone=zone,
            utc_offset=offset,
            disambiguation=args.disambiguation,
        )
    if args.json:
        print_json(answer)
        return EXIT_OK
    kind = _KINDS.get(answer.local_time_kind)
    if kind is not None:
        could = " or ".join(_rfc3339(stamp) for stamp in answer.candidate_times)
        print(
            f"{when:%Y-%m-%d %H:%M:%S} in {zone or args.source} is {kind}: it could mean "
            f"{could}; taking {_rfc3339(answer.time)}",
            flush=True,
        )
    for shown in answer.times:
        print(
            f"{shown.time_zone}: {shown.formatted} {shown.abbreviation} "
            f"({format_seconds(shown.utc_offset.ToTimedelta())})",
            flush=True,
        )
    return EXIT_OK
