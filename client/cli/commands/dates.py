"""``chrono add`` and ``chrono diff``: calendar arithmetic on dates."""

from __future__ import annotations

import argparse

from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from client import DateClient
from client.cli.context import Context
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers
from client.cli.values import iso_date, signed


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``add`` and ``diff`` to ``subparsers``."""
    add = subparsers.add_parser(
        "add", parents=[common], help="add years, months, weeks and days to a date"
    )
    add.add_argument("start", metavar="DATE", type=iso_date, help="YYYY-MM-DD")
    for unit in ("years", "months", "weeks", "days"):
        add.add_argument(f"--{unit}", metavar="N", type=signed, default=0, help="may be negative")
    add.add_argument(
        "--reject",
        action="store_true",
        help="fail instead of moving 31 January + 1 month back to the month's last day",
    )
    add.set_defaults(handler=run_add)
    diff = subparsers.add_parser(
        "diff", parents=[common], help="the years, months and days between two dates"
    )
    diff.add_argument("start", metavar="START", type=iso_date, help="YYYY-MM-DD")
    diff.add_argument("end", metavar="END", type=iso_date, help="YYYY-MM-DD")
    diff.set_defaults(handler=run_diff)


def _date(message: date_pb2.Date) -> str:
    return f"{message.year:04d}-{message.month:02d}-{message.day:02d}"


def run_add(context: Context) -> int:
    """Print the date reached, with "(clamped)" when the day was moved back."""
    args = context.args
    overflow = pb.OVERFLOW_REJECT if args.reject else pb.OVERFLOW_CLAMP
    with context.connect(DateClient, context.date) as client:
        answer = client.add_period(
            args.start,
            years=args.years,
            months=args.months,
            weeks=args.weeks,
            days=args.days,
            overflow=overflow,
        )
    context.print_answer(answer, _date(answer.date) + (" (clamped)" if answer.clamped else ""))
    return EXIT_OK


def _plural(value: int, unit: str) -> str:
    return f"{value} {unit}" + ("" if abs(value) == 1 else "s")


def run_diff(context: Context) -> int:
    """Print e.g. "1 year, 2 months, 3 days (427 days)"."""
    args = context.args
    with context.connect(DateClient, context.date) as client:
        answer = client.diff_dates(args.start, args.end)
    context.print_answer(
        answer,
        f"{_plural(answer.years, 'year')}, {_plural(answer.months, 'month')}, "
        f"{_plural(answer.days, 'day')} ({_plural(answer.total_days, 'day')})",
    )
    return EXIT_OK
