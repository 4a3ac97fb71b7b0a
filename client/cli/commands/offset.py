"""``chrono offset``: how far the time service's clock is from this machine's, with bounds."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from client import TimeClient
from client._clock import MAX_SAMPLES
from client._offset import OffsetEstimate
from client.cli.context import Context
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers, count


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``offset`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "offset",
        parents=[common],
        help="estimate the server clock's offset from this machine's (NTP-style)",
    )
    parser.add_argument(
        "--samples",
        metavar="N",
        type=_samples,
        default=8,
        help="ReadClock calls, 1 to 64 (default 8)",
    )
    parser.set_defaults(handler=run)


def _samples(text: str) -> int:
    value = count(text)
    if not 1 <= value <= MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_SAMPLES} samples, not {text!r}")
    return value


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def describe(found: OffsetEstimate) -> str:
    """One line: the offset and its measurement bound first, then the rest."""
    offset = found.offset.total_seconds()
    server = f"server clock {found.server_status}"
    if found.server_error_bound is not None:
        server += f", max error {found.server_error_bound.total_seconds():g} s"
    return (
        f"offset {offset:+.6f} s ± {found.measurement_bound.total_seconds():.6f} s "
        f"({found.samples} samples, best round trip "
        f"{found.round_trip.total_seconds() * 1000:.1f} ms; {server})"
    )


def run(context: Context) -> int:
    """Print the estimate on one line, or as a JSON object with --json."""
    with context.connect(TimeClient, context.time) as client:
        found = client.estimate_offset(context.args.samples)
    if context.args.json:
        print(
            json.dumps(
                {
                    "offsetSeconds": found.offset.total_seconds(),
                    "measurementBoundSeconds": found.measurement_bound.total_seconds(),
                    "trueTimeBoundSeconds": _seconds(found.true_time_bound),
                    "serverErrorBoundSeconds": _seconds(found.server_error_bound),
                    "roundTripSeconds": found.round_trip.total_seconds(),
                    "samples": found.samples,
                    "serverStatus": found.server_status,
                }
            ),
            flush=True,
        )
    else:
        print(describe(found), flush=True)
    return EXIT_OK
